// SIP008 documents (from a provider's URL): any bytes give a refusal with its reason or a
// list of usable servers, each with a key and a port, never a crash.
#include <string_view>

#include "fuzz_support.hpp"
#include "shadowsocks/config/config.hpp"

namespace {

// A client configured by an online_config alone, allowing one plugin (on every PATH).
const ss::config& client() {
  static const ss::config c = [] {
    ss::raw_config raw;
    std::vector<ss::config_error> errors;
    std::vector<std::string> warnings;
    ss::load_json_config(
        R"({"online_config": {"config_url": "https://example.com/", "allowed_plugins": ["sh"]}})",
        raw, errors, warnings);
    return ss::validate(raw, ss::program::local, 2).value();
  }();
  return c;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto r = ss::read_sip008(text, client());
  if (!r) {
    FUZZ_CHECK(!r.error().message.empty());
    return 0;
  }
  const auto& got = *r;
  FUZZ_CHECK(!got.servers.empty());
  for (const auto& s : got.servers) {
    FUZZ_CHECK(s.key != nullptr && s.server_port != 0 && s.server_hosts.size() == 1);
    FUZZ_CHECK(s.plugin_name.empty() || s.plugin_name == "sh");
    FUZZ_CHECK(s.tcp_weight > 0 && s.udp_weight > 0);
  }
  for (const auto& line : got.left_out)
    FUZZ_CHECK(!line.empty());
  return 0;
}
