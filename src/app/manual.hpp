#pragma once
// Private to the app layer: the generated part of each program's man page (docs/man/*.1.in
// holds the rest), from the same table and texts as `--help`.

#include <string>
#include <string_view>

#include "profile.hpp"

namespace ss {

/// The body of the OPTIONS section of `p`'s man page (roff): every flag `--help` lists, in its
/// order, with its text and the configuration key it sets; then a CONFIGURATION KEYS section
/// for the keys of `p` that only the JSON file takes.
std::string manual_options(const program_profile& p);

/// `text` as roff running text: hyphens as `\-`, backslashes escaped, no line starting with a
/// control character.
std::string roff_escape(std::string_view text);

}  // namespace ss
