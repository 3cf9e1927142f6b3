// SIP008 online configuration: the HTTPS fetch (Boost.Beast over OpenSSL), the document kept
// on disk, the periodic update.

#include "shadowsocks/ops/online.hpp"

#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <boost/asio/ssl.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "shadowsocks/codec/text.hpp"
#include "shadowsocks/runtime/platform.hpp"
#include "shadowsocks/runtime/resolve.hpp"
#include "version.hpp"

// With BOOST_ASIO_SEPARATE_COMPILATION, Asio's SSL implementation is compiled once: here, the
// one translation unit that uses it.
#include <boost/asio/ssl/impl/src.hpp>

namespace ss {

namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = net::ssl;

// How long one fetch may take, from the name lookup to the last byte.
constexpr auto fetch_limit = std::chrono::seconds(30);
// The largest document taken (a list of thousands of servers is far smaller).
constexpr std::uint64_t document_limit = 4 * 1024 * 1024;
// After a failed fetch, the next one comes after this at most (or update_interval if shorter).
constexpr auto retry_after_failure = std::chrono::seconds(60);

// A file name made from the URL: stable across builds.
std::string short_hash(std::string_view text) {
  return fmt::format("{:016x}", fnv1a_64(text));
}

// The outcome of one fetch: the document, or why there is none.
using fetched = result<std::string, problem>;

// Why the TLS handshake failed: OpenSSL's verification result when the certificate was
// refused ("certificate has expired", "hostname mismatch"), else the error's message.
std::string handshake_failure(ssl::stream<beast::tcp_stream>& s,
                              const boost::system::error_code& ec) {
  long verify = SSL_get_verify_result(s.native_handle());
  if (verify != X509_V_OK) {
    return std::string("the server's certificate is refused: ") +
           X509_verify_cert_error_string(verify);
  }
  return "TLS handshake failed: " + ec.message();
}

#ifdef _WIN32

// Windows: the certificates of the system's "ROOT" store (the trusted root authorities that
// Windows Update keeps current, and any the user or the domain added), handed to OpenSSL;
// SSL_CERT_FILE or SSL_CERT_DIR still take precedence when set.
void trust_system_cas(ssl::context& tls) {
  if (std::getenv("SSL_CERT_FILE") != nullptr || std::getenv("SSL_CERT_DIR") != nullptr) {
    tls.set_default_verify_paths();
    return;
  }
  auto roots = platform::trusted_root_certificates();
  if (roots.empty()) spdlog::warn("SIP008: Windows' certificate store has no trusted root");
  X509_STORE* store = SSL_CTX_get_cert_store(tls.native_handle());
  for (const auto& cert : roots) {
    const unsigned char* der = cert.data();
    X509* x = d2i_X509(nullptr, &der, static_cast<long>(cert.size()));
    if (x == nullptr) continue;
    X509_STORE_add_cert(store, x);  // a duplicate is refused, harmlessly
    X509_free(x);
  }
}

#else

// Where Linux distributions keep their CA bundle. OpenSSL's default paths are the ones of the
// OpenSSL that was linked (Debian's: /usr/lib/ssl), which the static executable carries to
// systems and containers that have no /usr/lib/ssl: there the first of these that exists is
// trusted instead (the list Go's crypto/x509 reads on Linux).
constexpr const char* ca_bundles[] = {
    "/etc/ssl/certs/ca-certificates.crt",                 // Debian, Ubuntu, Alpine, Arch
    "/etc/pki/tls/certs/ca-bundle.crt",                   // Fedora, RHEL
    "/etc/ssl/ca-bundle.pem",                             // openSUSE
    "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",  // RHEL, CentOS
    "/etc/ssl/cert.pem",                                  // Alpine, OpenWrt
};

// The trust store: SSL_CERT_FILE or SSL_CERT_DIR when set (OpenSSL reads them), else OpenSSL's
// default paths, or, where neither of those is there, the system's CA bundle.
void trust_system_cas(ssl::context& tls) {
  tls.set_default_verify_paths();
  if (std::getenv("SSL_CERT_FILE") != nullptr || std::getenv("SSL_CERT_DIR") != nullptr) return;
  std::error_code missing;
  if (std::filesystem::exists(X509_get_default_cert_file(), missing) ||
      std::filesystem::is_directory(X509_get_default_cert_dir(), missing)) {
    return;  // the linked OpenSSL's own store (Debian's /usr/lib/ssl) is here
  }
  for (const char* path : ca_bundles) {
    if (!std::filesystem::is_regular_file(path, missing)) continue;
    boost::system::error_code ec;
    tls.load_verify_file(path, ec);
    if (!ec) return;
  }
}

#endif

// GET `url` over HTTPS, the certificate verified against the trust store (trust_system_cas)
// and for the URL's host.
awaitable<fetched> fetch(std::string url) {
  auto parsed = parse_https_url(url);
  if (!parsed) co_return problem{"not an https:// URL"};
  const auto& u = *parsed;
  auto ex = co_await net::this_coro::executor;
  ssl::context tls(ssl::context::tls_client);
  trust_system_cas(tls);
  tls.set_verify_mode(ssl::verify_peer);
  SSL_CTX_set_min_proto_version(tls.native_handle(), TLS1_2_VERSION);
  SSL_CTX_set_security_level(tls.native_handle(), 2);  // Debian's default; no openssl.cnf is read
  ssl::stream<beast::tcp_stream> stream(ex, tls);
  // The certificate must name the URL's host (an IP address in its IP SANs); SNI for names.
  X509_VERIFY_PARAM* param = SSL_get0_param(stream.native_handle());
  if (u.ip_literal) {
    X509_VERIFY_PARAM_set1_ip_asc(param, u.host.c_str());
  } else {
    X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    X509_VERIFY_PARAM_set1_host(param, u.host.c_str(), 0);
    SSL_set_tlsext_host_name(stream.native_handle(), u.host.c_str());
  }
  auto& tcp_layer = beast::get_lowest_layer(stream);
  tcp_layer.expires_after(fetch_limit);
  // The system's resolver, as every other look-up (resolve.hpp; c-ares in the static build).
  auto [rec, found] = co_await resolve_within(u.host, u.port, false, fetch_limit, "");
  if (rec) co_return problem{"cannot resolve " + u.host + ": " + rec.message()};
  auto [cec, at] = co_await tcp_layer.async_connect(found, use_nothrow);
  if (cec) co_return problem{"cannot connect: " + cec.message()};
  auto [hec] = co_await stream.async_handshake(ssl::stream_base::client, use_nothrow);
  if (hec) co_return problem{handshake_failure(stream, hec)};
  http::request<http::empty_body> req{http::verb::get, u.target, 11};
  req.set(http::field::host, u.port == 443 ? u.host : u.host + ":" + std::to_string(u.port));
  req.set(http::field::user_agent, std::string("shadowsocks-cpp/") + version);
  req.set(http::field::accept, "application/json");
  req.set(http::field::connection, "close");
  auto [wec, wn] = co_await http::async_write(stream, req, use_nothrow);
  if (wec) co_return problem{"cannot send the request: " + wec.message()};
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(document_limit);
  auto [rdec, rn] = co_await http::async_read(stream, buffer, parser, use_nothrow);
  if (rdec) co_return problem{"no complete answer: " + rdec.message()};
  auto& res = parser.get();
  if (res.result() != http::status::ok) {
    co_return problem{"HTTP " + std::to_string(res.result_int()) + " " + std::string(res.reason())};
  }
  co_return std::move(res.body());
}

// Writes `text` to `path` as a whole (a temporary file renamed over it), readable by its owner
// only: the document holds passwords. The system's reason when it cannot.
result<void, problem> write_private(const std::string& path, const std::string& text) {
  namespace fs = std::filesystem;
  std::error_code ec;
  auto dir = fs::path(path).parent_path();
  if (!dir.empty() && !fs::exists(dir, ec)) {
    fs::create_directories(dir, ec);
    if (ec) return problem{"cannot make " + dir.string() + ": " + ec.message()};
    fs::permissions(dir, fs::perms::owner_all, ec);
  }
  std::string tmp = path + ".tmp";
  auto old_mask = ::umask(077);
  {
    std::ofstream out(tmp, std::ios::trunc | std::ios::binary);
    out << text;
    out.close();
    if (!out) {
      ::umask(old_mask);
      return problem{"cannot write " + tmp};
    }
  }
  ::umask(old_mask);
  fs::rename(tmp, path, ec);
  if (ec) return problem{"cannot rename " + tmp + ": " + ec.message()};
  return {};
}

}  // namespace

