#pragma once
/// \file Shadowsocks AEAD UDP packets (shadowsocks-org aead.md):
///
///     +--------+-------------------------------------+-----+
///     | salt   | encrypted (address header + data)   | tag |
///     +--------+-------------------------------------+-----+
///     | 16..32 |            variable                 | 16  |
///
/// Every packet has a fresh random salt, its own subkey, and the all-zero nonce.

#include <cstdint>
#include <vector>

#include "shadowsocks/codec/bytes.hpp"
#include "shadowsocks/crypto/aead.hpp"
#include "shadowsocks/crypto/cipher.hpp"

namespace ss {

/// Seals and opens UDP packets under one master key. Keeps one context per direction, so a
/// packet costs one HKDF and one AEAD operation and no allocation. Not thread-safe: one per
/// socket or per thread.
class udp_packet_cipher {
 public:
  /// A packet cipher for `key`, which must outlive it.
  explicit udp_packet_cipher(const master_key& key);

  /// Bytes a packet adds to its payload: salt and tag.
  std::size_t overhead() const noexcept { return key_->cipher().salt_size + tag_size; }
  /// Seals `payload` with a fresh random salt into `out` (`payload.size() + overhead()` bytes);
  /// returns the bytes written.
  std::size_t seal(bytes_view payload, mutable_bytes out);
  /// Seals with the given salt (tests and vectors only).
  std::size_t seal(bytes_view salt, bytes_view payload, mutable_bytes out);
  /// Appends a sealed packet to `out`.
  void seal(bytes_view payload, std::vector<std::uint8_t>& out);
  /// Opens `packet` in place and returns the payload inside it; `aead_short_packet` or
  /// `aead_auth_failed` otherwise (and then `packet` holds nothing usable).
  result<bytes_view> open(mutable_bytes packet);
  /// The salt of the packet last opened (for a replay filter).
  bytes_view last_salt() const noexcept { return {salt_.data(), key_->cipher().salt_size}; }

 private:
  const master_key* key_;
  aead_cipher sealer_;
  aead_cipher opener_;
  std::array<std::uint8_t, max_salt_size> salt_{};
};

}  // namespace ss
