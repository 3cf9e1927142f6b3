#pragma once
/// \file The whole of an executable's main(): command line + JSON -> config -> run.

#include "shadowsocks/config/keys.hpp"

namespace ss {

/// Runs the executable `prog` (ss-local, ss-server, ss-tunnel) with its command line.
/// Exit codes: 0 after a clean stop, 1 when the service cannot start (a port in use), 2 for a
/// bad flag or config (one line per problem, naming the key or flag).
int run_program(program prog, int argc, char** argv);
/// Runs ss-manager: ss-server serving libev's ss-manager API too (the same exit codes).
int run_manager(int argc, char** argv);

}  // namespace ss
