#include "shadowsocks/crypto/identity.hpp"

#include <openssl/crypto.h>

#include <cstring>

#include "aes_block.hpp"
#include "shadowsocks/crypto/blake3.hpp"

namespace ss::sip022 {

namespace {

constexpr std::string_view identity_context = "shadowsocks 2022 identity subkey";

// The AES key of a TCP identity header: derive_key over iPSK || salt, as long as the iPSK.
detail::aes_block identity_cipher(bytes_view ipsk, bytes_view salt, bool encrypt) {
  std::array<std::uint8_t, 64> material{};
  std::memcpy(material.data(), ipsk.data(), ipsk.size());
  std::memcpy(material.data() + ipsk.size(), salt.data(), salt.size());
  std::array<std::uint8_t, 32> subkey{};
  auto sub = mutable_bytes(subkey).first(ipsk.size());
  blake3_derive_key(identity_context, {material.data(), ipsk.size() + salt.size()}, sub);
  detail::aes_block block(sub, encrypt);
  OPENSSL_cleanse(material.data(), material.size());
  OPENSSL_cleanse(subkey.data(), subkey.size());
  return block;
}

}  // namespace

psk_hash hash_psk(bytes_view psk) noexcept {
  auto full = blake3(psk);
  psk_hash h{};
  std::memcpy(h.data(), full.data(), h.size());
  return h;
}

bool supports_identity(const cipher_info& c) noexcept {
  return c.is_2022() && c.kind == aead_kind::aes_gcm;
}

std::size_t user_table::hash_of_hash::operator()(const psk_hash& h) const noexcept {
  // The hash is BLAKE3 output of a secret key: its first bytes are as good as any hash.
  std::size_t v = 0;
  std::memcpy(&v, h.data(), sizeof v);
  return v;
}

bool user_table::add(std::string name, master_key key) {
  auto h = hash_psk(key.bytes());
  if (index_.contains(h)) return false;
  users_.push_back(std::make_unique<user>(user{std::move(name), std::move(key), h}));
  index_.emplace(h, users_.back().get());
  return true;
}

const user* user_table::find(const psk_hash& h) const noexcept {
  auto it = index_.find(h);
  return it == index_.end() ? nullptr : it->second;
}

void seal_tcp_identity(bytes_view ipsk, bytes_view salt, const psk_hash& next, std::uint8_t* out) {
  std::memcpy(out, next.data(), next.size());
  identity_cipher(ipsk, salt, true).apply(out);
}

psk_hash open_tcp_identity(bytes_view ipsk, bytes_view salt, const std::uint8_t* in) {
  psk_hash h{};
  std::memcpy(h.data(), in, h.size());
  identity_cipher(ipsk, salt, false).apply(h.data());
  return h;
}

}  // namespace ss::sip022
