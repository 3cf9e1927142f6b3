#pragma once
/// \file The AEAD methods we speak and their sizes (shadowsocks-org aead.md; libev crypto.c).

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "shadowsocks/codec/bytes.hpp"
#include "shadowsocks/codec/errc.hpp"

namespace ss {

/// How the AEAD is computed.
enum class aead_kind : std::uint8_t {
  aes_gcm,             ///< OpenSSL AES-{128,192,256}-GCM.
  chacha20_poly1305,   ///< OpenSSL ChaCha20-Poly1305 (RFC 8439).
  xchacha20_poly1305,  ///< HChaCha20 subkey + ChaCha20-Poly1305, as libsodium does it.
};

/// Which edition of the protocol a method belongs to.
enum class edition : std::uint8_t {
  aead_2017,  ///< SIP004 (shadowsocks-org aead.md): what shadowsocks-libev speaks.
  aead_2022,  ///< SIP022: BLAKE3 subkeys, typed headers, timestamps, session-based UDP.
};

/// One supported method and its sizes in bytes.
struct cipher_info {
  std::string_view name;     ///< The method name in configs ("aes-256-gcm").
  aead_kind kind;            ///< How to compute it.
  std::size_t key_size;      ///< Master key and session subkey.
  std::size_t salt_size;     ///< Per-session salt (equal to the key size for all of them).
  std::size_t nonce_size;    ///< 12, or 24 for XChaCha20.
  std::size_t tag_size;      ///< 16 for all of them.
  const char* openssl_name;  ///< The EVP cipher fetched for it.
  ss::edition edition = ss::edition::aead_2017;  ///< Its protocol edition.

  /// True for the 2022 edition's methods.
  constexpr bool is_2022() const noexcept { return edition == ss::edition::aead_2022; }
};

/// Largest salt of any method.
inline constexpr std::size_t max_salt_size = 32;
/// Largest nonce of any method.
inline constexpr std::size_t max_nonce_size = 24;
/// Tag size of every method.
inline constexpr std::size_t tag_size = 16;
/// Largest key of any method.
inline constexpr std::size_t max_key_size = 32;

/// Every supported method, in the order they are listed to users.
std::span<const cipher_info> supported_ciphers() noexcept;
/// The method named `name`, or `errc::unknown_method`.
result<const cipher_info*> find_cipher(std::string_view name);
/// "aes-128-gcm, aes-192-gcm, ..." for messages.
std::string supported_cipher_names();
/// A one-line explanation of why `name` is refused, naming the supported methods.
std::string describe_unknown_method(std::string_view name);

/// The pre-shared master key of a method. Shared read-only by every session.
class master_key {
 public:
  /// The key derived from `password` by EVP_BytesToKey (MD5, no salt, one round). The 2022
  /// methods take no password (SIP022 2.1 forbids deriving their key): `errc::bad_key`.
  static result<master_key> from_password(std::string_view method, std::string_view password);
  /// A key given directly as base64 (libev's `--key`); it must decode to the key size.
  static result<master_key> from_base64(std::string_view method, std::string_view base64);
  /// Raw key bytes; `errc::bad_key` unless `key.size() == cipher.key_size`.
  static result<master_key> from_bytes(const cipher_info& cipher, bytes_view key);

  /// The method.
  const cipher_info& cipher() const noexcept { return *cipher_; }
  /// The key bytes. Never log them.
  bytes_view bytes() const noexcept { return key_; }

  /// One identity key of a SIP023 client, with what its identity header carries.
  struct identity {
    std::vector<std::uint8_t> key;             ///< The iPSK.
    std::array<std::uint8_t, 16> next_hash{};  ///< BLAKE3(the key after it)[0..16].
  };
  /// SIP023 clients (a password `iPSK:uPSK`): the identity keys in front of this key (the
  /// user's), outermost first. Each must be of the method's key size.
  void set_identity_keys(std::vector<std::vector<std::uint8_t>> keys);
  /// The identity keys; empty for a single-user key.
  const std::vector<identity>& identities() const noexcept { return identities_; }

 private:
  master_key(const cipher_info* c, std::vector<std::uint8_t> k) : cipher_(c), key_(std::move(k)) {}
  const cipher_info* cipher_;
  std::vector<std::uint8_t> key_;
  std::vector<identity> identities_;
};

}  // namespace ss
