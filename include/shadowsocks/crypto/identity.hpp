#pragma once
/// \file Identity headers (SIP023, "EIH"): many users on one port of a 2022 server. A client
/// whose password is `iPSK:uPSK` puts, between the salt (TCP) or separate header (UDP) and the
/// rest, one 16-byte block per identity key: the first 16 bytes of BLAKE3(next key), encrypted
/// with AES under
///
///     TCP: blake3::derive_key("shadowsocks 2022 identity subkey", iPSK || salt)
///     UDP: iPSK itself, the plaintext XORed with the plaintext separate header
///
/// The server decrypts the block with its own identity key and finds the user by the hash in
/// one hash-table lookup; that user's key (uPSK) then keys the session like a single-user PSK.
/// AES methods only (SIP023 uses the AES block cipher).

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "shadowsocks/codec/bytes.hpp"
#include "shadowsocks/crypto/cipher.hpp"

namespace ss::sip022 {

/// Size of one identity header.
inline constexpr std::size_t identity_header_size = 16;
/// The first 16 bytes of BLAKE3(psk): what an identity header stands for.
using psk_hash = std::array<std::uint8_t, 16>;
/// BLAKE3(psk)[0..16].
psk_hash hash_psk(bytes_view psk) noexcept;

/// True for the methods identity headers are defined for (the AES ones).
bool supports_identity(const cipher_info& c) noexcept;

/// One user of a multi-user server.
struct user {
  std::string name;  ///< For logs and (later) per-user counters.
  master_key key;    ///< The user's PSK (uPSK).
  psk_hash hash;     ///< hash_psk(key).
};

/// The users of one server, found by the hash an identity header carries. Read-only once
/// built, so it is shared by every thread without a lock.
class user_table {
 public:
  /// Adds a user; false (and nothing added) when another user has the same key.
  bool add(std::string name, master_key key);
  /// The user whose key hashes to `h`, or null.
  const user* find(const psk_hash& h) const noexcept;
  /// The users, in the order added.
  const std::vector<std::unique_ptr<user>>& all() const noexcept { return users_; }

 private:
  struct hash_of_hash {
    std::size_t operator()(const psk_hash& h) const noexcept;
  };
  std::vector<std::unique_ptr<user>> users_;
  std::unordered_map<psk_hash, const user*, hash_of_hash> index_;
};

/// Writes the TCP identity header for `next` (the next identity key, or the user key) under
/// the identity key `ipsk` and the stream's `salt` into `out` (16 bytes).
void seal_tcp_identity(bytes_view ipsk, bytes_view salt, const psk_hash& next, std::uint8_t* out);
/// Decrypts a TCP identity header with the server's identity key: the hash it carries.
psk_hash open_tcp_identity(bytes_view ipsk, bytes_view salt, const std::uint8_t* in);

}  // namespace ss::sip022
