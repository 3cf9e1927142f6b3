// The ACL parser (libev's format with shadowsocks-rust's name rules, RE2 expressions) on any
// text, and its decisions on a host taken from the input. A name given as an exact rule in
// front of the file always matches its bypass list, in any case.
#include <string>
#include <string_view>

#include "fuzz_support.hpp"
#include "shadowsocks/config/acl.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  // The file, then (after the first NUL) a host to ask about.
  auto nul = in.find('\0');
  auto text = in.substr(0, nul);
  std::string_view host = nul == std::string_view::npos ? "example.com" : in.substr(nul + 1);
  auto parsed = ss::parse_acl(text, "fuzz.acl");
  if (!parsed) {
    FUZZ_CHECK(parsed.error().message.starts_with("fuzz.acl"));
    return 0;
  }
  const auto& a = *parsed;
  if (auto t = ss::target_address::from_host(host, 80)) {
    auto route = a.route_for(*t);
    if (route == ss::acl::route::resolve) FUZZ_CHECK(t->type() == ss::address_type::domain);
    (void)a.client_refused(*t);
    (void)a.outbound_blocked(*t);
  }
  // |host in front: the bypass list has it.
  bool plain = !host.empty() && host.size() < 200 &&
               host.find_first_of(" \t\r\n/\0", 0, 6) == std::string_view::npos &&
               host.front() != '|' && host.back() != '.';
  if (plain) {
    std::string with_rule = "|" + std::string(host) + "\n" + std::string(text);
    auto again = ss::parse_acl(with_rule, "fuzz.acl");
    if (again) {
      FUZZ_CHECK(again->bypass.matches_name(host));
    }
  }
  return 0;
}
