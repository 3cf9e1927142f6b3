#pragma once
/// \file Several 2017 AEAD keys on one port, as outline-ss-server serves its access keys: the
/// key of a TCP stream or a UDP packet is the one whose session key opens it, found by trying
/// the keys, the likeliest first (the key that last succeeded from the client's address, then
/// the keys in the order they were last found).

#include <cstdint>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "shadowsocks/codec/bytes.hpp"
#include "shadowsocks/crypto/cipher.hpp"

namespace ss {

/// The keys of one port. Adding is done before it is shared; searching is thread-safe (a
/// short lock around the order, none while trying keys).
class key_ring {
 public:
  /// One key and whose it is.
  struct member {
    std::string name;  ///< The user's name (for logs and metrics).
    master_key key;    ///< A key of a 2017 AEAD method.
  };

  /// What a search found.
  struct outcome {
    std::optional<std::size_t> index;  ///< The key's index; empty when none opened it.
    bool need_more = false;  ///< No key opened it, but some need more bytes than there were.
    std::size_t tried = 0;   ///< Keys tried (for the measurements).
  };

  key_ring() = default;
  key_ring(const key_ring& other);
  key_ring& operator=(const key_ring&) = delete;

  /// Adds a key; false (and nothing added) when it is not a 2017 AEAD key or another member
  /// has the same method and key.
  bool add(std::string name, const master_key& key);
  /// The members, in the order added.
  std::span<const member> members() const noexcept { return members_; }
  /// The member at `i`.
  const member& operator[](std::size_t i) const { return members_[i]; }
  /// How many keys.
  std::size_t size() const noexcept { return members_.size(); }

  /// The key of the TCP stream that starts with `start` (its salt, then its sealed length):
  /// the first whose session key opens the length. `client` is the sender's address (its
  /// bytes), whose last key is tried first.
  outcome find_stream_key(bytes_view start, std::string_view client) const;
  /// The key of the UDP packet `packet` (salt, sealed payload): the first that opens it; the
  /// payload goes to `out` (at least `packet.size()` bytes) and is `payload`.
  outcome find_packet_key(bytes_view packet, std::string_view client, mutable_bytes out,
                          bytes_view& payload) const;

 private:
  template <class Try>
  outcome search(std::string_view client, Try&& attempt) const;
  void found(std::size_t index, std::string_view client) const;

  std::vector<member> members_;
  mutable std::mutex mu_;
  mutable std::vector<std::uint32_t> order_;  // indices, the most recently found first
  mutable std::unordered_map<std::string, std::uint32_t> last_by_client_;
};

}  // namespace ss
