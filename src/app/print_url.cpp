#include "print_url.hpp"

#include <unistd.h>

#include <cstdio>

#include "qr.hpp"
#include "shadowsocks/codec/base64.hpp"
#include "shadowsocks/codec/sip002.hpp"
#include "shadowsocks/codec/text.hpp"
#include "shadowsocks/crypto/kdf.hpp"

namespace ss {

namespace {

// The plugin as a client names it in a SIP002 URL ("obfs-local;obfs=http"): simple-obfs's
// server half becomes its client half, and v2ray-plugin's `server` option is left out.
std::string client_plugin(const server_entry& c) {
  if (c.plugin_name.empty()) return {};
  std::string out = c.plugin_name == "obfs-server" ? "obfs-local" : c.plugin_name;
  for (auto opt : split(c.plugin_opts, ';')) {
    if (opt.empty() || opt == "server") continue;
    out += ';';
    out += opt;
  }
  return out;
}

}  // namespace

int print_url(const program_profile& profile, const config& top, const std::string& public_host) {
  auto fail = [&profile](const std::string& what) {
    std::fprintf(stderr, "%s: %s\n", profile.name, what.c_str());
    return 2;
  };
  // Every server of the process (port_password, servers), each named by its tag.
  std::vector<server_url> urls;
  for (const auto& c : top.servers.empty() ? std::vector<server_entry>{top} : top.servers) {
    std::string at = c.name.empty() ? std::string() : c.name + ": ";
    if (c.password.empty()) {
      return fail(at +
                  "--print-url: needs a password (a base64 key has no ss:// form for this "
                  "method)");
    }
    std::string host = public_host;
    if (host.empty()) {
      const bool one = c.server_hosts.size() == 1;
      if (!one || c.server_hosts[0] == "0.0.0.0" || c.server_hosts[0] == "::") {
        return fail("--public-host: needed, since the server listens on " + join(c.server_hosts) +
                    ", which is not an address clients can dial");
      }
      host = c.server_hosts[0];
    }
    if (c.server_port == 0) {
      return fail(at + "server_port: 0 (any free port) cannot go into a URL");
    }
    // A multi-user server (SIP023): one URL per user, its password iPSK:uPSK, its name the tag.
    if (c.users) {
      for (const auto& u : c.users->all()) {
        urls.push_back({std::string(c.key->cipher().name),
                        c.password + ":" + base64_encode(u->key.bytes()), host, c.server_port,
                        client_plugin(c), u->name, c.prefix});
      }
    } else {
      urls.push_back({std::string(c.key->cipher().name), c.password, host, c.server_port,
                      client_plugin(c), c.name, c.prefix});
    }
  }
  for (const auto& u : urls) {
    auto url = format_server_url(u);
    // What a client will parse: the same rules as --server-url (a host name or an address).
    auto check = parse_server_url(url);
    if (!check) {
      auto e = check.error();
      return fail((public_host.empty() ? "server" : "--public-host") + std::string(": ") + e.part +
                  " " + e.problem);
    }
    std::printf("%s\n", url.c_str());
    if (::isatty(STDOUT_FILENO)) std::fputs(render_qr(url).c_str(), stdout);
  }
  return 0;
}

int print_new_key(const program_profile& profile, const raw_config& flags) {
  const auto* given = flags["method"].get<std::string>();
  std::string method = given != nullptr ? *given : std::string(default_method);
  auto cipher = find_cipher(method);
  if (!cipher) {
    std::fprintf(stderr, "%s: -m: %s\n", profile.name, describe_unknown_method(method).c_str());
    return 2;
  }
  std::vector<std::uint8_t> key((*cipher)->key_size);
  random_bytes(key);
  std::printf("%s\n", base64_encode(key).c_str());
  return 0;
}

}  // namespace ss
