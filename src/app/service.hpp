#pragma once
// Private to the app layer: `--service install|uninstall|run`, a Windows service.

#ifdef _WIN32

#include <functional>
#include <string>

#include "profile.hpp"
#include "shadowsocks/config/config.hpp"

namespace ss {

/// The service `action` of `profile` (from `argc`/`argv`): "uninstall" stops and removes it;
/// with the valid configuration `c`, "install" registers and starts it (this command line
/// without `--service`, the config path made absolute and a log file added when none is set)
/// and "run" (the service control manager's) serves through `serve`. The exit code (a problem
/// is one line on standard error); -1 when `c` is needed and null (validate it, call again).
int windows_service(const program_profile& profile, const std::string& action, const config* c,
                    int argc, char** argv, const std::function<int()>& serve);

}  // namespace ss

#endif
