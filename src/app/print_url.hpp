#pragma once
// Private to the app layer: ss-server --print-url.

#include <string>

#include "profile.hpp"

namespace ss {

/// Prints the SIP002 URL clients need for `c` (and, on a terminal, its QR code); clients reach
/// the server at `public_host` (or its one listen address). Returns the exit code: 2 with one
/// line when no URL can be made.
int print_url(const program_profile& profile, const config& c, const std::string& public_host);

}  // namespace ss
