// The table of configuration keys and each key's validation. The order is the order of
// validation (so of the messages) and of `--help`.

#include "shadowsocks/config/keys.hpp"

#include <sys/stat.h>
#ifndef _WIN32
#include <unistd.h>
#endif

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <stdexcept>

#include "shadowsocks/codec/base64.hpp"
#include "shadowsocks/codec/sip002.hpp"
#include "shadowsocks/codec/text.hpp"
#include "shadowsocks/config/acl.hpp"
#include "shadowsocks/config/config.hpp"
#include "shadowsocks/config/system_user.hpp"
#include "shadowsocks/crypto/aead_stream.hpp"

namespace ss {

namespace {

constexpr program_set server_program = static_cast<program_set>(program::server);
constexpr program_set tunnel_program = static_cast<program_set>(program::tunnel);
constexpr program_set local_program = static_cast<program_set>(program::local);
constexpr program_set redir_program = static_cast<program_set>(program::redir);
constexpr program_set none = 0;

// The password of config/*.json, refused: those files are published.
constexpr std::string_view example_password = "change-me-to-a-long-random-password";
// Shorter passwords get a warning: a recorded session lets an attacker test guesses offline.
constexpr std::size_t short_password = 16;

void fail(const validation& v, const raw_field& f, std::string problem) {
  v.errors.push_back({f.given_as, std::move(problem)});
}

// The value of an integer key when it is given and within [lo, hi]. Out of range, an error
// "must be <what>, not <value>" names the key or flag; not given, nothing happens. Either way
// the result is empty unless the value is good.
std::optional<std::int64_t> in_range(const validation& v, const raw_field& f, std::int64_t lo,
                                     std::int64_t hi, const std::string& what) {
  const auto* n = f.get<std::int64_t>();
  if (n == nullptr) return std::nullopt;
  if (*n < lo || *n > hi) {
    fail(v, f, "must be " + what + ", not " + std::to_string(*n));
    return std::nullopt;
  }
  return *n;
}

// The text of a string key when it is given and not empty; an empty one is an error (and
// nullptr, as for a key not given).
const std::string* given_text(const validation& v, const raw_field& f) {
  const auto* text = f.get<std::string>();
  if (text != nullptr && text->empty()) {
    fail(v, f, "is empty");
    return nullptr;
  }
  return text;
}

bool is_server(const validation& v) {
  return v.prog == program::server;
}

void check_server(const validation& v, const raw_field& f, config& c) {
  if (const auto* hosts = f.get<std::vector<std::string>>()) {
    c.server_hosts = *hosts;
    if (c.server_hosts.empty()) fail(v, f, "must name an address");
    for (const auto& h : c.server_hosts) {
      if (h.empty()) fail(v, f, "an address is empty");
    }
  } else if (is_server(v)) {
    c.server_hosts = {"0.0.0.0"};  // as libev: listen on every IPv4 address
  } else if (v.server_keys_required) {
    v.errors.push_back({"server", "is required (the address of ss-server; -s)", true});
  }
}

void check_server_port(const validation& v, const raw_field& f, config& c) {
  if (!f.value) {
    if (v.server_keys_required) v.errors.push_back({"server_port", "is required (-p)", true});
    return;
  }
  // ss-server may listen on port 0 (the kernel picks one, and the log says which).
  std::int64_t lowest = is_server(v) ? 0 : 1;
  if (auto p = in_range(v, f, lowest, 65535,
                        "a port number from " + std::to_string(lowest) + " to 65535")) {
    c.server_port = static_cast<std::uint16_t>(*p);
  }
}

// local_address / local_port: clients only (ss-server ignores them, as libev does).
void check_local_address(const validation& v, const raw_field& f, config& c) {
  const auto* a = f.get<std::string>();
  c.local_address = a != nullptr ? *a : "127.0.0.1";
  if (c.local_address.empty()) fail(v, f, "is empty");
}

void check_local_port(const validation& v, const raw_field& f, config& c) {
  c.local_port = 1080;
  if (auto p = in_range(v, f, 0, 65535, "a port number from 0 to 65535")) {
    c.local_port = static_cast<std::uint16_t>(*p);
  }
}

// The method as given (or the default), if it is one we speak.
const cipher_info* method_of(const validation& v) {
  const auto* m = v.raw["method"].get<std::string>();
  auto found = find_cipher(m != nullptr ? *m : std::string(default_method));
  return found ? *found : nullptr;
}

void check_method(const validation& v, const raw_field& f, config&) {
  if (method_of(v) != nullptr) return;
  const auto* m = f.get<std::string>();
  v.errors.push_back({f.value ? f.given_as : "method",
                      describe_unknown_method(m != nullptr ? *m : default_method)});
}

// One base64 key of `cipher`'s size, or what is wrong with it.
result<std::vector<std::uint8_t>, problem> decode_psk(const cipher_info& cipher,
                                                      std::string_view text) {
  auto name = std::string(cipher.name);
  auto wrong = [&](const std::string& detail) {
    return problem{"must be a base64 key of exactly " + std::to_string(cipher.key_size) +
                   " bytes for " + name + " (make one with: ss-server -m " + name + " --keygen); " +
                   detail};
  };
  auto bytes = base64_decode(text);
  if (!bytes) return wrong("this is not base64");
  if (bytes->size() != cipher.key_size) {
    return wrong("this one has " + std::to_string(bytes->size()));
  }
  return std::move(*bytes);
}

void check_key(const validation& v, const raw_field& f, config& c) {
  const auto* text = f.get<std::string>();
  const auto* cipher = method_of(v);
  if (text == nullptr || cipher == nullptr) return;
  // As libev: a key given directly takes precedence over a password.
  auto key = decode_psk(*cipher, *text);
  if (!key) {
    fail(v, f, key.error().message);
    return;
  }
  c.key = std::make_shared<const master_key>(*master_key::from_bytes(*cipher, *key));
}

// The 2022 methods take their key, not a password (SIP022 2.1: never derived from one). A
// client of a multi-user server gives `iPSK:uPSK` (SIP023, as shadowsocks-rust and sing-box).
void check_psk(const validation& v, const raw_field& f, config& c, const cipher_info& cipher,
               const std::string& text) {
  std::vector<std::vector<std::uint8_t>> keys;
  for (auto part : split(text, ':')) {
    auto key = decode_psk(cipher, part);
    if (!key) {
      fail(v, f, key.error().message);
      return;
    }
    keys.push_back(std::move(key).value());
  }
  if (keys.size() > 1 && v.prog == program::server) {
    fail(v, f, "takes one key on a server; the users' keys go in \"users\"");
    return;
  }
  if (keys.size() > 1 && !sip022::supports_identity(cipher)) {
    fail(v, f,
         "has several keys (iPSK:uPSK), which only the AES 2022 methods support (SIP023 "
         "identity headers)");
    return;
  }
  auto key = *master_key::from_bytes(cipher, keys.back());
  keys.pop_back();
  key.set_identity_keys(std::move(keys));
  c.key = std::make_shared<const master_key>(std::move(key));
  c.password = text;
}

void check_password(const validation& v, const raw_field& f, config& c) {
  const auto* cipher = method_of(v);
  if (cipher == nullptr || v.raw["key"].value) return;
  const auto* pw = f.get<std::string>();
  if (pw == nullptr) {
    if (v.server_keys_required) {
      v.errors.push_back({"password", "is required (-k, or a base64 key with --key)", true});
    }
  } else if (pw->empty()) {
    fail(v, f, "is empty");
  } else if (cipher->is_2022()) {
    check_psk(v, f, c, *cipher, *pw);
  } else if (*pw == example_password) {
    // The example configs are public: a server started with them is open to anyone.
    fail(v, f,
         "is the placeholder of the example configs, which anyone can read; put a random "
         "one in its place (e.g. the output of: ss-server --keygen)");
  } else {
    if (auto w = short_password_warning(f.given_as, pw->size()); w && v.warnings != nullptr) {
      v.warnings->push_back(std::move(*w));
    }
    c.key = std::make_shared<const master_key>(*master_key::from_password(cipher->name, *pw));
    c.password = *pw;
  }
}

// ss-server's users (SIP023): names and keys, each key of the method's size and unique.
void check_users(const validation& v, const raw_field& f, config& c) {
  const auto* users = f.get<std::vector<raw_user>>();
  const auto* cipher = method_of(v);
  if (users == nullptr || cipher == nullptr) return;
  if (!sip022::supports_identity(*cipher)) {
    fail(v, f,
         "needs 2022-blake3-aes-128-gcm or 2022-blake3-aes-256-gcm (SIP023 identity headers "
         "are defined for the AES methods), not " +
             std::string(cipher->name));
    return;
  }
  auto table = std::make_shared<sip022::user_table>();
  std::vector<std::string> names;
  for (std::size_t i = 0; i < users->size(); ++i) {
    const auto& u = (*users)[i];
    std::string at = "entry " + std::to_string(i + 1) + " (\"" + u.name + "\"): ";
    auto key = decode_psk(*cipher, u.password);
    if (u.name.empty()) {
      fail(v, f, "entry " + std::to_string(i + 1) + ": the name is empty");
    } else if (std::find(names.begin(), names.end(), u.name) != names.end()) {
      fail(v, f, at + "another user has this name");
    } else if (!key) {
      fail(v, f, at + "password " + key.error().message);
    } else if (!table->add(u.name, *master_key::from_bytes(*cipher, *key))) {
      fail(v, f, at + "another user has this key");
    }
    names.push_back(u.name);
  }
  if (users->empty()) fail(v, f, "is an empty list (leave it out for a single-user server)");
  c.users = std::move(table);
}

void check_timeout(const validation& v, const raw_field& f, config& c) {
  if (auto t = in_range(v, f, 1, 86400, "from 1 to 86400 seconds")) {
    c.timeout = std::chrono::seconds(*t);
  }
}

void check_mode(const validation& v, const raw_field& f, config& c) {
  const auto* m = f.get<std::string>();
  if (m == nullptr) return;
  if (*m == "tcp_only") {
    c.mode = relay_mode::tcp_only;
  } else if (*m == "tcp_and_udp") {
    c.mode = relay_mode::tcp_and_udp;
  } else if (*m == "udp_only") {
    c.mode = relay_mode::udp_only;
  } else {
    fail(v, f, "must be tcp_only, tcp_and_udp or udp_only, not \"" + *m + "\"");
  }
}

// A switch (fast_open, no_delay, ...): false unless given as true.
// A boolean key: its value when given, else `fallback`.
template <bool config::*member, bool fallback = false>
void check_switch(const validation&, const raw_field& f, config& c) {
  const auto* b = f.get<bool>();
  c.*member = b != nullptr ? *b : fallback;
}

void check_replay_filter_capacity(const validation& v, const raw_field& f, config& c) {
  // A client only checks the salts of its own connections' replies (libev sizes its client's
  // filter for 10,000 as well); a server, every client's.
  c.replay_filter_capacity = v.prog == program::server ? 1'000'000 : 10'000;
  if (auto n = in_range(v, f, 1000, 100'000'000, "from 1000 to 100000000 salts")) {
    c.replay_filter_capacity = static_cast<std::size_t>(*n);
  }
}

void check_replay_state_file(const validation& v, const raw_field& f, config& c) {
  const auto* path = f.get<std::string>();
  if (path == nullptr) return;
  c.replay_state_file = *path;
  if (path->empty()) fail(v, f, "is empty");
}

void check_max_connections(const validation& v, const raw_field& f, config& c) {
  if (auto n = in_range(v, f, 1, 10'000'000, "from 1 to 10000000")) {
    c.max_connections = static_cast<std::size_t>(*n);
  }
}

void check_tunnel_address(const validation& v, const raw_field& f, config& c) {
  const auto* text = f.get<std::string>();
  if (text == nullptr) {
    v.errors.push_back({"tunnel_address", "is required for ss-tunnel (-L host:port)", true});
    return;
  }
  auto t = target_address::parse(*text);
  if (!t || t->port() == 0) {
    fail(v, f,
         "must be host:port or [IPv6]:port with a port from 1 to 65535, not \"" + *text + "\"");
    return;
  }
  c.tunnel_target = *t;
}

void check_udp_timeout(const validation& v, const raw_field& f, config& c) {
  if (auto t = in_range(v, f, 1, 86400, "from 1 to 86400 seconds")) {
    c.udp_timeout = std::chrono::seconds(*t);
  }
}

void check_upgrade_grace(const validation& v, const raw_field& f, config& c) {
  if (auto t = in_range(v, f, 0, 7 * 86400, "from 0 to 604800 seconds")) {
    c.upgrade_grace = std::chrono::seconds(*t);
  }
}

void check_udp_max_associations(const validation& v, const raw_field& f, config& c) {
  if (auto n = in_range(v, f, 1, 1 << 20, "from 1 to 1048576")) {
    c.udp_max_associations = static_cast<std::size_t>(*n);
  }
}

void check_workers(const validation& v, const raw_field& f, config& c) {
#ifndef _WIN32
  c.workers = v.hardware_threads == 0 ? 1 : v.hardware_threads;
  if (auto n = in_range(v, f, 1, 1024, "from 1 to 1024")) c.workers = static_cast<unsigned>(*n);
#else
  // A port has one listener on Windows (no SO_REUSEPORT to share it): one worker serves it.
  c.workers = 1;
  in_range(v, f, 1, 1, "1 on Windows (one worker serves every connection there)");
#endif
}

#ifndef _WIN32
// The program as SIP003 runs it: a name looked up on PATH (or a path); empty if none.
std::string find_program(const std::string& name) {
  auto runnable = [](const std::string& path) {
    struct stat st {};
    return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) &&
           ::access(path.c_str(), X_OK) == 0;
  };
  if (name.find('/') != std::string::npos) return runnable(name) ? name : std::string();
  const char* path = std::getenv("PATH");
  for (auto dir : split(path != nullptr ? path : "/usr/local/bin:/usr/bin:/bin", ':')) {
    std::string candidate = std::string(dir.empty() ? "." : dir) + "/" + name;
    if (runnable(candidate)) return candidate;
  }
  return {};
}
#else
// Windows: a path, or a name looked up in the program's folder, the current one and PATH
// (`;`-separated), as the name is or with ".exe" added, as CreateProcess would.
std::string find_program(const std::string& name) {
  auto runnable = [](const std::string& path) {
    struct stat st {};
    return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
  };
  auto with_exe = [&](const std::string& path) {
    if (runnable(path)) return path;
    if (runnable(path + ".exe")) return path + ".exe";
    return std::string();
  };
  if (name.find_first_of("/\\:") != std::string::npos) return with_exe(name);
  std::string dirs = ".";
  if (const char* path = std::getenv("PATH")) dirs += ";" + std::string(path);
  for (auto dir : split(dirs, ';')) {
    if (dir.empty()) continue;
    if (auto found = with_exe(std::string(dir) + "\\" + name); !found.empty()) return found;
  }
  return {};
}
#endif

void check_plugin(const validation& v, const raw_field& f, config& c) {
  const auto* name = f.get<std::string>();
  if (name == nullptr || name->empty()) return;  // "plugin": "" (as GUI clients write it)
  c.plugin = find_program(*name);
  if (c.plugin.empty()) {
    fail(v, f,
         "\"" + *name + "\" is not installed (no such program on PATH" +
             (name->starts_with("obfs-") ? "; Debian's simple-obfs package has it)"
              : name->find("v2ray") != std::string::npos
                  ? "; Debian's shadowsocks-v2ray-plugin has it)"
                  : ")"));
    return;
  }
  c.plugin_name = *name;
}

// Outline's salt prefix: bytes written as the characters U+0000..U+00FF (in JSON, SIP008 and
// a URL's `prefix`), on the command line each byte itself or %XX. At most the salt's size
// less the 12 bytes that stay random.
void check_prefix(const validation& v, const raw_field& f, config& c) {
  const auto* text = f.get<std::string>();
  if (text == nullptr) return;
  std::optional<std::string> bytes;
  if (f.given_as == "--prefix") {
    if (!percent_decode(*text, bytes.emplace())) return fail(v, f, "has a malformed %-escape");
  } else {
    bytes = characters_as_bytes(*text);
  }
  if (!bytes) {
    return fail(v, f,
                "must be bytes written as the characters U+0000 to U+00FF (in JSON "
                "\"\\u0016\\u0003\\u0001\", on the command line %16%03%01)");
  }
  const auto* cipher = method_of(v);
  if (cipher != nullptr && bytes->size() > max_salt_prefix(*cipher)) {
    return fail(v, f,
                "is " + std::to_string(bytes->size()) + " bytes, and " + std::string(cipher->name) +
                    " takes at most " + std::to_string(max_salt_prefix(*cipher)) +
                    " (its salt is " + std::to_string(cipher->salt_size) + " bytes, " +
                    std::to_string(min_random_salt) + " of them must stay random)");
  }
  c.prefix = std::move(*bytes);
}

void check_plugin_opts(const validation&, const raw_field& f, config& c) {
  if (const auto* opts = f.get<std::string>()) c.plugin_opts = *opts;
}

void check_plugin_args(const validation&, const raw_field& f, config& c) {
  if (const auto* args = f.get<std::vector<std::string>>()) c.plugin_args = *args;
}

void check_plugin_mode(const validation& v, const raw_field& f, config& c) {
  const auto* mode = f.get<std::string>();
  if (mode == nullptr || *mode == "tcp_only") return;
  if (*mode == "tcp_and_udp") {
    c.plugin_udp = true;
  } else {
    fail(v, f, "must be tcp_only or tcp_and_udp, not \"" + *mode + "\"");
  }
}

// The users of a socks5_auth_config_path file (shadowsocks-rust's shape:
// {"password": {"users": [{"user_name": "...", "password": "..."}]}}) into `table`, or what is
// wrong with them.
result<void, problem> read_local_users(const nlohmann::json& doc, credential_table& table) {
  const char* shape =
      " (the shape is {\"password\": {\"users\": [{\"user_name\": \"...\", "
      "\"password\": \"...\"}]}})";
  if (!doc.is_object()) return problem{std::string("is not a JSON object") + shape};
  auto pw = doc.find("password");
  if (pw == doc.end() || !pw->is_object())
    return problem{std::string("has no \"password\" object") + shape};
  auto users = pw->find("users");
  if (users == pw->end() || !users->is_array()) {
    return problem{std::string("has no \"password\": {\"users\": [...]} list") + shape};
  }
  if (users->empty()) return problem{"lists no users"};
  std::vector<std::string> names;
  for (std::size_t i = 0; i < users->size(); ++i) {
    const auto& u = (*users)[i];
    std::string at = "user " + std::to_string(i + 1) + ": ";
    if (!u.is_object()) return problem{at + "is not an object" + shape};
    auto name = u.find("user_name");
    auto password = u.find("password");
    if (name == u.end() || !name->is_string()) return problem{at + "has no \"user_name\" string"};
    if (password == u.end() || !password->is_string())
      return problem{at + "has no \"password\" string"};
    const auto& n = name->get_ref<const std::string&>();
    const auto& p = password->get_ref<const std::string&>();
    // RFC 1929 carries each in 1 to 255 bytes.
    if (n.empty() || n.size() > 255) return problem{at + "user_name must be 1 to 255 bytes"};
    if (p.empty() || p.size() > 255) return problem{at + "password must be 1 to 255 bytes"};
    if (std::find(names.begin(), names.end(), n) != names.end()) {
      return problem{at + "another user is named \"" + n + "\""};
    }
    names.push_back(n);
    table.add(n, p);
  }
  return {};
}

// ss-local's users (RFC 1929 and HTTP Basic), read when the configuration is, so a reload
// reads the file again.
void check_socks5_auth(const validation& v, const raw_field& f, config& c) {
  const auto* path = given_text(v, f);
  if (path == nullptr) return;
  auto text = read_text_file(*path);
  if (!text) {
    fail(v, f, "cannot read " + *path + ": " + text.error().message);
    return;
  }
  auto doc = nlohmann::json::parse(*text, nullptr, false, true);
  if (doc.is_discarded()) {
    fail(v, f, *path + " is not valid JSON");
    return;
  }
  auto table = std::make_shared<credential_table>();
  if (auto read = read_local_users(doc, *table); !read) {
    fail(v, f, *path + " " + read.error().message);
    return;
  }
  struct stat st {};
  if (v.warnings != nullptr && ::stat(path->c_str(), &st) == 0 && (st.st_mode & S_IROTH) != 0) {
    v.warnings->push_back(f.given_as + ": " + *path +
                          " holds passwords and anyone on this machine can read it (chmod 600)");
  }
  c.socks5_auth_config_path = *path;
  c.local_users = std::move(table);
}

// The ACL file, read with the configuration (so a reload reads it again). ss-server applies it
// to clients and targets; ss-local and ss-tunnel route by it, TCP and UDP.
void check_acl(const validation& v, const raw_field& f, config& c) {
  const auto* path = given_text(v, f);
  if (path == nullptr) return;
  auto loaded = load_acl_file(*path);
  if (!loaded) {
    fail(v, f, loaded.error().message);
    return;
  }
  c.acl_path = *path;
  c.access_list = std::make_shared<const acl>(std::move(loaded).value());
}

void check_user(const validation& v, const raw_field& f, config& c) {
  const auto* name = f.get<std::string>();
  if (name == nullptr) return;
  // The user must exist now: the switch happens after binding, when the daemon could only
  // exit with the ports already taken.
  if (!find_system_user(*name)) {
    fail(v, f, "no such user \"" + *name + "\"");
    return;
  }
  c.user = *name;
}

void check_nofile(const validation& v, const raw_field& f, config& c) {
  if (auto n = in_range(v, f, 64, 1 << 24, "from 64 to 16777216 files")) {
    c.nofile = static_cast<std::size_t>(*n);
  }
}

void check_pid_file(const validation& v, const raw_field& f, config& c) {
  const auto* path = f.get<std::string>();
  if (path == nullptr) return;
  if (path->empty()) fail(v, f, "is empty");
  c.pid_file = *path;
}

void check_log_file(const validation& v, const raw_field& f, config& c) {
  const auto* path = f.get<std::string>();
  if (path == nullptr) return;
  if (path->empty()) return fail(v, f, "is empty");
  // Opened now for appending (made if missing), so that a path the process cannot write is
  // a configuration error, not a daemon that logs nowhere.
  std::ofstream probe(*path, std::ios::app);
  if (!probe) return fail(v, f, "cannot write \"" + *path + "\": " + std::strerror(errno));
  c.log_file = *path;
}

void check_mtu(const validation& v, const raw_field& f, config& c) {
  // libev sizes its UDP packets from it: mtu - 1 - 28 - 2 - 64 bytes of payload.
  if (auto n = in_range(v, f, 576, 65535, "from 576 to 65535 bytes")) {
    c.mtu = static_cast<std::size_t>(*n);
  }
}

void check_outbound_fwmark(const validation& v, const raw_field& f, config& c) {
  if (auto n = in_range(v, f, 1, 0xFFFFFFFF, "a mark from 1 to 4294967295")) {
    c.outbound_fwmark = static_cast<std::uint32_t>(*n);
  }
}

void check_nameserver(const validation& v, const raw_field& f, config& c) {
  const auto* text = f.get<std::string>();
  if (text == nullptr) return;
  // "192.0.2.53", "192.0.2.53:5353", "[2001:db8::53]:53", comma-separated (as libev's -d);
  // kept in c-ares's CSV form.
  std::string csv;
  std::string_view rest = *text;
  while (true) {
    auto comma = rest.find(',');
    auto entry = rest.substr(0, comma);
    while (!entry.empty() && entry.front() == ' ')
      entry.remove_prefix(1);
    while (!entry.empty() && entry.back() == ' ')
      entry.remove_suffix(1);
    auto plain = target_address::from_host(entry, 53);
    auto with_port = target_address::parse(entry);
    const auto* a = plain && plain->type() != address_type::domain ? &*plain
                    : with_port && with_port->type() != address_type::domain && with_port->port()
                        ? &*with_port
                        : nullptr;
    if (a == nullptr) {
      fail(v, f,
           "must be IP addresses with optional ports, separated by commas (\"1.1.1.1,"
           "[2606:4700:4700::1111]:53\"), not \"" +
               std::string(entry) + "\"");
      return;
    }
    if (!csv.empty()) csv += ',';
    csv += a->to_string();
    if (comma == std::string_view::npos) break;
    rest = rest.substr(comma + 1);
  }
  c.nameserver = csv;
}

// ss-server's Prometheus endpoint: "ADDR:PORT", or a port alone for the loopback address.
void check_metrics(const validation& v, const raw_field& f, config& c) {
  const auto* text = f.get<std::string>();
  if (text == nullptr) return;
  std::string spec = *text;
  if (auto n = parse_integer(spec)) spec = "127.0.0.1:" + spec;
  auto t = target_address::parse(spec);
  if (!t || t->type() == address_type::domain) {
    fail(v, f,
         "must be ADDRESS:PORT with an IP address (127.0.0.1:9091, [::1]:9091) or a port "
         "alone (on 127.0.0.1), not \"" +
             *text + "\"");
    return;
  }
  c.metrics = *t;
}

// A number as JSON writes it: 0.1, 60.
std::string format_number(double n) {
  return nlohmann::json(n).dump();
}

// An http:// URL as "host", port (80 when not given) and "/path?query"; what is wrong with
// it otherwise.
result<void, problem> split_http_url(std::string_view url, balancer_settings& out) {
  constexpr std::string_view scheme = "http://";
  if (!starts_with_ignoring_case(url, scheme)) {
    return problem{"must be an http:// URL (the check asks for it through each server), not \"" +
                   std::string(url) + "\""};
  }
  auto parts = split_url(url, scheme);
  auto at = parts ? parse_authority(parts->authority, std::uint16_t{80}) : std::nullopt;
  if (!at) {
    return problem{"is not a usable http:// URL (http://HOST[:PORT]/PATH): \"" + std::string(url) +
                   "\""};
  }
  out.check_url = std::string(url);
  out.check_host = at->host_string();
  out.check_port = at->port();
  out.check_path = std::move(parts->target);
  return {};
}

// A number of seconds in [lo, hi] (a JSON number, whole or not) as milliseconds; what is
// wrong with it otherwise.
result<std::chrono::milliseconds, problem> seconds_in(const nlohmann::json& value, double lo,
                                                      double hi) {
  if (!value.is_number()) {
    return problem{"must be a number of seconds, not " + std::string(value.type_name())};
  }
  double s = value.get<double>();
  if (!(s >= lo && s <= hi)) {
    return problem{"must be from " + format_number(lo) + " to " + format_number(hi) +
                   " seconds, not " + value.dump()};
  }
  return std::chrono::milliseconds(static_cast<std::int64_t>(s * 1000.0 + 0.5));
}

// The parsed object of an `object` key (load_json_config checked that it is one).
nlohmann::json object_of(const raw_field& f) {
  const auto* text = f.get<std::string>();
  return text != nullptr ? nlohmann::json::parse(*text) : nlohmann::json::object();
}

// shadowsocks-rust's `balancer`: how often and how patiently the servers are checked, and
// (ours) what a check asks for.
void check_balancer(const validation& v, const raw_field& f, config& c) {
  if (!f.value) return;
  const auto doc = object_of(f);
  for (const auto& [key, value] : doc.items()) {
    std::string at = f.given_as + "." + key;
    std::string wrong;
    if (key == "check_interval") {
      if (auto t = seconds_in(value, 1, 86400); !t) {
        wrong = t.error().message;
      } else {
        c.balancer.check_interval = std::chrono::duration_cast<std::chrono::seconds>(*t);
        if (c.balancer.check_interval.count() == 0)
          c.balancer.check_interval = std::chrono::seconds(1);
      }
    } else if (key == "max_server_rtt") {
      if (auto t = seconds_in(value, 0.1, 60); !t) {
        wrong = t.error().message;
      } else {
        c.balancer.max_server_rtt = *t;
      }
    } else if (key == "check_url") {
      if (!value.is_string()) {
        wrong = "must be a string, not " + std::string(value.type_name());
      } else if (auto split = split_http_url(value.get<std::string>(), c.balancer); !split) {
        wrong = split.error().message;
      }
    } else if (key == "check_best_interval") {
      // shadowsocks-rust checks its best server more often; ours checks every one alike.
      if (v.warnings != nullptr) {
        v.warnings->push_back(at + ": not used (every server is checked every check_interval)");
      }
    } else if (v.warnings != nullptr) {
      v.warnings->push_back(at + ": unknown key, ignored");
    }
    if (!wrong.empty()) v.errors.push_back({at, wrong});
  }
}

// shadowsocks-rust's `online_config` (SIP008): the servers come from an https:// URL.
void check_online_config(const validation& v, const raw_field& f, config& c) {
  if (!f.value) return;
  online_settings o;
  bool has_url = false;
  const auto doc = object_of(f);
  for (const auto& [key, value] : doc.items()) {
    std::string at = f.given_as + "." + key;
    std::string wrong;
    if (key == "config_url") {
      has_url = true;
      constexpr std::string_view https = "https://";
      auto url = value.is_string() ? value.get<std::string>() : std::string();
      if (!value.is_string()) {
        wrong = "must be a string, not " + std::string(value.type_name());
      } else if (url.size() <= https.size() || !starts_with_ignoring_case(url, https)) {
        // A server list holds passwords: it must not travel in clear, nor come from anyone
        // on the path.
        wrong = "must be an https:// URL (the document holds passwords), not \"" + url + "\"";
      } else {
        o.config_url = url;
      }
    } else if (key == "update_interval") {
      if (auto t = seconds_in(value, 1, 7 * 86400); !t) {
        wrong = t.error().message;
      } else {
        o.update_interval =
            std::max(std::chrono::seconds(1), std::chrono::duration_cast<std::chrono::seconds>(*t));
      }
    } else if (key == "allowed_plugins") {
      bool ok = value.is_array();
      for (const auto& name : value) {
        if (!name.is_string() || name.get<std::string>().empty()) {
          ok = false;
        } else {
          o.allowed_plugins.push_back(name.get<std::string>());
        }
      }
      if (!ok) wrong = "must be a list of plugin names ([\"v2ray-plugin\", ...])";
    } else if (key == "cache_file") {
      if (!value.is_string() || value.get<std::string>().empty()) {
        wrong = "must be the path of a file";
      } else {
        o.cache_file = value.get<std::string>();
      }
    } else if (v.warnings != nullptr) {
      v.warnings->push_back(at + ": unknown key, ignored");
    }
    if (!wrong.empty()) v.errors.push_back({at, wrong});
  }
  if (!has_url) {
    v.errors.push_back({f.given_as + ".config_url", "is required (the https:// URL of the list)"});
  }
  c.online = std::move(o);
}

// libev's --manager-address: "HOST:PORT" (UDP) or the path of a Unix datagram socket.
void check_manager_address(const validation& v, const raw_field& f, config& c) {
  const auto* text = given_text(v, f);
  if (text == nullptr) return;
  c.manager_address = *text;
  auto t = target_address::parse(*text);
  if (text->find('/') == std::string::npos && t && t->port() != 0) {
    if (t->type() == address_type::domain && t->name() != "localhost") {
      fail(v, f,
           "must be IP:PORT (127.0.0.1:8839) or the path of a Unix socket, not \"" + *text + "\"");
      return;
    }
    c.manager_udp = *t;
  }
}

void check_manager_state_file(const validation& v, const raw_field& f, config& c) {
  const auto* path = f.get<std::string>();
  if (path == nullptr) return;
  c.manager_state_file = *path;
  if (path->empty()) fail(v, f, "is empty");
}

void check_verbose(const validation&, const raw_field& f, config& c) {
  const auto* n = f.get<std::int64_t>();
  c.verbose = n != nullptr ? static_cast<int>(*n) : 0;
}

using vt = value_type;

// clang-format off
constexpr key_spec table[] = {
  {"server", true, vt::string_list, {{{"-s"}}}, all_programs, server_program,
   "Server host name or IP address", "Address to listen on (repeatable)", per_port | per_server | own_per_server, check_server},
  {"server_port", true, vt::integer, {{{"-p"}}}, all_programs, server_program,
   "Server port", {}, per_port | per_server | own_per_port | own_per_server, check_server_port},
  {"local_address", true, vt::string, {{{"-b"}}}, client_programs, client_programs,
   "Local address to listen on (default 127.0.0.1)", {}, process_only, check_local_address},
  {"local_port", true, vt::integer, {{{"-l"}}}, client_programs, client_programs,
   "Local port to listen on (default 1080)", {}, process_only, check_local_port},
  {"method", true, vt::string, {{{"-m"}}}, all_programs, none,
   "Method: {methods} (default chacha20-ietf-poly1305)", {}, per_port | per_server, check_method},
  {"key", true, vt::string, {{{"--key"}}}, all_programs, none,
   "Key in base64 instead of a password", {}, per_port | per_server | own_per_port | own_per_server, check_key},
  {"password", true, vt::string, {{{"-k"}}}, all_programs, none,
   "Password; with a 2022 method the key itself, in base64 (from --keygen), and for a user "
   "of a multi-user server SERVERKEY:USERKEY",
   "Password; with a 2022 method the key itself, in base64 (from --keygen)", per_port | per_server | own_per_port | own_per_server, check_password},
  {"plugin", true, vt::string, {{{"--plugin"}}}, all_programs, all_programs,
   "SIP003 plugin program (found on PATH)", {}, per_port | per_server | own_per_server, check_plugin},
  {"prefix", true, vt::string, {{{"--prefix"}}}, all_programs, none,
   "Bytes to start the TCP salt with, as Outline's prefix (each byte itself or %XX: --prefix "
   "%16%03%01%00)",
   "Only for --print-url: the prefix clients put at the start of their salt",
   per_server | own_per_server, check_prefix},
  {"plugin_opts", true, vt::string, {{{"--plugin-opts"}}}, all_programs, none,
   "The plugin's options (SS_PLUGIN_OPTIONS)", {}, per_port | per_server | own_per_server, check_plugin_opts},
  {"plugin_args", true, vt::string_list, {}, all_programs, none,
   "Extra arguments for the plugin (JSON only)", {}, per_port | per_server | own_per_server, check_plugin_args},
  {"plugin_mode", true, vt::string, {{{"--plugin-mode"}}}, all_programs, all_programs,
   "tcp_only (default): UDP bypasses the plugin; tcp_and_udp: a SIP003u plugin takes UDP too",
   {}, per_port | per_server | own_per_server, check_plugin_mode},
  {"users", true, vt::user_list, {}, server_program, none,
   "Users of a multi-user 2022 server (JSON only)", {}, per_port | own_per_port | own_per_server, check_users},
  {"port_password", true, vt::port_map, {}, server_program, none,
   "Servers by port: {\"8381\": \"password\", ...} (JSON only)", {}, own_per_port | own_per_server, nullptr},
  {"servers", true, vt::server_list, {}, all_programs, none,
   "Servers to balance over, each with its own address, port, method, password, plugin and "
   "weight (JSON only)",
   "Servers, each with its own port, method and password (JSON only)", own_per_port | own_per_server, nullptr},
  {"balancer", true, vt::object, {}, client_programs, none,
   "Health checks of several servers: {\"check_interval\": 10, \"max_server_rtt\": 5, "
   "\"check_url\": \"http://...\"} (JSON only)",
   {}, own_per_server, check_balancer},
  {"online_config", true, vt::object, {}, client_programs, client_programs,
   "SIP008: {\"config_url\": \"https://...\", \"update_interval\": 3600, "
   "\"allowed_plugins\": [...]} (JSON only)",
   {}, own_per_server, check_online_config},
  {"socks5_auth_config_path", true, vt::string, {{{"--socks5-auth-config-path"}}},
   local_program, none,
   "File of users allowed on the local port (SOCKS5 username/password, HTTP Basic)", {}, process_only,
   check_socks5_auth},
  {"local_http", true, vt::boolean,
   {{{"--no-http", "false", "Do not serve HTTP proxy requests on the local port"}}},
   local_program, none, "Serve HTTP proxy requests on the local port (default true)", {}, process_only,
   check_switch<&config::local_http, true>},
  {"local_socks4", true, vt::boolean,
   {{{"--no-socks4", "false", "Do not serve SOCKS4 and SOCKS4a on the local port"}}},
   local_program, none, "Serve SOCKS4 and SOCKS4a on the local port (default true)", {}, process_only,
   check_switch<&config::local_socks4, true>},
  {"acl", true, vt::string, {{{"--acl"}}}, all_programs, none,
   "ACL file: which destinations are reached directly instead of through the server",
   "ACL file: which clients are served and which targets are never connected to", process_only, check_acl},
  {"timeout", true, vt::integer, {{{"-t"}}}, all_programs, none,
   "Idle timeout in seconds (default 60)", {}, per_port, check_timeout},
  {"mode", true, vt::string,
   {{{"-u", "tcp_and_udp", "Relay UDP as well as TCP"}, {"-U", "udp_only", "Relay UDP only"}}},
   all_programs, all_programs,
   "tcp_only (default), tcp_and_udp or udp_only: what is relayed", {}, per_port | per_server, check_mode},
  {"tunnel_address", true, vt::string, {{{"-L"}}}, tunnel_program, none,
   "Destination host:port", {}, process_only, check_tunnel_address},
  {"tcp_tproxy", true, vt::boolean, {{{"-T", "true"}, {"--tcp-tproxy", "true"}}}, redir_program,
   all_programs, "TCP redirected by TPROXY instead of REDIRECT (needs CAP_NET_ADMIN)", {}, process_only,
   check_switch<&config::tcp_tproxy>},
  {"server_url", true, vt::string, {{{"--server-url"}}}, client_programs, none,
   "The server as a SIP002 ss:// URL (as ss-server --print-url prints it), instead of -s, -p, "
   "-m and -k",
   {}, own_per_server, nullptr},
  {"ipv6_first", true, vt::boolean, {{{"-6", "true"}}}, all_programs, none,
   "Prefer IPv6 when resolving", {}, process_only, check_switch<&config::ipv6_first>},
  {"verbose", false, vt::count, {{{"-v"}}}, all_programs, none,
   "Verbose logging: a line per connection (never a password, key or payload)", {}, process_only,
   check_verbose},
  {"log_file", true, vt::string, {{{"--log-file"}}}, all_programs, all_programs,
   "Append the log to this file instead of standard error", {}, process_only, check_log_file},
  {"fast_open", true, vt::boolean, {{{"--fast-open", "true"}}}, all_programs, all_programs,
   "Use TCP Fast Open", {}, process_only, check_switch<&config::fast_open>},
  {"no_delay", true, vt::boolean, {{{"--no-delay", "true"}}}, all_programs, none,
   "Do not delay small writes to coalesce them: set TCP_NODELAY on every proxied socket", {}, process_only,
   check_switch<&config::no_delay>},
  {"reuse_port", true, vt::boolean, {{{"--reuse-port", "true"}}}, all_programs, all_programs,
   "Set SO_REUSEPORT on listeners", {}, process_only, check_switch<&config::reuse_port>},
  {"workers", true, vt::integer, {{{"--workers"}}}, all_programs, all_programs,
   "Worker threads (default: number of cores)", {}, process_only, check_workers},
  {"outbound_allow_private", true, vt::boolean, {{{"--outbound-allow-private", "true"}}},
   server_program, none,
   "Allow targets on loopback, private, link-local... networks (off by default)", {}, process_only,
   check_switch<&config::outbound_allow_private>},
  {"replay_filter_capacity", true, vt::integer, {{{"--replay-filter-capacity"}}}, all_programs,
   all_programs, "Salts remembered per replay-filter generation (default 10000)",
   "Salts remembered per replay-filter generation (default 1000000)", process_only,
   check_replay_filter_capacity},
  {"replay_state_file", true, vt::string, {{{"--replay-state-file"}}}, all_programs,
   all_programs, "File the replay filter is kept in across restarts", {}, process_only,
   check_replay_state_file},
  {"max_connections", true, vt::integer, {{{"--max-connections"}}}, all_programs, none,
   "Open connections at most (default: from the open-file limit)", {}, process_only, check_max_connections},
  {"udp_timeout", true, vt::integer, {{{"--udp-timeout"}}}, all_programs, all_programs,
   "UDP association idle timeout in seconds (300)", {}, process_only, check_udp_timeout},
  {"upgrade_grace", true, vt::integer, {{{"--upgrade-grace"}}}, all_programs, none,
   "Seconds an upgrade leaves the old process's connections to finish (default 600)", {},
   process_only, check_upgrade_grace},
  {"user", true, vt::string, {{{"-a"}}}, all_programs, all_programs,
   "Run as this user once the ports are bound", {}, process_only, check_user},
  {"nofile", true, vt::integer, {{{"-n"}}}, all_programs, all_programs,
   "Open-file limit to set (default: raised to the hard limit)", {}, process_only, check_nofile},
  // Flag only, so a reload (which keeps the flags) cannot change it: not "fixed".
  {"pid_file", false, vt::string, {{{"-f"}}}, all_programs, none,
   "Run in the background once serving, with the process id in this file", {}, process_only, check_pid_file},
  {"nameserver", true, vt::string, {{{"-d"}}}, server_program, none,
   "Resolve targets through these name servers (IP[:port], comma-separated)", {}, process_only,
   check_nameserver},
  {"mtu", true, vt::integer, {{{"--mtu"}}}, all_programs, all_programs,
   "MTU of the network interface (UDP datagrams it would fragment are logged)", {}, process_only, check_mtu},
  {"outbound_fwmark", true, vt::integer, {{{"--outbound-fwmark"}}}, all_programs, none,
   "Firewall mark (SO_MARK) on outgoing sockets, so that rules can skip them (CAP_NET_ADMIN)",
   {}, process_only, check_outbound_fwmark},
  {"mptcp", true, vt::boolean, {{{"--mptcp", "true"}}}, all_programs, all_programs,
   "Multipath TCP to the server", "Multipath TCP on the listeners", process_only,
   check_switch<&config::mptcp>},
  {"udp_max_associations", true, vt::integer, {{{"--udp-max-associations"}}}, all_programs,
   all_programs, "Most UDP associations kept (4096)", {}, process_only, check_udp_max_associations},
  {"manager_address", true, vt::string, {{{"--manager-address"}}}, server_program,
   server_program,
   "The manager API's address, IP:PORT or a Unix socket's path: ss-manager serves the API "
   "there (default 127.0.0.1:8839); ss-server sends its traffic stats there every 10 s",
   {}, process_only, check_manager_address},
  {"manager_state_file", true, vt::string, {{{"--manager-state-file"}}},
   server_program | manager_only, server_program,
   "File that keeps the ports added and removed through the API", {}, process_only,
   check_manager_state_file},
  {"manager_allow_remote", true, vt::boolean, {{{"--manager-allow-remote", "true"}}},
   server_program | manager_only, server_program,
   "Allow an API address other than loopback (the API has no authentication)", {}, process_only,
   check_switch<&config::manager_allow_remote>},
  {"metrics", true, vt::string, {{{"--metrics"}}}, all_programs, all_programs,
   "Serve Prometheus metrics at http://ADDR:PORT/metrics (off by default)", {}, process_only, check_metrics},
};
// clang-format on

}  // namespace

std::optional<std::string> short_password_warning(std::string_view given_as, std::size_t size) {
  if (size >= short_password) return std::nullopt;
  return std::string(given_as) + ": " + std::to_string(size) +
         " characters is short enough to guess; use " + std::to_string(short_password) +
         " or more random characters (e.g. from ss-server --keygen)";
}

std::span<const key_spec> config_keys() noexcept {
  return table;
}

const key_spec* find_key(std::string_view name) noexcept {
  for (const auto& k : table) {
    if (k.name == name) return &k;
  }
  return nullptr;
}

void raw_field::set(raw_value v, std::string source) {
  value = std::move(v);
  given_as = std::move(source);
}

raw_config::raw_config() : fields_(std::size(table)) {}

std::size_t raw_config::index_of(std::string_view key) {
  const auto* k = find_key(key);
  if (k == nullptr) throw std::logic_error("no config key \"" + std::string(key) + "\"");
  return static_cast<std::size_t>(k - table);
}

raw_field& raw_config::operator[](std::string_view key) {
  return fields_[index_of(key)];
}

const raw_field& raw_config::operator[](std::string_view key) const {
  return fields_[index_of(key)];
}

}  // namespace ss
