// ss-mangen PROGRAM TEMPLATE OUTPUT: a man page from its hand-written template
// (docs/man/PROGRAM.1.in, configured) with @SS_OPTIONS@ replaced by the entries generated from
// the key table, as `--help` shows them. Run by the build; not installed.

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>

#include "app/manual.hpp"

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: ss-mangen PROGRAM TEMPLATE OUTPUT\n");
    return 2;
  }
  const std::string_view name = argv[1];
  const ss::program_profile* profile = nullptr;
  if (name == "ss-manager") {
    profile = &ss::manager_profile();
  } else {
    for (auto p :
         {ss::program::local, ss::program::server, ss::program::tunnel, ss::program::redir}) {
      if (name == ss::profile_of(p).name) profile = &ss::profile_of(p);
    }
  }
  if (profile == nullptr) {
    std::fprintf(stderr, "ss-mangen: no program %s\n", argv[1]);
    return 2;
  }
  std::ifstream in(argv[2]);
  std::stringstream text;
  text << in.rdbuf();
  std::string page = text.str();
  constexpr std::string_view marker = "@SS_OPTIONS@\n";
  auto at = page.find(marker);
  if (!in || at == std::string::npos) {
    std::fprintf(stderr, "ss-mangen: %s has no line @SS_OPTIONS@\n", argv[2]);
    return 1;
  }
  page.replace(at, marker.size(), ss::manual_options(*profile));
  std::ofstream out(argv[3]);
  out << page;
  return out ? 0 : 1;
}
