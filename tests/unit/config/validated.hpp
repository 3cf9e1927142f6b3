#pragma once
// A JSON configuration loaded and validated for one program, as the daemons do it: what the
// config tests start from.

#include <optional>
#include <string>
#include <vector>

#include "shadowsocks/config/config.hpp"

namespace ss::test {

/// The configuration, or the problems found; the warnings either way.
struct outcome {
  std::optional<config> cfg;
  std::vector<config_error> errors;
  std::vector<std::string> warnings;
};

/// `json` loaded and validated for `prog` (two hardware threads).
inline outcome validated(const std::string& json, program prog) {
  outcome out;
  raw_config raw;
  load_json_config(json, raw, out.errors, out.warnings);
  if (!out.errors.empty()) return out;
  auto v = validate(raw, prog, 2, &out.warnings);
  if (v) {
    out.cfg = std::move(v).value();
  } else {
    out.errors = v.error();
  }
  return out;
}

/// "key: problem" of the first problem, or "".
inline std::string first_error(const outcome& o) {
  return o.errors.empty() ? "" : o.errors.front().to_string();
}

}  // namespace ss::test
