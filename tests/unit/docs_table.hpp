#pragma once
// The key table of docs/configuration.md as the config and app tests read it: one row per
// line starting with "| ", cells split at '|', the words in backticks of each cell.

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace ss::test {

/// One row of the documented key table: the backticked words of its first two cells.
struct doc_row {
  std::vector<std::string> keys;   ///< JSON key(s) of the first cell (empty: flag only).
  std::vector<std::string> flags;  ///< Flags of the second cell.
  std::string text;                ///< The whole row.
};

/// The backticked words of `cell`.
inline std::vector<std::string> backticked(const std::string& cell) {
  std::vector<std::string> out;
  for (auto open = cell.find('`'); open != std::string::npos; open = cell.find('`', open)) {
    auto close = cell.find('`', open + 1);
    if (close == std::string::npos) break;
    out.push_back(cell.substr(open + 1, close - open - 1));
    open = close + 1;
  }
  return out;
}

/// The rows of the first table of `path` whose header starts "| JSON key | flag |".
inline std::vector<doc_row> documented_keys(const std::string& path) {
  std::ifstream in(path);
  std::vector<doc_row> rows;
  std::string line;
  bool in_table = false;
  while (std::getline(in, line)) {
    if (line.rfind("| JSON key | flag |", 0) == 0) {
      in_table = true;
      continue;
    }
    if (!in_table) continue;
    if (line.rfind("| ", 0) != 0) {
      if (!rows.empty()) break;  // the end of the table
      continue;                  // the |---| line
    }
    std::vector<std::string> cells;
    std::stringstream s(line.substr(1));
    for (std::string cell; std::getline(s, cell, '|');)
      cells.push_back(cell);
    if (cells.size() < 2 || cells[0].find("---") != std::string::npos) continue;
    rows.push_back({backticked(cells[0]), backticked(cells[1]), line});
  }
  return rows;
}

}  // namespace ss::test
