#include "manual.hpp"

#include <optional>
#include <vector>

#include "cli.hpp"

namespace ss {

namespace {

// One character of running text in roff.
void append_escaped(std::string& out, char c) {
  if (c == '\\') {
    out += "\\e";
  } else if (c == '-') {
    out += "\\-";
  } else {
    out += c;
  }
}

// `text` with a line that would start with a control character made plain.
std::string plain_start(std::string text) {
  if (!text.empty() && (text.front() == '.' || text.front() == '\'')) text.insert(0, "\\&");
  return text;
}

}  // namespace

std::string roff_escape(std::string_view text) {
  std::string out;
  for (char c : text)
    append_escaped(out, c);
  return plain_start(std::move(out));
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

key_docs parse_key_docs(std::string_view markdown) {
  key_docs out;
  bool in_table = false;
  while (!markdown.empty()) {
    auto eol = markdown.find('\n');
    auto line = markdown.substr(0, eol);
    markdown.remove_prefix(eol == std::string_view::npos ? markdown.size() : eol + 1);
    if (line.starts_with("| JSON key | flag | default | meaning |")) {
      in_table = true;
      continue;
    }
    if (!in_table || line.starts_with("| ---")) continue;
    if (!line.starts_with("| ")) {
      if (!out.empty()) break;  // the end of the table
      continue;
    }
    // Cells at every '|' that is not escaped.
    std::vector<std::string> cells(1);
    for (std::size_t i = 1; i < line.size(); ++i) {
      if (line[i] == '|' && line[i - 1] != '\\') {
        cells.emplace_back();
      } else {
        cells.back() += line[i];
      }
    }
    if (cells.size() < 4) continue;
    auto trim = [](std::string s) {
      while (!s.empty() && s.front() == ' ')
        s.erase(0, 1);
      while (!s.empty() && s.back() == ' ')
        s.pop_back();
      return s;
    };
    key_doc doc{trim(cells[2]), trim(cells[3])};
    // The backticked names of the key cell, else of the flag cell.
    const auto& names = trim(cells[0]).empty() ? cells[1] : cells[0];
    for (auto open = names.find('`'); open != std::string::npos;) {
      auto close = names.find('`', open + 1);
      if (close == std::string::npos) break;
      out.emplace(names.substr(open + 1, close - open - 1), doc);
      open = names.find('`', close + 1);
    }
  }
  return out;
}

std::string roff_from_markdown(std::string_view md) {
  std::string out;
  auto take_until = [&md](std::size_t from, std::string_view end) -> std::optional<std::size_t> {
    auto at = md.find(end, from);
    if (at == std::string_view::npos) return std::nullopt;
    return at;
  };
  for (std::size_t i = 0; i < md.size();) {
    if (md[i] == '`') {
      if (auto end = take_until(i + 1, "`")) {
        // A table cell writes a bar as \| even in code.
        std::string code(md.substr(i + 1, *end - i - 1));
        for (auto at = code.find("\\|"); at != std::string::npos; at = code.find("\\|", at))
          code.erase(at, 1);
        out += "\\fB" + roff_escape(code) + "\\fR";
        i = *end + 1;
        continue;
      }
    } else if (md.substr(i, 2) == "**") {
      if (auto end = take_until(i + 2, "**")) {
        out += "\\fB" + roff_from_markdown(md.substr(i + 2, *end - i - 2)) + "\\fR";
        i = *end + 2;
        continue;
      }
    } else if (md[i] == '*' && i + 1 < md.size() && md[i + 1] != ' ') {
      if (auto end = take_until(i + 1, "*")) {
        out += "\\fI" + roff_from_markdown(md.substr(i + 1, *end - i - 1)) + "\\fR";
        i = *end + 1;
        continue;
      }
    } else if (md[i] == '[') {
      auto close = take_until(i + 1, "](");
      auto end = close ? take_until(*close + 2, ")") : std::nullopt;
      if (close && end && md.find(']', i + 1) == *close) {
        out += roff_from_markdown(md.substr(i + 1, *close - i - 1));
        i = *end + 1;
        continue;
      }
    } else if (md.substr(i, 2) == "\\|") {
      out += '|';
      i += 2;
      continue;
    }
    append_escaped(out, md[i]);
    ++i;
  }
  return plain_start(std::move(out));
}

namespace {

// The documented default and meaning under an entry, if docs/configuration.md has them.
std::string documentation(const key_docs& docs, std::string_view name) {
  auto it = docs.find(name);
  if (it == docs.end()) return {};
  std::string out;
  if (!it->second.default_value.empty()) {
    out += ".br\nDefault: " + roff_from_markdown(it->second.default_value) + ".\n";
  }
  if (!it->second.meaning.empty()) out += ".IP\n" + roff_from_markdown(it->second.meaning) + "\n";
  return out;
}

}  // namespace

std::string manual_options(const program_profile& p, const key_docs& docs) {
  std::string out;
  for (const auto& h : help_lines(p)) {
    out += ".TP\n" + tag_line(h) + "\n" + roff_escape(h.text) + ".\n";
    if (auto note = key_note(h); !note.empty()) out += ".br\n" + note;
    if (h.names.size() == 1) {
      out += documentation(docs, h.key != nullptr && h.key->in_json ? h.key->name : h.names[0]);
    }
  }
  std::string keys;
  for (const auto& key : config_keys()) {
    bool has_flag = !key.flags[0].name.empty();
    if (!key.in_json || has_flag || !offered_on(key.programs, p.id, p.manages)) continue;
    keys += ".TP\n.B " + roff_escape(key.name) + "\n" + roff_escape(help_of(key, p.id)) + ".\n" +
            documentation(docs, key.name);
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
