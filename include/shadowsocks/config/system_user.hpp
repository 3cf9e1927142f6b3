#pragma once
/// \file The accounts of the system, for `-a user`: through glibc's name service switch, or,
/// in a build without it (SS_NO_NSS: the static build), read from /etc/passwd and /etc/group
/// as its "files" source would.

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ss {

#ifdef _WIN32
// Windows has no numeric users and groups (`-a` is refused there); the passwd(5) parsing
// stays the same.
using uid_t = std::uint32_t;
using gid_t = std::uint32_t;
#endif

/// A user to run as: ids and every group it is a member of (its primary group first).
struct system_user {
  std::string name;
  uid_t uid = 0;
  gid_t gid = 0;
  std::vector<gid_t> groups;
};

/// The user called `name`, or nothing when there is no such user.
std::optional<system_user> find_system_user(const std::string& name);

/// The entry for `name` in the text of a passwd(5) file (groups: the primary one only), or
/// nothing. Lines that are not `name:password:uid:gid:...` with numeric ids are passed over.
std::optional<system_user> find_in_passwd(std::string_view passwd, std::string_view name);

/// Adds to `user.groups` each group of a group(5) file's text that lists `user.name` as a
/// member (once each).
void add_group_memberships(std::string_view group_file, system_user& user);

}  // namespace ss
