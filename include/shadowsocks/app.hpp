#pragma once
/// \file The whole of an executable's main(): command line + JSON -> config -> run.

#include "shadowsocks/config.hpp"

namespace ss {

/// Project version, for `--version` and the start-up line.
inline constexpr const char* version = "0.1.0";

/// Exit codes: 0 after a clean stop, 1 when the service cannot start (a port in use), 2 for a
/// bad flag or config (one line per problem, naming the key or flag).
int run_app(app_kind kind, int argc, char** argv);

}  // namespace ss
