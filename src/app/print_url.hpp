#pragma once
// Private to the app layer: ss-server --print-url.

#include <string>

#include "profile.hpp"

namespace ss {

/// Prints the SIP002 URL clients need for `c` (and, on a terminal, its QR code); clients reach
/// the server at `public_host` (or its one listen address). Returns the exit code: 2 with one
/// line when no URL can be made.
int print_url(const program_profile& profile, const config& c, const std::string& public_host);

/// `--keygen`: prints a new random key for the method of the flags (`-m`, or the default) in
/// base64, good as `key` (`--key`) and as a password. Returns the exit code (2 for an unknown
/// method, with one line).
int print_new_key(const program_profile& profile, const raw_config& flags);

}  // namespace ss
