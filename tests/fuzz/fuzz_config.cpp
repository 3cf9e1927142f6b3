// The config loader: any text gives errors or a config, never a crash, and validation of
// whatever was read names a key for every problem.
#include <string_view>

#include "fuzz_support.hpp"
#include "shadowsocks/config/config.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  ss::raw_config raw;
  std::vector<ss::config_error> errors;
  std::vector<std::string> warnings;
  // Blanking trailing commas moves nothing: JSON error positions stay right.
  FUZZ_CHECK(ss::blank_trailing_commas(text).size() == text.size());
  ss::load_json_config(text, raw, errors, warnings);
  for (const auto& e : errors)
    FUZZ_CHECK(!e.key.empty() && !e.problem.empty());
  if (!errors.empty()) return 0;
  for (auto kind : {ss::program::local, ss::program::server, ss::program::tunnel}) {
    auto v = ss::validate(raw, kind, 2);
    if (!v) {
      FUZZ_CHECK(!v.error().empty());
      for (const auto& e : v.error())
        FUZZ_CHECK(!e.key.empty() && !e.problem.empty());
    } else {
      const auto& c = v.value();
      FUZZ_CHECK(c.key != nullptr && c.workers >= 1);
    }
  }
  return 0;
}
