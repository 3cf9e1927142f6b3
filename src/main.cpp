// shadowsocks-cpp: the one executable of every program. It picks the program by the name it
// was started under (the links ss-local, ss-server, ss-tunnel, ss-redir and ss-manager, or
// shadowsocks-rust's names sslocal, ssserver, ssmanager), or, under any other name, by its
// first argument: `shadowsocks-cpp server -c server.json`.

#ifdef _WIN32
// clang-format off
#include <winsock2.h>
#include <windows.h>
// clang-format on
#endif

#include <cstdio>
#include <optional>
#include <string>
#include <string_view>

#include "shadowsocks/app/run.hpp"
#include "version.hpp"

namespace {

enum class entry { local, server, tunnel, redir, manager };

struct entry_name {
  std::string_view name;
  entry which;
};

// Every name a program answers to: ours (libev's), shadowsocks-rust's, and the first argument.
constexpr entry_name entry_names[] = {
    {"ss-local", entry::local},  {"ss-server", entry::server},   {"ss-tunnel", entry::tunnel},
    {"ss-redir", entry::redir},  {"ss-manager", entry::manager}, {"sslocal", entry::local},
    {"ssserver", entry::server}, {"ssmanager", entry::manager},  {"local", entry::local},
    {"server", entry::server},   {"tunnel", entry::tunnel},      {"redir", entry::redir},
    {"manager", entry::manager},
};

// The program called `name` (a path's last part, without a Windows ".exe"), if any.
std::optional<entry> find_entry(std::string_view name) {
#ifdef _WIN32
  // Either separator, and any case: C:\Tools\SS-LOCAL.EXE is ss-local.
  std::string lower(name);
  for (char& c : lower)
    c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  name = lower;
  constexpr std::string_view separators = "/\\";
#else
  constexpr std::string_view separators = "/";
#endif
  if (auto slash = name.find_last_of(separators); slash != std::string_view::npos) {
    name.remove_prefix(slash + 1);
  }
  if (name.ends_with(".exe")) name.remove_suffix(4);
  for (const auto& e : entry_names) {
    if (e.name == name) return e.which;
  }
  return std::nullopt;
}

// The links' names, which the programs call themselves in messages.
constexpr const char* link_name(entry e) {
  switch (e) {
    case entry::local:
      return "ss-local";
    case entry::server:
      return "ss-server";
    case entry::tunnel:
      return "ss-tunnel";
    case entry::redir:
      return "ss-redir";
    case entry::manager:
      return "ss-manager";
  }
  return "";
}

int run(entry e, int argc, char** argv) {
  switch (e) {
    case entry::local:
      return ss::run_program(ss::program::local, argc, argv);
    case entry::server:
      return ss::run_program(ss::program::server, argc, argv);
    case entry::tunnel:
      return ss::run_program(ss::program::tunnel, argc, argv);
    case entry::redir:
      return ss::run_program(ss::program::redir, argc, argv);
    case entry::manager:
      return ss::run_manager(argc, argv);
  }
  return 2;
}

void usage(std::FILE* out) {
  std::fprintf(out,
               "shadowsocks-cpp %s - Shadowsocks client, server and manager in one program\n"
               "Usage: shadowsocks-cpp PROGRAM [OPTIONS...]\n"
               "       (or run it under the name of a program: ss-local -c local.json)\n"
               "Programs:\n"
               "  local     ss-local: SOCKS5, SOCKS4 and HTTP proxy through a server\n"
               "  server    ss-server: the server\n"
               "  tunnel    ss-tunnel: a fixed forward (TCP and UDP) through a server\n"
               "  redir     ss-redir: transparent proxy for a gateway (REDIRECT, TPROXY)\n"
               "  manager   ss-manager: many ports and users, libev's manager API\n"
               "`shadowsocks-cpp PROGRAM --help` lists a program's options.\n",
               ss::version);
}

}  // namespace

int main(int argc, char** argv) {
#ifdef _WIN32
  // The manifest makes UTF-8 the process's code page; the console shows our UTF-8 too.
  ::SetConsoleOutputCP(CP_UTF8);
#endif
  if (argc > 0) {
    if (auto e = find_entry(argv[0])) return run(*e, argc, argv);
  }
  if (argc < 2) {
    usage(stderr);
    return 2;
  }
  const std::string_view first = argv[1];
  if (first == "--help" || first == "-h" || first == "help") {
    usage(stdout);
    return 0;
  }
  if (first == "--version") {
    std::printf("shadowsocks-cpp %s\n", ss::version);
    return 0;
  }
  // Only a bare program name picks one here: a path in the first argument is an argument.
  auto e = first.find('/') == std::string_view::npos ? find_entry(first) : std::nullopt;
  if (!e) {
    std::fprintf(stderr,
                 "shadowsocks-cpp: unknown program \"%s\" (local, server, tunnel, redir or "
                 "manager; see --help)\n",
                 argv[1]);
    return 2;
  }
  // The program sees itself under its link's name, as when started through the link.
  char* name = const_cast<char*>(link_name(*e));
  argv[1] = name;
  return run(*e, argc - 1, argv + 1);
}
