#include "aes_block.hpp"

#include <cassert>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <utility>

namespace ss::detail {

namespace {

const EVP_CIPHER* fetch(const char* name) {
  EVP_CIPHER* c = EVP_CIPHER_fetch(nullptr, name, nullptr);
  if (c == nullptr) {
    std::fprintf(stderr, "shadowsocks: OpenSSL cannot provide %s\n", name);
    std::abort();
  }
  return c;
}

// Fetched once for the process (a fetch takes locks; sessions are made often).
const EVP_CIPHER* ecb_cipher(std::size_t key_size) {
  static const EVP_CIPHER* aes128 = fetch("AES-128-ECB");
  static const EVP_CIPHER* aes256 = fetch("AES-256-ECB");
  return key_size == 16 ? aes128 : aes256;
}

}  // namespace

aes_block::aes_block(bytes_view key, bool encrypt) : ctx_(EVP_CIPHER_CTX_new()) {
  assert(key.size() == 16 || key.size() == 32);
  bool ok = ctx_ != nullptr &&
            EVP_CipherInit_ex2(ctx_, ecb_cipher(key.size()), key.data(), nullptr, encrypt ? 1 : 0,
                               nullptr) == 1 &&
            EVP_CIPHER_CTX_set_padding(ctx_, 0) == 1;
  if (!ok) {
    std::fprintf(stderr, "shadowsocks: cannot set up AES-ECB\n");
    std::abort();
  }
}

aes_block::~aes_block() {
  EVP_CIPHER_CTX_free(ctx_);
}

aes_block& aes_block::operator=(aes_block&& o) noexcept {
  if (this != &o) {
    EVP_CIPHER_CTX_free(ctx_);
    ctx_ = std::exchange(o.ctx_, nullptr);
  }
  return *this;
}

void aes_block::apply(std::uint8_t* block) {
  std::uint8_t out[16];
  int n = 0;
  if (EVP_CipherUpdate(ctx_, out, &n, block, 16) != 1 || n != 16) {
    std::abort();  // one block of ECB cannot fail
  }
  std::memcpy(block, out, 16);
}

}  // namespace ss::detail
