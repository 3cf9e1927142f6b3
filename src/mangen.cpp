// ss-mangen PROGRAM TEMPLATE CONFIGURATION_MD OUTPUT: a man page from its hand-written template
// (docs/man/PROGRAM.1.in, configured) with @SS_OPTIONS@ replaced by the entries generated from
// the key table, as `--help` shows them, with each key's default and meaning from
// docs/configuration.md. Run by the build; not installed.

#include <cstdio>
#include <fstream>
#include <string>
#include <string_view>

#include "app/manual.hpp"
#include "shadowsocks/config/config.hpp"

int main(int argc, char** argv) {
  if (argc != 5) {
    std::fprintf(stderr, "usage: ss-mangen PROGRAM TEMPLATE CONFIGURATION_MD OUTPUT\n");
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
  auto configuration = ss::read_text_file(argv[3]);
  auto page = ss::read_text_file(argv[2]);
  if (!configuration || !page) {
    const auto& failed = configuration ? page : configuration;
    std::fprintf(stderr, "ss-mangen: cannot read %s: %s\n", configuration ? argv[2] : argv[3],
                 failed.error().message.c_str());
    return 1;
  }
  constexpr std::string_view marker = "@SS_OPTIONS@\n";
  auto at = page->find(marker);
  if (at == std::string::npos) {
    std::fprintf(stderr, "ss-mangen: %s has no line @SS_OPTIONS@\n", argv[2]);
    return 1;
  }
  page->replace(at, marker.size(),
                ss::manual_options(*profile, ss::parse_key_docs(*configuration)));
  std::ofstream out(argv[4]);
  out << *page;
  return out ? 0 : 1;
}
