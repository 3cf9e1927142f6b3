#pragma once
/// \file The users allowed on ss-local's port (SOCKS5 username/password, RFC 1929, and HTTP
/// `Proxy-Authorization: Basic`), checked in constant time.

#include <array>
#include <cstdint>
#include <string_view>
#include <vector>

namespace ss {

/// A list of user names and passwords. Only keyed digests of them are kept (under a key made
/// at random when the table is), and a check compares with every entry in constant time: how
/// long it takes says nothing about which user, or which part of a password, matched.
class credential_table {
 public:
  /// An empty table with a fresh random key.
  credential_table();
  /// Adds a user (an empty name or password is allowed, as RFC 1929 clients send them).
  void add(std::string_view user, std::string_view password);
  /// True when `user` with `password` is one of the entries.
  bool accepts(std::string_view user, std::string_view password) const noexcept;
  /// Number of entries.
  std::size_t size() const noexcept { return digests_.size(); }
  /// True without entries.
  bool empty() const noexcept { return digests_.empty(); }

 private:
  using digest = std::array<std::uint8_t, 32>;
  digest digest_of(std::string_view user, std::string_view password) const noexcept;
  std::array<std::uint8_t, 32> key_{};
  std::vector<digest> digests_;
};

}  // namespace ss
