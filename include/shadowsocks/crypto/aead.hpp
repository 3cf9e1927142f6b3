#pragma once
/// \file One AEAD direction on OpenSSL EVP: the key schedule is set once per session and only
/// the nonce changes per operation. Plus the little-endian nonce counter and HChaCha20.

#include <array>
#include <cstdint>

#include "shadowsocks/codec/bytes.hpp"
#include "shadowsocks/crypto/cipher.hpp"

struct evp_cipher_ctx_st;

namespace ss {

/// Whether a context seals (encrypts) or opens (decrypts).
enum class aead_direction : std::uint8_t { seal, open };

/// A 12- or 24-byte nonce, incremented as an unsigned little-endian integer (SIP004).
class nonce_counter {
 public:
  /// All zero, `size` bytes (12 or 24).
  explicit nonce_counter(std::size_t size) noexcept : size_(size) {}
  /// The current nonce.
  bytes_view bytes() const noexcept { return {n_.data(), size_}; }
  /// Adds one, little-endian, wrapping at 2^(8*size).
  void increment() noexcept {
    for (std::size_t i = 0; i < size_; ++i) {
      if (++n_[i] != 0) break;
    }
  }
  /// Back to zero.
  void reset() noexcept { n_.fill(0); }

 private:
  std::array<std::uint8_t, max_nonce_size> n_{};
  std::size_t size_;
};

/// One AEAD context of one method and one direction. Move-only; not thread-safe.
class aead_cipher {
 public:
  /// A context with no key yet.
  aead_cipher(const cipher_info& cipher, aead_direction dir);
  ~aead_cipher();
  /// Moves the context.
  aead_cipher(aead_cipher&& other) noexcept;
  /// Moves the context.
  aead_cipher& operator=(aead_cipher&& other) noexcept;
  aead_cipher(const aead_cipher&) = delete;
  aead_cipher& operator=(const aead_cipher&) = delete;

  /// Sets the (sub)key: the key schedule is computed here, once per session.
  void set_key(bytes_view key);
  /// Encrypts `plain` into `out` (plain.size() + 16 bytes: ciphertext then tag). `out` may start
  /// at `plain.data()` (in place). Returns false only if OpenSSL fails.
  bool seal(bytes_view nonce, bytes_view aad, bytes_view plain, mutable_bytes out);
  /// Decrypts `sealed` (ciphertext then tag) into `out` (sealed.size() - 16 bytes), which may
  /// start at `sealed.data()`. False when the tag does not verify; `out` then holds no
  /// authenticated data and must not be used.
  bool open(bytes_view nonce, bytes_view aad, bytes_view sealed, mutable_bytes out);
  /// The method.
  const cipher_info& cipher() const noexcept { return *cipher_; }

 private:
  bool run(bytes_view nonce, bytes_view aad, bytes_view in, mutable_bytes out, std::uint8_t* tag);
  const cipher_info* cipher_;
  aead_direction dir_;
  evp_cipher_ctx_st* ctx_ = nullptr;
  std::array<std::uint8_t, max_key_size> key_{};  // only XChaCha20 needs it after set_key
};

/// Keys `c` with the session subkey of `salt`: HKDF-SHA1(master key, salt, "ss-subkey"), or
/// for the 2022 methods BLAKE3 derive_key over key || salt. The context (and its allocation)
/// is reused.
void set_session_key(aead_cipher& c, const master_key& key, bytes_view salt);

/// HChaCha20 (draft-irtf-cfrg-xchacha section 2.2): a 32-byte subkey from a 32-byte key and a
/// 16-byte nonce.
std::array<std::uint8_t, 32> hchacha20(bytes_view key, bytes_view nonce16);

}  // namespace ss
