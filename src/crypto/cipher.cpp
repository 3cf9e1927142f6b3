#include "shadowsocks/crypto/cipher.hpp"

#include <openssl/evp.h>
#include <openssl/kdf.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstdlib>

#include "openssl_objects.hpp"
#include "shadowsocks/codec/base64.hpp"
#include "shadowsocks/crypto/blake3.hpp"
#include "shadowsocks/crypto/kdf.hpp"

namespace ss {
namespace {

// Sizes from shadowsocks-org aead.md and libev's crypto.c (xchacha20 from libev's aead.c).
// The 2022 methods from SIP022 2.1 and 4 (the key is the PSK; salts are as long as keys).
constexpr std::array<cipher_info, 8> ciphers{{
    {"aes-128-gcm", aead_kind::aes_gcm, 16, 16, 12, 16, "AES-128-GCM"},
    {"aes-192-gcm", aead_kind::aes_gcm, 24, 24, 12, 16, "AES-192-GCM"},
    {"aes-256-gcm", aead_kind::aes_gcm, 32, 32, 12, 16, "AES-256-GCM"},
    {"chacha20-ietf-poly1305", aead_kind::chacha20_poly1305, 32, 32, 12, 16, "ChaCha20-Poly1305"},
    {"xchacha20-ietf-poly1305", aead_kind::xchacha20_poly1305, 32, 32, 24, 16, "ChaCha20-Poly1305"},
    {"2022-blake3-aes-128-gcm", aead_kind::aes_gcm, 16, 16, 12, 16, "AES-128-GCM",
     edition::aead_2022},
    {"2022-blake3-aes-256-gcm", aead_kind::aes_gcm, 32, 32, 12, 16, "AES-256-GCM",
     edition::aead_2022},
    {"2022-blake3-chacha20-poly1305", aead_kind::chacha20_poly1305, 32, 32, 12, 16,
     "ChaCha20-Poly1305", edition::aead_2022},
}};

// Names users may carry over from old configs: stream ciphers (no integrity, actively
// exploitable, deprecated by shadowsocks-org) and "none"/"plain".
constexpr std::array<std::string_view, 24> legacy_names{"none",
                                                        "plain",
                                                        "table",
                                                        "rc4",
                                                        "rc4-md5",
                                                        "aes-128-cfb",
                                                        "aes-192-cfb",
                                                        "aes-256-cfb",
                                                        "aes-128-ctr",
                                                        "aes-192-ctr",
                                                        "aes-256-ctr",
                                                        "bf-cfb",
                                                        "camellia-128-cfb",
                                                        "camellia-192-cfb",
                                                        "camellia-256-cfb",
                                                        "cast5-cfb",
                                                        "des-cfb",
                                                        "idea-cfb",
                                                        "rc2-cfb",
                                                        "seed-cfb",
                                                        "salsa20",
                                                        "chacha20",
                                                        "chacha20-ietf",
                                                        "aes-256-ofb"};

[[noreturn]] void fatal(const char* what) {
  std::fprintf(stderr, "shadowsocks: OpenSSL cannot provide %s\n", what);
  std::abort();
}

}  // namespace

namespace detail {

const EVP_CIPHER* evp_cipher(const cipher_info& c) {
  // One slot per registry entry, filled once (static locals are initialised thread-safely).
  static const std::array<EVP_CIPHER*, ciphers.size()> fetched = [] {
    std::array<EVP_CIPHER*, ciphers.size()> out{};
    for (std::size_t i = 0; i < ciphers.size(); ++i) {
      out[i] = EVP_CIPHER_fetch(nullptr, ciphers[i].openssl_name, nullptr);
      if (out[i] == nullptr) fatal(ciphers[i].openssl_name);
    }
    return out;
  }();
  return fetched[static_cast<std::size_t>(&c - ciphers.data())];
}

namespace {
EVP_MD* fetch_digest(const char* name) {
  EVP_MD* m = EVP_MD_fetch(nullptr, name, nullptr);
  if (m == nullptr) fatal(name);
  return m;
}
}  // namespace

const EVP_MD* evp_md5() {
  static const EVP_MD* md = fetch_digest("MD5");
  return md;
}

const EVP_MD* evp_sha1() {
  static const EVP_MD* md = fetch_digest("SHA1");
  return md;
}

}  // namespace detail

std::span<const cipher_info> supported_ciphers() noexcept {
  return ciphers;
}

result<const cipher_info*> find_cipher(std::string_view name) {
  for (const auto& c : ciphers) {
    if (c.name == name) return &c;
  }
  return errc::unknown_method;
}

std::string supported_cipher_names() {
  std::string s;
  for (const auto& c : ciphers) {
    if (!s.empty()) s += ", ";
    s += c.name;
  }
  return s;
}

std::string describe_unknown_method(std::string_view name) {
  std::string why = "is not supported";
  for (auto legacy : legacy_names) {
    if (legacy == name) {
      why = name == "none" || name == "plain" || name == "table"
                ? "sends traffic without encryption and is not supported"
                : "is a stream cipher without integrity protection and is not supported";
    }
  }
  return "method \"" + std::string(name) + "\" " + why + "; supported: " + supported_cipher_names();
}

result<master_key> master_key::from_password(std::string_view method, std::string_view password) {
  auto c = find_cipher(method);
  if (!c) return c.error();
  if ((*c)->is_2022()) return errc::bad_key;
  return master_key(*c, evp_bytes_to_key(password, (*c)->key_size));
}

result<master_key> master_key::from_base64(std::string_view method, std::string_view base64) {
  auto c = find_cipher(method);
  if (!c) return c.error();
  auto key = base64_decode(base64);
  if (!key) return key.error();
  return from_bytes(**c, *key);
}

result<master_key> master_key::from_bytes(const cipher_info& cipher, bytes_view key) {
  if (key.size() != cipher.key_size) return errc::bad_key;
  return master_key(&cipher, std::vector<std::uint8_t>(key.begin(), key.end()));
}

void master_key::set_identity_keys(std::vector<std::vector<std::uint8_t>> keys) {
  identities_.clear();
  for (std::size_t i = 0; i < keys.size(); ++i) {
    bytes_view next = i + 1 < keys.size() ? bytes_view(keys[i + 1]) : bytes_view(key_);
    auto h = blake3(next);
    identity id{std::move(keys[i]), {}};
    std::copy_n(h.begin(), id.next_hash.size(), id.next_hash.begin());
    identities_.push_back(std::move(id));
  }
}

}  // namespace ss
