// SIP002 URLs: any text parses or gives an error naming a part, never a crash; whatever
// parses formats to a URL that parses back to the same server.
#include <string_view>

#include "fuzz_support.hpp"
#include "shadowsocks/codec/sip002.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto r = ss::parse_server_url(text);
  if (!r) {
    FUZZ_CHECK(!r.error().part.empty() && !r.error().problem.empty());
    return 0;
  }
  const auto& u = *r;
  FUZZ_CHECK(u.port != 0 && !u.method.empty() && !u.host.empty());
  auto again = ss::parse_server_url(ss::format_server_url(u));
  FUZZ_CHECK(again.has_value());
  const auto* v = &*again;
  FUZZ_CHECK(v->method == u.method && v->password == u.password && v->host == u.host &&
             v->port == u.port && v->plugin == u.plugin && v->tag == u.tag);
  return 0;
}
