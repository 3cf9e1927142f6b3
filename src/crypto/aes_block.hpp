#pragma once
// Private to the crypto layer: one AES block under one key (AES-ECB without padding), what
// the 2022 edition uses for UDP separate headers and identity headers (SIP022 3.2.1, SIP023).

#include <openssl/evp.h>

#include "shadowsocks/codec/bytes.hpp"

namespace ss::detail {

/// One key (16 or 32 bytes: AES-128 or AES-256), one direction. Move-only; not thread-safe.
class aes_block {
 public:
  /// Encrypts (or, with `encrypt` false, decrypts) single blocks under `key`.
  aes_block(bytes_view key, bool encrypt);
  ~aes_block();
  aes_block(aes_block&& o) noexcept : ctx_(o.ctx_) { o.ctx_ = nullptr; }
  aes_block& operator=(aes_block&& o) noexcept;
  aes_block(const aes_block&) = delete;
  aes_block& operator=(const aes_block&) = delete;
  /// Transforms the 16 bytes at `block` in place.
  void apply(std::uint8_t* block);

 private:
  EVP_CIPHER_CTX* ctx_;
};

}  // namespace ss::detail
