#pragma once
// Private to the app layer: `--service install|uninstall|run`, a Windows service.

#ifdef _WIN32

#include <functional>
#include <optional>
#include <string>

#include "profile.hpp"
#include "shadowsocks/config/config.hpp"

namespace ss {

/// The service `action` of `profile` where it needs no configuration: a wrong action (exit
/// code 2) and "uninstall", which stops and removes the service. The exit code (a problem is
/// one line on standard error); none for "install" and "run", which need the configuration.
std::optional<int> service_without_config(const program_profile& profile,
                                          const std::string& action);

/// "install" or "run" of `profile` (from `argc`/`argv`) with its valid configuration `c`:
/// "install" registers and starts the service (this command line without `--service`, the
/// config path made absolute and a log file added when none is set); "run" (the service
/// control manager's) serves through `serve`. The exit code; a problem is one line on
/// standard error.
int service_with_config(const program_profile& profile, const std::string& action, const config& c,
                        int argc, char** argv, const std::function<int()>& serve);

}  // namespace ss

#endif
