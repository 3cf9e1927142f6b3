#pragma once
// Private to the app layer: shadowsocks-libev's command line, built from the key table and
// parsed with CLI11 into a raw_config.

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "profile.hpp"
#include "shadowsocks/config/config.hpp"

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
  bool given_nothing = false;              ///< No argument at all (a first try).
  bool keygen = false;                     ///< `--keygen`: print a new random key, then exit.
  std::string service;                     ///< Windows `--service install|uninstall|run`.
  bool manager = false;                    ///< ss-manager: it may start with no server.
  bool upgrade = false;                    ///< `--upgrade`: ask the running instance to.
  std::vector<std::string> argv;           ///< As given (an upgrade starts the same).
};

/// A flag that is not a configuration key (`-c`, `--print-url`, ...).
struct command_option {
  std::string_view name;  ///< "-c".
  program_set programs;   ///< Where it is offered.
  bool on_manager;        ///< ss-manager offers it too.
  bool takes_value;       ///< "-c FILE" as opposed to a switch.
  std::string_view help;  ///< The `--help` text.
};
/// Every flag that is not a configuration key, `--help` and `--version` included.
std::span<const command_option> command_options() noexcept;
/// True when the command line of `p` takes `o`.
bool offers(const command_option& o, const program_profile& p) noexcept;
/// The `--help` text of `key` on `prog`'s command line (the list of methods filled in).
std::string help_of(const key_spec& key, program prog);
/// The `--help` text of one of `key`'s flags: its own, else the key's.
std::string help_of(const key_spec& key, const flag_spec& flag, program prog);

/// One entry of `--help`: a flag (or `-h`, `--help`) with its value's name and its text.
struct help_line {
  std::vector<std::string> names;   ///< {"-h", "--help"}; {"-p"}.
  std::string value;                ///< "NUMBER", "TEXT"; empty for a switch.
  std::string text;                 ///< The description.
  const key_spec* key = nullptr;    ///< The key it sets, if it is a key's flag.
  const flag_spec* flag = nullptr;  ///< Which of the key's flags.
};
/// What `--help` lists for `p`, in its order.
std::vector<help_line> help_lines(const program_profile& p);

/// Parses argv like shadowsocks-libev's executable of `profile`. Prints --help/--version and
/// CLI11's own parse errors (one line) itself.
command_line parse_command_line(const program_profile& profile, int argc, char** argv);

}  // namespace ss
