#include "shadowsocks/crypto/kdf.hpp"

#include <openssl/evp.h>
#include <openssl/rand.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <initializer_list>
#include <memory>

#include "openssl_objects.hpp"
#include "shadowsocks/codec/per_thread.hpp"
#include "shadowsocks/crypto/blake3.hpp"

namespace ss {

namespace {
constexpr std::size_t sha1_size = 20;
}  // namespace

std::vector<std::uint8_t> evp_bytes_to_key(std::string_view password, std::size_t key_size) {
  std::vector<std::uint8_t> key;
  key.reserve(key_size + 16);
  std::array<std::uint8_t, 16> d{};
  unsigned d_len = 0;
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  while (key.size() < key_size) {
    bool ok = ctx && EVP_DigestInit_ex2(ctx.get(), detail::evp_md5(), nullptr) == 1 &&
              (d_len == 0 || EVP_DigestUpdate(ctx.get(), d.data(), d_len) == 1) &&
              EVP_DigestUpdate(ctx.get(), password.data(), password.size()) == 1 &&
              EVP_DigestFinal_ex(ctx.get(), d.data(), &d_len) == 1;
    if (!ok) std::abort();  // MD5 over memory cannot fail once fetched
    key.insert(key.end(), d.begin(), d.begin() + d_len);
  }
  key.resize(key_size);
  return key;
}

namespace {

[[noreturn]] void hkdf_failed() {
  std::fprintf(stderr, "shadowsocks: HKDF-SHA1 failed\n");
  std::abort();  // only a programming error (absurd length) or no memory gets here
}

// SHA-1 of the concatenated `parts` on a reused digest context.
void sha1(EVP_MD_CTX* ctx, std::initializer_list<bytes_view> parts, std::uint8_t* out) {
  if (EVP_DigestInit_ex2(ctx, detail::evp_sha1(), nullptr) != 1) hkdf_failed();
  for (auto part : parts) {
    if (!part.empty() && EVP_DigestUpdate(ctx, part.data(), part.size()) != 1) hkdf_failed();
  }
  unsigned len = 0;
  if (EVP_DigestFinal_ex(ctx, out, &len) != 1 || len != sha1_size) hkdf_failed();
}

// HMAC-SHA1(key, parts...) (RFC 2104): H((K ^ opad) | H((K ^ ipad) | parts)).
void hmac_sha1(EVP_MD_CTX* ctx, bytes_view key, std::initializer_list<bytes_view> parts,
               std::uint8_t* out) {
  constexpr std::size_t block = 64;
  std::array<std::uint8_t, block> k{};
  if (key.size() > block) {
    sha1(ctx, {key}, k.data());
  } else if (!key.empty()) {
    std::memcpy(k.data(), key.data(), key.size());
  }
  std::array<std::uint8_t, block> pad{};
  std::array<std::uint8_t, sha1_size> inner{};
  for (std::size_t i = 0; i < block; ++i)
    pad[i] = k[i] ^ 0x36;
  if (EVP_DigestInit_ex2(ctx, detail::evp_sha1(), nullptr) != 1 ||
      EVP_DigestUpdate(ctx, pad.data(), pad.size()) != 1) {
    hkdf_failed();
  }
  for (auto part : parts) {
    if (!part.empty() && EVP_DigestUpdate(ctx, part.data(), part.size()) != 1) hkdf_failed();
  }
  unsigned len = 0;
  if (EVP_DigestFinal_ex(ctx, inner.data(), &len) != 1) hkdf_failed();
  for (std::size_t i = 0; i < block; ++i)
    pad[i] = k[i] ^ 0x5c;
  sha1(ctx, {pad, inner}, out);
  OPENSSL_cleanse(k.data(), k.size());
  OPENSSL_cleanse(pad.data(), pad.size());
}

}  // namespace

void hkdf_sha1(bytes_view ikm, bytes_view salt, bytes_view info, mutable_bytes out) {
  // RFC 5869 with HMAC (RFC 2104) over OpenSSL's SHA-1, on one digest context per thread,
  // instead of OpenSSL's EVP_KDF "HKDF": its per-call set-up (the digest looked up by name,
  // contexts duplicated) dominated the profile of the UDP relay, which derives a key for every
  // packet. The measurement is in docs/architecture.md ("Crypto"). The RFC 5869 vectors in
  // kdf_test check this against the specification.
  thread_local per_thread<std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)>> owned(
      EVP_MD_CTX_new(), EVP_MD_CTX_free);
  auto& ctx = *owned;
  if (!ctx) hkdf_failed();
  if (out.size() > 255 * sha1_size) hkdf_failed();
  // Extract: PRK = HMAC(salt, IKM), a missing salt being HashLen zero bytes.
  static constexpr std::array<std::uint8_t, sha1_size> no_salt{};
  std::array<std::uint8_t, sha1_size> prk{};
  hmac_sha1(ctx.get(), salt.empty() ? bytes_view(no_salt) : salt, {ikm}, prk.data());
  // Expand: T(i) = HMAC(PRK, T(i-1) | info | i), the output their concatenation.
  std::array<std::uint8_t, sha1_size> t{};
  std::size_t t_len = 0;
  for (std::size_t done = 0, i = 1; done < out.size(); ++i) {
    const auto counter = static_cast<std::uint8_t>(i);
    hmac_sha1(ctx.get(), prk, {bytes_view(t.data(), t_len), info, bytes_view(&counter, 1)},
              t.data());
    t_len = sha1_size;
    std::size_t n = std::min(sha1_size, out.size() - done);
    std::memcpy(out.data() + done, t.data(), n);
    done += n;
  }
  OPENSSL_cleanse(prk.data(), prk.size());
  OPENSSL_cleanse(t.data(), t.size());
}

void derive_subkey(bytes_view key, bytes_view salt, mutable_bytes out) {
  static constexpr std::uint8_t info[] = {'s', 's', '-', 's', 'u', 'b', 'k', 'e', 'y'};
  hkdf_sha1(key, salt, info, out);
}

void random_bytes(mutable_bytes out) {
  if (RAND_bytes(out.data(), static_cast<int>(out.size())) != 1) {
    std::fprintf(stderr, "shadowsocks: the random generator failed\n");
    std::abort();  // a predictable salt or key would be worse than stopping
  }
}

void random_salt(mutable_bytes out) {
  thread_local std::array<std::uint8_t, 1024> reserve{};
  thread_local std::size_t used = reserve.size();
  if (out.size() > max_salt_size) std::abort();  // not a salt: a caller's mistake
  if (reserve.size() - used < out.size()) {
    random_bytes(reserve);
    used = 0;
  }
  std::memcpy(out.data(), reserve.data() + used, out.size());
  // Each byte is handed out once.
  OPENSSL_cleanse(reserve.data() + used, out.size());
  used += out.size();
}

void derive_subkey_2022(bytes_view key, bytes_view salt, mutable_bytes out) {
  std::array<std::uint8_t, 64> material{};
  std::memcpy(material.data(), key.data(), key.size());
  std::memcpy(material.data() + key.size(), salt.data(), salt.size());
  blake3_derive_key("shadowsocks 2022 session subkey", {material.data(), key.size() + salt.size()},
                    out);
  OPENSSL_cleanse(material.data(), material.size());
}

}  // namespace ss
