// `--service install|uninstall|run` (service.hpp): a Windows service that starts at boot, over
// the service control manager's interface in the platform seam (platform_windows.cpp).
#ifdef _WIN32

#include "service.hpp"

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <system_error>
#include <vector>

#include "shadowsocks/runtime/platform.hpp"

namespace ss {

namespace {

// How long `uninstall` waits for the service's connections to drain.
constexpr std::chrono::seconds uninstall_wait{30};

std::string service_name(const program_profile& profile) {
  return std::string("shadowsocks-cpp-") + profile.name;
}

// The service's arguments: ours without `--service ACTION`, `-c`'s path absolute (a service
// starts in the system folder), and a log file where none is set (a service has no console).
std::vector<std::string> service_args(const program_profile& profile, const config& c, int argc,
                                      char** argv) {
  std::vector<std::string> out{"--service", "run"};
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--service" && i + 1 < argc) {
      ++i;
      continue;
    }
    if (a.starts_with("--service=")) continue;
    out.push_back(a);
    if (a == "-c" && i + 1 < argc) {
      std::error_code ec;
      auto absolute = std::filesystem::absolute(argv[++i], ec);
      out.push_back(ec ? std::string(argv[i]) : absolute.string());
    }
  }
  if (c.log_file.empty()) {
    const char* data = std::getenv("ProgramData");
    std::filesystem::path dir =
        std::filesystem::path(data != nullptr ? data : "C:\\ProgramData") / "shadowsocks-cpp";
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    out.push_back("--log-file");
    out.push_back((dir / (std::string(profile.name) + ".log")).string());
  }
  return out;
}

}  // namespace

std::optional<int> service_without_config(const program_profile& profile,
                                          const std::string& action) {
  if (action != "run" && action != "install" && action != "uninstall") {
    std::fprintf(stderr, "%s: --service: must be install, uninstall or run, not \"%s\"\n",
                 profile.name, action.c_str());
    return 2;
  }
  if (action != "uninstall") return std::nullopt;
  const std::string name = service_name(profile);
  if (auto removed = platform::uninstall_service(name, uninstall_wait); !removed) {
    std::fprintf(stderr, "%s: --service uninstall: %s\n", profile.name,
                 removed.error().message.c_str());
    return 1;
  }
  std::printf("%s: service %s stopped and removed\n", profile.name, name.c_str());
  return 0;
}

int service_with_config(const program_profile& profile, const std::string& action, const config& c,
                        int argc, char** argv, const std::function<int()>& serve) {
  const std::string name = service_name(profile);
  if (action == "run") {
    auto ran = platform::run_as_service(name, serve);
    if (!ran) {
      std::fprintf(stderr, "%s: --service run: %s\n", profile.name, ran.error().message.c_str());
      return 2;
    }
    return *ran;
  }
  // install
  auto args = service_args(profile, c, argc, argv);
  const std::string log = c.log_file.empty() ? args.back() : c.log_file;
  const std::string display = std::string("shadowsocks-cpp ") + profile.name;
  if (auto installed = platform::install_service(name, display, args); !installed) {
    std::fprintf(stderr, "%s: --service install: %s\n", profile.name,
                 installed.error().message.c_str());
    return 1;
  }
  std::printf("%s: service %s installed and started; it starts at boot (log: %s)\n", profile.name,
              name.c_str(), log.c_str());
  return 0;
}

}  // namespace ss

#endif  // _WIN32
