#pragma once
// Private: shadowsocks-libev's command line, parsed with CLI11 into a raw_config.

#include <optional>
#include <string>
#include <vector>

#include "shadowsocks/config.hpp"

namespace ss {

/// What the command line asked for.
struct command_line {
  bool run = false;                        ///< False when the process should exit now.
  int exit_code = 0;                       ///< When `run` is false.
  raw_config flags;                        ///< Values given as flags.
  std::optional<std::string> config_path;  ///< `-c`.
  std::vector<config_error> errors;        ///< Flag values that are not well-formed.
  bool print_url = false;                  ///< ss-server `--print-url`: print, then exit.
  std::string public_host;                 ///< ss-server `--public-host`.
};

/// "ss-local", "ss-server" or "ss-tunnel".
const char* program_name(app_kind kind);

/// Parses argv like shadowsocks-libev's executable of `kind`. Prints --help/--version and
/// CLI11's own parse errors (one line) itself.
command_line parse_command_line(app_kind kind, int argc, char** argv);

}  // namespace ss
