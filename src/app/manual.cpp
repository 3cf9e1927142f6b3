#include "manual.hpp"

#include "cli.hpp"

namespace ss {

std::string roff_escape(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (c == '\\') {
      out += "\\e";
    } else if (c == '-') {
      out += "\\-";
    } else {
      out += c;
    }
  }
  if (!out.empty() && (out.front() == '.' || out.front() == '\'')) out.insert(0, "\\&");
  return out;
}

namespace {

// The tag line of a flag's entry: `.BI \-p " NUMBER"`, `.BR \-h ", " \-\-help`.
std::string tag_line(const help_line& h) {
  if (h.names.size() > 1) {
    std::string line = ".BR";
    for (std::size_t i = 0; i < h.names.size(); ++i) {
      if (i > 0) line += " \", \"";
      line += " " + roff_escape(h.names[i]);
    }
    return line;
  }
  if (h.value.empty()) return ".B " + roff_escape(h.names.front());
  return ".BI " + roff_escape(h.names.front()) + " \" " + roff_escape(h.value) + "\"";
}

// What a key's flag does to the key, for the line under its text.
std::string key_note(const help_line& h) {
  if (h.key == nullptr || !h.key->in_json) return {};
  std::string note = "Config key: \\fB" + roff_escape(h.key->name) + "\\fR";
  if (!h.flag->sets.empty()) note += " = " + roff_escape(h.flag->sets);
  return note + ".\n";
}

}  // namespace

std::string manual_options(const program_profile& p) {
  std::string out;
  for (const auto& h : help_lines(p)) {
    out += ".TP\n" + tag_line(h) + "\n" + roff_escape(h.text) + ".\n";
    if (auto note = key_note(h); !note.empty()) out += ".br\n" + note;
  }
  std::string keys;
  for (const auto& key : config_keys()) {
    bool has_flag = !key.flags[0].name.empty();
    if (!key.in_json || has_flag || !offered_on(key.programs, p.id, p.manages)) continue;
    keys += ".TP\n.B " + roff_escape(key.name) + "\n" + roff_escape(help_of(key, p.id)) + ".\n";
  }
  if (!keys.empty()) {
    out +=
        ".SH CONFIGURATION KEYS\n"
        "Every flag above that names a config key sets that key of the JSON file. These "
        "keys have no flag:\n" +
        keys;
  }
  return out;
}

}  // namespace ss
