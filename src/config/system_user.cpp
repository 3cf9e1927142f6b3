#include "shadowsocks/config/system_user.hpp"

#include <algorithm>
#include <charconv>
#include <fstream>
#include <sstream>

#if !defined(SS_NO_NSS) && !defined(_WIN32)
#include <grp.h>
#include <pwd.h>

#include <array>
#endif

namespace ss {

namespace {

// The `:`-separated fields of one line.
std::vector<std::string_view> fields_of(std::string_view line) {
  std::vector<std::string_view> out;
  for (;;) {
    auto colon = line.find(':');
    out.push_back(line.substr(0, colon));
    if (colon == std::string_view::npos) return out;
    line.remove_prefix(colon + 1);
  }
}

template <class Id>
std::optional<Id> id_of(std::string_view text) {
  unsigned long value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || end != text.data() + text.size() || text.empty() ||
      value > static_cast<unsigned long>(static_cast<Id>(-1))) {
    return std::nullopt;
  }
  return static_cast<Id>(value);
}

// Calls `f` with each line of `text`.
template <class F>
void for_each_line(std::string_view text, F f) {
  while (!text.empty()) {
    auto nl = text.find('\n');
    f(text.substr(0, nl));
    if (nl == std::string_view::npos) return;
    text.remove_prefix(nl + 1);
  }
}

#ifdef SS_NO_NSS
std::string read_whole(const char* path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}
#endif

}  // namespace

std::optional<system_user> find_in_passwd(std::string_view passwd, std::string_view name) {
  std::optional<system_user> found;
  for_each_line(passwd, [&](std::string_view line) {
    if (found || line.empty() || line.front() == '#') return;
    auto f = fields_of(line);
    if (f.size() < 4 || f[0] != name) return;
    auto uid = id_of<uid_t>(f[2]);
    auto gid = id_of<gid_t>(f[3]);
    if (!uid || !gid) return;
    found = system_user{std::string(name), *uid, *gid, {*gid}};
  });
  return found;
}

void add_group_memberships(std::string_view group_file, system_user& user) {
  for_each_line(group_file, [&](std::string_view line) {
    if (line.empty() || line.front() == '#') return;
    auto f = fields_of(line);
    if (f.size() < 4) return;
    auto gid = id_of<gid_t>(f[2]);
    if (!gid || std::find(user.groups.begin(), user.groups.end(), *gid) != user.groups.end()) {
      return;
    }
    std::string_view members = f[3];
    while (!members.empty()) {
      auto comma = members.find(',');
      if (members.substr(0, comma) == user.name) {
        user.groups.push_back(*gid);
        return;
      }
      if (comma == std::string_view::npos) return;
      members.remove_prefix(comma + 1);
    }
  });
}

std::optional<system_user> find_system_user(const std::string& name) {
  if (name.empty()) return std::nullopt;
#if defined(_WIN32)
  return std::nullopt;  // no such users on Windows
#elif defined(SS_NO_NSS)
  auto user = find_in_passwd(read_whole("/etc/passwd"), name);
  if (user) add_group_memberships(read_whole("/etc/group"), *user);
  return user;
#else
  passwd pw{};
  passwd* found = nullptr;
  std::array<char, 4096> buf{};
  if (::getpwnam_r(name.c_str(), &pw, buf.data(), buf.size(), &found) != 0 || found == nullptr) {
    return std::nullopt;
  }
  system_user user{name, pw.pw_uid, pw.pw_gid, {}};
  int count = 32;
  for (;;) {
    user.groups.resize(static_cast<std::size_t>(count));
    int want = count;
    if (::getgrouplist(name.c_str(), pw.pw_gid, user.groups.data(), &want) >= 0) {
      user.groups.resize(static_cast<std::size_t>(want));
      return user;
    }
    if (want <= count) return std::nullopt;  // should not happen: no larger size asked
    count = want;
  }
#endif
}

}  // namespace ss
