#pragma once
/// \file BLAKE3 (the BLAKE3 paper and its reference implementation's specification): the hash,
/// the keyed hash and derive_key, with output of any length (XOF). Portable C++, one block at a
/// time; the 2022 edition uses it once per session (subkeys), never per byte of data.
/// OpenSSL 3.0 has no BLAKE3 and Debian 12 ships no C library for it.

#include <array>
#include <cstdint>
#include <string_view>

#include "shadowsocks/codec/bytes.hpp"

namespace ss {

/// An incremental BLAKE3 hasher in one of its three modes. Copyable (a copy goes on alone).
class blake3_hasher {
 public:
  /// The plain hash.
  static blake3_hasher hash() noexcept;
  /// The keyed hash (a MAC) under a 32-byte key.
  static blake3_hasher keyed(const std::array<std::uint8_t, 32>& key) noexcept;
  /// derive_key: the hasher of the key material for `context` (a hard-coded, globally unique
  /// string such as "shadowsocks 2022 session subkey").
  static blake3_hasher derive_key(std::string_view context) noexcept;

  /// Adds input.
  void update(bytes_view input) noexcept;
  /// Writes `out.size()` bytes of output (any length; the first 32 are the usual digest). Does
  /// not change the state: more input may follow.
  void finalize(mutable_bytes out) const noexcept;

 private:
  using words = std::array<std::uint32_t, 8>;
  blake3_hasher(const words& key, std::uint32_t flags) noexcept;
  void start_chunk(std::uint64_t counter) noexcept;
  void push_chunk(const words& cv, std::uint64_t total_chunks) noexcept;

  words key_;
  std::uint32_t flags_;
  // The chunk being hashed.
  words cv_;
  std::uint64_t chunk_counter_ = 0;
  std::array<std::uint8_t, 64> block_{};
  std::size_t block_len_ = 0;
  std::size_t blocks_compressed_ = 0;
  // Chaining values of completed subtrees: at most one per level of a 2^64-chunk tree.
  std::array<words, 54> stack_{};
  std::size_t stack_len_ = 0;
};

/// BLAKE3 of `input`, 32 bytes.
std::array<std::uint8_t, 32> blake3(bytes_view input) noexcept;

/// derive_key(context, material), `out.size()` bytes: SIP022's subkeys and identity keys.
void blake3_derive_key(std::string_view context, bytes_view material, mutable_bytes out) noexcept;

}  // namespace ss
