#pragma once
// Private to the app layer: the generated part of each program's man page (docs/man/*.1.in
// holds the rest), from the key table with the texts of `--help`, and each key's default and
// meaning as docs/configuration.md's key table gives them.

#include <map>
#include <string>
#include <string_view>

#include "profile.hpp"

namespace ss {

/// A row of docs/configuration.md's key table: the default and the meaning, in Markdown.
struct key_doc {
  std::string default_value;
  std::string meaning;
};
/// The documented rows by JSON key, and the rows of flags without a key by each flag.
using key_docs = std::map<std::string, key_doc, std::less<>>;

/// The rows of the table headed "| JSON key | flag | default | meaning |" in `markdown`.
key_docs parse_key_docs(std::string_view markdown);

/// The body of the OPTIONS section of `p`'s man page (roff): every flag `--help` lists, in its
/// order, with its text, the configuration key it sets, and the key's default and meaning from
/// `docs`; then a CONFIGURATION KEYS section for the keys of `p` that only the JSON file takes.
std::string manual_options(const program_profile& p, const key_docs& docs);

/// `text` as roff running text: hyphens as `\-`, backslashes escaped, no line starting with a
/// control character.
std::string roff_escape(std::string_view text);

/// One line of Markdown as roff: `code` and **strong** bold, *emphasis* italic, a link its
/// text, `\|` a bar; the rest escaped.
std::string roff_from_markdown(std::string_view markdown);

}  // namespace ss
