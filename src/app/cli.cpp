#include "cli.hpp"

#include <CLI/CLI.hpp>
#include <cstdio>
#include <deque>
#include <stdexcept>

#include "shadowsocks/codec/text.hpp"
#include "version.hpp"

namespace ss {

namespace {

constexpr program_set server_only = static_cast<program_set>(program::server);
[[maybe_unused]] constexpr program_set local_tunnel_server =
    all_programs & ~static_cast<program_set>(program::redir);

constexpr command_option options[] = {
    {"-c", all_programs, true, true, "JSON config file (libev's keys)"},
    {"--print-url", server_only, false, false,
     "Print the ss:// URL (and, on a terminal, its QR code) for clients, then exit"},
    {"--public-host", server_only, false, true,
     "Host name or address clients reach this server at (for --print-url)"},
    {"-h", all_programs, true, false, "Print this help message and exit"},
    {"--help", all_programs, true, false, "Print this help message and exit"},
    {"--version", all_programs, true, false, "Display program version information and exit"},
    {"--keygen", all_programs, false, false,
     "Print a new random key for the method (-m) in base64, for \"key\" or \"password\"; exit"},
#ifndef _WIN32
    {"--upgrade", all_programs, true, false,
     "Upgrade the instance whose pid file -f names to the program now installed, without "
     "dropping a connection; wait until it serves"},
#endif
#ifdef _WIN32
    {"--service", local_tunnel_server, false, true,
     "install: run as a Windows service started at boot, with the other options; uninstall: "
     "stop and remove it; run: how the service is started"},
#endif
};

// The command option named `name` (one of `options`).
const command_option& option_named(std::string_view name) {
  for (const auto& o : options) {
    if (o.name == name) return o;
  }
  throw std::logic_error("no command option " + std::string(name));
}

// The name --help gives the value of a key's flag.
std::string value_name(const key_spec& key, const flag_spec& flag) {
  if (key.type == value_type::count || !flag.sets.empty()) return {};
  if (key.type == value_type::integer) return "NUMBER";
  return key.type == value_type::string_list ? "TEXT ..." : "TEXT";
}

}  // namespace

bool offers(const command_option& o, const program_profile& p) noexcept {
  return p.manages ? o.on_manager : includes(o.programs, p.id);
}

namespace {

// Adds the switch or option `name` to `app` if `p` offers it.
template <class T>
void add_command_option(CLI::App& app, std::string_view name, const program_profile& p, T& into) {
  const auto& o = option_named(name);
  if (!offers(o, p)) return;
  if (o.takes_value) {
    app.add_option(std::string(name), into, std::string(o.help));
  } else {
    app.add_flag(std::string(name), into, std::string(o.help));
  }
}

}  // namespace

std::string help_of(const key_spec& key, program prog) {
  std::string text(prog == program::server && !key.server_help.empty() ? key.server_help
                                                                       : key.help);
  if (auto at = text.find("{methods}"); at != std::string::npos) {
    text.replace(at, 9, supported_cipher_names());
  }
  return text;
}

std::string help_of(const key_spec& key, const flag_spec& flag, program prog) {
  return flag.help.empty() ? help_of(key, prog) : std::string(flag.help);
}

namespace {

// Where CLI11 puts what it parsed for one flag of a key.
struct flag_storage {
  const key_spec* key = nullptr;
  const flag_spec* flag = nullptr;
  std::string text;                // a flag that takes a value
  std::vector<std::string> texts;  // a repeatable one
  bool on = false;                 // a switch
  int count = 0;                   // a counted switch (-vv)
};

// Adds the flags of every key `p` offers; returns where their values land.
std::deque<flag_storage> add_key_flags(CLI::App& app, const program_profile& p) {
  std::deque<flag_storage> out;  // a deque: CLI11 keeps pointers into the elements
  for (const auto& key : config_keys()) {
    if (!offered_on(key.programs, p.id, p.manages)) continue;
    for (const auto& flag : key.flags) {
      if (flag.name.empty()) continue;
      auto& s = out.emplace_back();
      s.key = &key;
      s.flag = &flag;
      std::string name(flag.name);
      std::string help = help_of(key, flag, p.id);
      if (key.type == value_type::count) {
        app.add_flag(name, s.count, help);
      } else if (!flag.sets.empty()) {
        app.add_flag(name, s.on, help);
      } else if (key.type == value_type::string_list) {
        // -s accumulates, as in libev; other flags take their last value.
        app.add_option(name, s.texts, help)
            ->allow_extra_args(false)
            ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
      } else {
        app.add_option(name, s.text, help)->type_name(value_name(key, flag));
      }
    }
  }
  return out;
}

// Moves what one flag was given into `out.flags` (as JSON would give it).
void store_flag(const CLI::App& app, const flag_storage& s, command_line& out) {
  const auto& key = *s.key;
  std::string flag(s.flag->name);
  auto& field = out.flags[key.name];
  if (key.type == value_type::count) {
    if (s.count > 0) field.set(std::int64_t{s.count}, flag);
  } else if (!s.flag->sets.empty()) {
    if (!s.on) return;
    if (key.type == value_type::boolean) {
      field.set(s.flag->sets == "true", flag);
    } else {
      field.set(std::string(s.flag->sets), flag);
    }
  } else if (app.count(flag) == 0) {
    return;
  } else if (key.type == value_type::string_list) {
    field.set(s.texts, flag);
  } else if (key.type == value_type::integer) {
    if (auto n = parse_integer(s.text)) {
      field.set(*n, flag);
    } else {
      out.errors.push_back({flag, "must be a whole number, not \"" + s.text + "\""});
    }
  } else {
    field.set(s.text, flag);
  }
}

}  // namespace

std::span<const command_option> command_options() noexcept {
  return options;
}

std::vector<help_line> help_lines(const program_profile& p) {
  std::vector<help_line> out;
  auto add_option = [&](std::string_view name) {
    const auto& o = option_named(name);
    if (offers(o, p)) {
      out.push_back({{std::string(name)}, o.takes_value ? "TEXT" : "", std::string(o.help)});
    }
  };
  // CLI11's order: its help and version flags, then the others as parse_command_line adds
  // them.
  out.push_back({{"-h", "--help"}, "", std::string(option_named("--help").help)});
  add_option("--version");
  add_option("-c");
  for (const auto& key : config_keys()) {
    if (!offered_on(key.programs, p.id, p.manages)) continue;
    for (const auto& flag : key.flags) {
      if (flag.name.empty()) continue;
      out.push_back(
          {{std::string(flag.name)}, value_name(key, flag), help_of(key, flag, p.id), &key, &flag});
    }
  }
  add_option("--print-url");
  add_option("--public-host");
  add_option("--keygen");
#ifndef _WIN32
  add_option("--upgrade");
#endif
#ifdef _WIN32
  add_option("--service");
#endif
  return out;
}

command_line parse_command_line(const program_profile& profile, int argc, char** argv) {
  command_line out;
  const std::string name = profile.name;
  CLI::App app{name + " " + version + " - Shadowsocks " + profile.summary, name};
  app.set_version_flag("--version", name + " " + version);
  app.get_formatter()->column_width(28);
  // getopt semantics, as in libev: a repeated flag takes its last value (-s accumulates).
  app.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);

  std::string config_path;
  add_command_option(app, "-c", profile, config_path);
  auto storage = add_key_flags(app, profile);
  add_command_option(app, "--print-url", profile, out.print_url);
  add_command_option(app, "--public-host", profile, out.public_host);
  add_command_option(app, "--keygen", profile, out.keygen);
#ifndef _WIN32
  add_command_option(app, "--upgrade", profile, out.upgrade);
#endif
#ifdef _WIN32
  add_command_option(app, "--service", profile, out.service);
#endif

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) {
      app.exit(e);  // --help or --version
      out.exit_code = 0;
    } else {
      std::fprintf(stderr, "%s: %s (see --help)\n", name.c_str(), e.what());
      out.exit_code = 2;
    }
    return out;
  }
  out.given_nothing = argc <= 1;
#ifdef _WIN32
  // PowerShell passes `-c %APPDATA%\...` as written; the command prompt has expanded it.
  if (!config_path.empty()) out.config_path = expand_environment(config_path);
#else
  if (!config_path.empty()) out.config_path = config_path;
#endif
  for (const auto& s : storage)
    store_flag(app, s, out);
  out.run = true;
  return out;
}

}  // namespace ss