std::optional<https_url> parse_https_url(const std::string& url) {
  auto parts = split_url(url, "https://");
  if (!parts) return std::nullopt;
  auto at = parse_authority(parts->authority, std::uint16_t{443});
  if (!at) return std::nullopt;
  return https_url{at->host_string(), at->port(), std::move(parts->target),
                   at->type() != address_type::domain};
}

std::string url_for_logs(const std::string& url) {
  auto u = parse_https_url(url);
  if (!u) return "(a URL that is not https://)";
  auto path = u->target.substr(0, u->target.find('?'));
  bool v6 = u->host.find(':') != std::string::npos;
  std::string host = v6 ? "[" + u->host + "]" : u->host;
  if (u->port != 443) host += ":" + std::to_string(u->port);
  return "https://" + host + path;
}

std::string online_cache_path(const online_settings& o) {
  if (!o.cache_file.empty()) return o.cache_file;
  std::string name = "online-config-" + short_hash(o.config_url) + ".json";
  if (const char* state = std::getenv("STATE_DIRECTORY"); state != nullptr && *state != '\0') {
    // systemd may give several, separated by ':': the first is ours.
    std::string dir(state);
    return dir.substr(0, dir.find(':')) + "/" + name;
  }
#ifdef _WIN32
  // Windows: the user's local application data (not roaming: a cache), else the machine's
  // (a service's account has no profile of its own).
  for (const char* var : {"LOCALAPPDATA", "ProgramData"}) {
    if (const char* dir = std::getenv(var); dir != nullptr && *dir != '\0') {
      return std::string(dir) + "\\shadowsocks-cpp\\" + name;
    }
  }
#endif
  if (const char* cache = std::getenv("XDG_CACHE_HOME"); cache != nullptr && *cache == '/') {
    return std::string(cache) + "/shadowsocks-cpp/" + name;
  }
  if (const char* home = std::getenv("HOME"); home != nullptr && *home == '/') {
    return std::string(home) + "/.cache/shadowsocks-cpp/" + name;
  }
  return {};
}

