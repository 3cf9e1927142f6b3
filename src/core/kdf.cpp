#include "shadowsocks/kdf.hpp"

#include <openssl/core_names.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <memory>

#include "openssl_objects.hpp"

namespace ss {

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

void hkdf_sha1(bytes_view ikm, bytes_view salt, bytes_view info, mutable_bytes out) {
  // One context per thread, reused: a session subkey (and every UDP packet) needs one HKDF,
  // and creating a context each time (with its digest looked up by name) showed in profiles.
  thread_local std::unique_ptr<EVP_KDF_CTX, decltype(&EVP_KDF_CTX_free)> ctx(
      EVP_KDF_CTX_new(detail::evp_hkdf()), EVP_KDF_CTX_free);
  EVP_KDF_CTX_reset(ctx.get());
  char digest[] = "SHA1";
  // OSSL_PARAM wants non-const pointers; OpenSSL only reads these buffers.
  auto* key_p = const_cast<std::uint8_t*>(ikm.data());
  auto* salt_p = const_cast<std::uint8_t*>(salt.data());
  auto* info_p = const_cast<std::uint8_t*>(info.data());
  std::array<OSSL_PARAM, 5> params{};
  std::size_t n = 0;
  params[n++] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, digest, 0);
  params[n++] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, key_p, ikm.size());
  if (!salt.empty()) {
    params[n++] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, salt_p, salt.size());
  }
  params[n++] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, info_p, info.size());
  params[n] = OSSL_PARAM_construct_end();
  if (!ctx || EVP_KDF_derive(ctx.get(), out.data(), out.size(), params.data()) != 1) {
    std::fprintf(stderr, "shadowsocks: HKDF-SHA1 failed\n");
    std::abort();  // only a programming error (empty key, absurd length) gets here
  }
}

void derive_subkey(bytes_view key, bytes_view salt, mutable_bytes out) {
  static constexpr std::uint8_t info[] = {'s', 's', '-', 's', 'u', 'b', 'k', 'e', 'y'};
  hkdf_sha1(key, salt, info, out);
}

result<std::vector<std::uint8_t>> base64_decode(std::string_view text) {
  // Accept both alphabets (libev writes standard base64, SIP002 URLs use the URL-safe one) and
  // optional padding; reject anything else so that a typo never silently yields a short key.
  while (!text.empty() && text.back() == '=')
    text.remove_suffix(1);
  if (text.size() % 4 == 1) return errc::bad_key;
  std::vector<std::uint8_t> out;
  out.reserve(text.size() * 3 / 4);
  std::uint32_t acc = 0;
  int bits = 0;
  for (char c : text) {
    int v;
    if (c >= 'A' && c <= 'Z')
      v = c - 'A';
    else if (c >= 'a' && c <= 'z')
      v = c - 'a' + 26;
    else if (c >= '0' && c <= '9')
      v = c - '0' + 52;
    else if (c == '+' || c == '-')
      v = 62;
    else if (c == '/' || c == '_')
      v = 63;
    else
      return errc::bad_key;
    acc = (acc << 6) | static_cast<std::uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<std::uint8_t>((acc >> bits) & 0xFF));
    }
  }
  // Left-over bits must be zero, or the text was not produced by an encoder.
  if ((acc & ((1U << bits) - 1)) != 0) return errc::bad_key;
  return out;
}

std::string base64_encode(bytes_view data) {
  static constexpr char alphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string s;
  s.reserve((data.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 3 <= data.size(); i += 3) {
    std::uint32_t v = data[i] << 16 | data[i + 1] << 8 | data[i + 2];
    for (int k = 3; k >= 0; --k)
      s.push_back(alphabet[(v >> (6 * k)) & 63]);
  }
  if (std::size_t rest = data.size() - i; rest > 0) {
    std::uint32_t v = data[i] << 16 | (rest == 2 ? data[i + 1] << 8 : 0);
    s.push_back(alphabet[(v >> 18) & 63]);
    s.push_back(alphabet[(v >> 12) & 63]);
    s.push_back(rest == 2 ? alphabet[(v >> 6) & 63] : '=');
    s.push_back('=');
  }
  return s;
}

void random_bytes(mutable_bytes out) {
  if (RAND_bytes(out.data(), static_cast<int>(out.size())) != 1) {
    std::fprintf(stderr, "shadowsocks: the random generator failed\n");
    std::abort();  // a predictable salt or key would be worse than stopping
  }
}

}  // namespace ss
