#include "shadowsocks/crypto/aead.hpp"

#include <openssl/evp.h>

#include <cassert>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <utility>

#include "openssl_objects.hpp"
#include "shadowsocks/crypto/kdf.hpp"

namespace ss {

namespace {

std::uint32_t load_le32(const std::uint8_t* p) noexcept {
  return static_cast<std::uint32_t>(p[0]) | static_cast<std::uint32_t>(p[1]) << 8 |
         static_cast<std::uint32_t>(p[2]) << 16 | static_cast<std::uint32_t>(p[3]) << 24;
}

void store_le32(std::uint8_t* p, std::uint32_t v) noexcept {
  p[0] = static_cast<std::uint8_t>(v);
  p[1] = static_cast<std::uint8_t>(v >> 8);
  p[2] = static_cast<std::uint8_t>(v >> 16);
  p[3] = static_cast<std::uint8_t>(v >> 24);
}

constexpr std::uint32_t rotl(std::uint32_t v, int n) noexcept {
  return v << n | v >> (32 - n);
}

void quarter_round(std::uint32_t* x, int a, int b, int c, int d) noexcept {
  x[a] += x[b];
  x[d] = rotl(x[d] ^ x[a], 16);
  x[c] += x[d];
  x[b] = rotl(x[b] ^ x[c], 12);
  x[a] += x[b];
  x[d] = rotl(x[d] ^ x[a], 8);
  x[c] += x[d];
  x[b] = rotl(x[b] ^ x[c], 7);
}

}  // namespace

std::array<std::uint8_t, 32> hchacha20(bytes_view key, bytes_view nonce16) {
  assert(key.size() == 32 && nonce16.size() == 16);
  // State as in ChaCha20 (RFC 8439 2.3) with the 16-byte nonce in words 12..15 and no counter;
  // the output is words 0..3 and 12..15 after 20 rounds, without the final addition.
  std::uint32_t x[16] = {0x61707865, 0x3320646e, 0x79622d32, 0x6b206574};
  for (int i = 0; i < 8; ++i)
    x[4 + i] = load_le32(key.data() + 4 * i);
  for (int i = 0; i < 4; ++i)
    x[12 + i] = load_le32(nonce16.data() + 4 * i);
  for (int round = 0; round < 10; ++round) {
    quarter_round(x, 0, 4, 8, 12);
    quarter_round(x, 1, 5, 9, 13);
    quarter_round(x, 2, 6, 10, 14);
    quarter_round(x, 3, 7, 11, 15);
    quarter_round(x, 0, 5, 10, 15);
    quarter_round(x, 1, 6, 11, 12);
    quarter_round(x, 2, 7, 8, 13);
    quarter_round(x, 3, 4, 9, 14);
  }
  std::array<std::uint8_t, 32> out{};
  for (int i = 0; i < 4; ++i)
    store_le32(out.data() + 4 * i, x[i]);
  for (int i = 0; i < 4; ++i)
    store_le32(out.data() + 16 + 4 * i, x[12 + i]);
  return out;
}

aead_cipher::aead_cipher(const cipher_info& cipher, aead_direction dir)
    : cipher_(&cipher), dir_(dir), ctx_(EVP_CIPHER_CTX_new()) {
  if (ctx_ == nullptr) {
    std::fprintf(stderr, "shadowsocks: out of memory for a cipher context\n");
    std::abort();
  }
}

aead_cipher::~aead_cipher() {
  EVP_CIPHER_CTX_free(ctx_);
  OPENSSL_cleanse(key_.data(), key_.size());
}

aead_cipher::aead_cipher(aead_cipher&& other) noexcept
    : cipher_(other.cipher_),
      dir_(other.dir_),
      ctx_(std::exchange(other.ctx_, nullptr)),
      key_(other.key_) {}

aead_cipher& aead_cipher::operator=(aead_cipher&& other) noexcept {
  if (this != &other) {
    EVP_CIPHER_CTX_free(ctx_);
    cipher_ = other.cipher_;
    dir_ = other.dir_;
    ctx_ = std::exchange(other.ctx_, nullptr);
    key_ = other.key_;
  }
  return *this;
}

void aead_cipher::set_key(bytes_view key) {
  assert(key.size() == cipher_->key_size);
  int enc = dir_ == aead_direction::seal ? 1 : 0;
  const EVP_CIPHER* evp = detail::evp_cipher(*cipher_);
  bool ok;
  if (cipher_->kind == aead_kind::xchacha20_poly1305) {
    // The ChaCha20 key changes with every nonce (HChaCha20), so keep the key for run().
    std::memcpy(key_.data(), key.data(), key.size());
    ok = EVP_CipherInit_ex2(ctx_, evp, nullptr, nullptr, enc, nullptr) == 1;
  } else {
    // Only the first key sets the cipher up; later ones (a UDP packet's, say) just re-key it.
    // Naming the cipher again would make OpenSSL free and re-create its provider context.
    const EVP_CIPHER* set = EVP_CIPHER_CTX_get0_cipher(ctx_) == nullptr ? evp : nullptr;
    ok = EVP_CipherInit_ex2(ctx_, set, key.data(), nullptr, enc, nullptr) == 1;
  }
  if (!ok) {
    std::fprintf(stderr, "shadowsocks: OpenSSL refused a %s key\n", cipher_->openssl_name);
    std::abort();
  }
}

bool aead_cipher::run(bytes_view nonce, bytes_view aad, bytes_view in, mutable_bytes out,
                      std::uint8_t* tag) {
  assert(nonce.size() == cipher_->nonce_size);
  int ok;
  if (cipher_->kind == aead_kind::xchacha20_poly1305) {
    // draft-irtf-cfrg-xchacha 2.3: subkey = HChaCha20(key, nonce[0..16]); the ChaCha20 nonce is
    // four zero bytes followed by nonce[16..24].
    auto subkey = hchacha20({key_.data(), 32}, nonce.first(16));
    std::uint8_t iv[12] = {};
    std::memcpy(iv + 4, nonce.data() + 16, 8);
    ok = EVP_CipherInit_ex2(ctx_, nullptr, subkey.data(), iv, -1, nullptr);
    OPENSSL_cleanse(subkey.data(), subkey.size());
  } else {
    // Only the nonce changes; the key schedule set in set_key() is kept.
    ok = EVP_CipherInit_ex2(ctx_, nullptr, nullptr, nonce.data(), -1, nullptr);
  }
  if (ok != 1) return false;
  int len = 0;
  if (!aad.empty() &&
      EVP_CipherUpdate(ctx_, nullptr, &len, aad.data(), static_cast<int>(aad.size())) != 1) {
    return false;
  }
  int written = 0;
  if (!in.empty()) {
    if (EVP_CipherUpdate(ctx_, out.data(), &written, in.data(), static_cast<int>(in.size())) != 1)
      return false;
  }
  if (dir_ == aead_direction::open &&
      EVP_CIPHER_CTX_ctrl(ctx_, EVP_CTRL_AEAD_SET_TAG, tag_size, tag) != 1) {
    return false;
  }
  int final_len = 0;
  std::uint8_t dummy[16];
  if (EVP_CipherFinal_ex(ctx_, out.empty() ? dummy : out.data() + written, &final_len) != 1) {
    return false;  // for open: the tag did not verify
  }
  if (dir_ == aead_direction::seal &&
      EVP_CIPHER_CTX_ctrl(ctx_, EVP_CTRL_AEAD_GET_TAG, tag_size, tag) != 1) {
    return false;
  }
  return true;
}

bool aead_cipher::seal(bytes_view nonce, bytes_view aad, bytes_view plain, mutable_bytes out) {
  assert(dir_ == aead_direction::seal && out.size() >= plain.size() + tag_size);
  return run(nonce, aad, plain, out.first(plain.size()), out.data() + plain.size());
}

bool aead_cipher::open(bytes_view nonce, bytes_view aad, bytes_view sealed, mutable_bytes out) {
  assert(dir_ == aead_direction::open && sealed.size() >= tag_size);
  std::size_t n = sealed.size() - tag_size;
  assert(out.size() >= n);
  // Copy the tag first: with in-place decryption `out` may overwrite nothing past n, but keep
  // the tag stable regardless of how the caller laid out the buffers.
  std::uint8_t tag[tag_size];
  std::memcpy(tag, sealed.data() + n, tag_size);
  return run(nonce, aad, sealed.first(n), out.first(n), tag);
}

void set_session_key(aead_cipher& c, const master_key& key, bytes_view salt) {
  std::array<std::uint8_t, max_key_size> subkey{};
  auto sub = mutable_bytes(subkey).first(key.cipher().key_size);
  if (key.cipher().is_2022()) {
    derive_subkey_2022(key.bytes(), salt, sub);
  } else {
    derive_subkey(key.bytes(), salt, sub);
  }
  c.set_key(sub);
  OPENSSL_cleanse(subkey.data(), subkey.size());
}

}  // namespace ss