struct online_config::state {
  state(net::io_context& control, config c, apply_fn f)
      : timer(control), top(std::move(c)), apply(std::move(f)) {}
  net::steady_timer timer;
  config top;
  apply_fn apply;
  std::string url_logged;    // the URL without what may be a secret
  std::string cache;         // "" : none
  std::string last_good;     // the last document put in place
  std::size_t in_place = 0;  // its servers
  bool stopped = false;
};

namespace {

using online_state = online_config::state;

// Puts the servers of `doc` in place unless it is the document already there; why not when
// it is refused.
result<void, problem> take(online_state& st, const std::string& doc, std::string_view from) {
  auto read = read_sip008(doc, st.top);
  if (!read) return read.error();
  if (doc == st.last_good) {
    spdlog::debug("online_config: {} is unchanged", st.url_logged);
    return {};
  }
  auto& got = *read;
  for (const auto& line : got.left_out)
    spdlog::warn("online_config: {}; left out", line);
  st.in_place = got.servers.size();
  st.last_good = doc;
  // Logged once in place: whoever reads the line (a person, a test) may use the servers.
  st.apply(std::move(got.servers));
  spdlog::info("online_config: {} server(s) from {}{}", st.in_place, from,
               got.left_out.empty() ? std::string()
                                    : " (" + std::to_string(got.left_out.size()) + " left out)");
  return {};
}

// One fetch; true when the document is good (new or not).
awaitable<bool> update_once(std::shared_ptr<online_state> st) {
  auto got = co_await fetch(st->top.online->config_url);
  if (st->stopped) co_return false;
  std::string why = got.error().message;
  if (got) {
    auto taken = take(*st, *got, st->url_logged);
    if (taken) {
      if (!st->cache.empty()) {
        if (auto kept = write_private(st->cache, *got); !kept) {
          spdlog::warn("online_config: cannot keep the list on disk: {}", kept.error().message);
        }
      }
      co_return true;
    }
    why = "its document is refused: " + taken.error().message;
  }
  spdlog::warn("online_config: cannot update from {}: {}; {}", st->url_logged, why,
               st->last_good.empty()
                   ? std::string("no server from it yet")
                   : "keeping the last good list (" + std::to_string(st->in_place) + " server(s))");
  co_return false;
}

awaitable<void> update_rounds(std::shared_ptr<online_state> st) {
  while (!st->stopped) {
    bool good = co_await update_once(st);
    if (st->stopped) break;
    auto every = st->top.online->update_interval;
    st->timer.expires_after(good ? every
                                 : std::min<std::chrono::seconds>(every, retry_after_failure));
    co_await st->timer.async_wait(use_nothrow);
  }
}

}  // namespace

online_config::online_config(net::io_context& control, config top, apply_fn apply)
    : st_(std::make_shared<state>(control, std::move(top), std::move(apply))) {
  st_->url_logged = url_for_logs(st_->top.online->config_url);
  st_->cache = online_cache_path(*st_->top.online);
}

online_config::~online_config() {
  stop();
}

void online_config::load_cache() {
  if (st_->cache.empty()) {
    spdlog::warn(
        "online_config: no place to keep the list (no cache_file, STATE_DIRECTORY or HOME): a "
        "restart without network will have no server from {}",
        st_->url_logged);
    return;
  }
  auto text = read_text_file(st_->cache);
  if (!text) {
    spdlog::debug("online_config: no list kept in {} yet: {}", st_->cache, text.error().message);
    return;
  }
  if (auto taken = take(*st_, *text, "the list kept in " + st_->cache); !taken) {
    spdlog::warn("online_config: the list kept in {} is refused: {}", st_->cache,
                 taken.error().message);
  }
}

void online_config::start() {
  net::co_spawn(st_->timer.get_executor(), update_rounds(st_), log_exception);
}

void online_config::stop() {
  st_->stopped = true;
  st_->timer.cancel();
}

void online_config::set_top(const config& top) {
  auto online = st_->top.online;
  st_->top = top;
  st_->top.online = online;  // kept until a restart
}

}  // namespace ss
