#include "shadowsocks/crypto/udp_packet.hpp"

#include <openssl/crypto.h>

#include <cassert>
#include <cstring>

#include "shadowsocks/crypto/kdf.hpp"

namespace ss {

udp_packet_cipher::udp_packet_cipher(const master_key& key)
    : key_(&key),
      sealer_(key.cipher(), aead_direction::seal),
      opener_(key.cipher(), aead_direction::open) {}

std::size_t udp_packet_cipher::seal(bytes_view salt, bytes_view payload, mutable_bytes out) {
  const auto& c = key_->cipher();
  assert(salt.size() == c.salt_size && out.size() >= payload.size() + overhead());
  std::memmove(out.data() + c.salt_size, payload.data(), payload.size());
  std::memcpy(out.data(), salt.data(), c.salt_size);
  set_session_key(sealer_, *key_, salt);
  static constexpr std::uint8_t zero_nonce[max_nonce_size] = {};
  auto body = out.subspan(c.salt_size, payload.size() + tag_size);
  if (!sealer_.seal({zero_nonce, c.nonce_size}, {}, body.first(payload.size()), body)) {
    std::abort();  // sealing valid input cannot fail
  }
  return c.salt_size + payload.size() + tag_size;
}

std::size_t udp_packet_cipher::seal(bytes_view payload, mutable_bytes out) {
  std::array<std::uint8_t, max_salt_size> salt{};
  auto s = mutable_bytes(salt).first(key_->cipher().salt_size);
  random_salt(s);
  return seal(s, payload, out);
}

void udp_packet_cipher::seal(bytes_view payload, std::vector<std::uint8_t>& out) {
  auto old = out.size();
  out.resize(old + payload.size() + overhead());
  seal(payload, mutable_bytes(out).subspan(old));
}

result<bytes_view> udp_packet_cipher::open(mutable_bytes packet) {
  const auto& c = key_->cipher();
  if (packet.size() < overhead()) return errc::aead_short_packet;
  std::memcpy(salt_.data(), packet.data(), c.salt_size);
  set_session_key(opener_, *key_, last_salt());
  static constexpr std::uint8_t zero_nonce[max_nonce_size] = {};
  auto body = packet.subspan(c.salt_size);
  auto plain = body.first(body.size() - tag_size);
  if (!opener_.open({zero_nonce, c.nonce_size}, {}, body, plain)) {
    OPENSSL_cleanse(plain.data(), plain.size());
    return errc::aead_auth_failed;
  }
  return bytes_view(plain);
}

}  // namespace ss
