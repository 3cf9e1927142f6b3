#include "shadowsocks/crypto/udp_packet.hpp"

#include "shadowsocks/codec/address.hpp"
#include "test_support.hpp"

namespace ss {
namespace {

using test::bytes;

TEST(UdpPacket, EveryMethodRoundTripsWithAddressHeader) {
  for (const auto& m : supported_ciphers()) {
    if (m.is_2022()) continue;  // aead_stream_2022_test.cpp, udp_2022_test.cpp
    auto key = *master_key::from_password(m.name, "udp");
    udp_packet_cipher sealer(key), opener(key);
    for (std::size_t n : {0, 1, 512, 1400, 8192, 65000}) {
      bytes payload;
      encode_address(target_address::ipv4({127, 0, 0, 1}, 53), payload);
      auto data = test::pseudo_random(n, static_cast<std::uint32_t>(n));
      payload.insert(payload.end(), data.begin(), data.end());
      bytes packet;
      sealer.seal(payload, packet);
      EXPECT_EQ(packet.size(), m.salt_size + payload.size() + tag_size);
      auto opened = opener.open(packet);
      ASSERT_TRUE(opened) << m.name << " n=" << n;
      EXPECT_EQ(bytes(opened->begin(), opened->end()), payload) << m.name;
      EXPECT_EQ(bytes(opener.last_salt().begin(), opener.last_salt().end()),
                bytes(packet.begin(), packet.begin() + static_cast<std::ptrdiff_t>(m.salt_size)));
    }
  }
}

TEST(UdpPacket, FreshSaltPerPacket) {
  auto key = *master_key::from_password("aes-256-gcm", "udp");
  udp_packet_cipher c(key);
  bytes a, b;
  c.seal(test::to_bytes("same"), a);
  c.seal(test::to_bytes("same"), b);
  EXPECT_NE(bytes(a.begin(), a.begin() + 32), bytes(b.begin(), b.begin() + 32));
  EXPECT_NE(a, b);
}

TEST(UdpPacket, MatchesTheStreamConstructionWithNonceZero) {
  // A UDP packet is salt || AEAD(subkey, nonce 0, payload): exactly the payload half of the
  // first TCP chunk's construction. The stream vectors pin the subkey and AEAD; here the same
  // salt must give the same ciphertext as sealing directly with nonce zero.
  auto key = *master_key::from_password("chacha20-ietf-poly1305", "密码");
  auto salt = test::pseudo_random(32, 11);
  auto payload = test::to_bytes("datagram");
  udp_packet_cipher c(key);
  bytes packet(payload.size() + c.overhead());
  ASSERT_EQ(c.seal(salt, payload, packet), packet.size());
  aead_cipher direct(key.cipher(), aead_direction::seal);
  set_session_key(direct, key, salt);
  nonce_counter zero(12);
  bytes sealed(payload.size() + tag_size);
  ASSERT_TRUE(direct.seal(zero.bytes(), {}, payload, sealed));
  EXPECT_EQ(bytes(packet.begin(), packet.begin() + 32), salt);
  EXPECT_EQ(bytes(packet.begin() + 32, packet.end()), sealed);
}

TEST(UdpPacket, FlippedBitAnywhereIsRejected) {
  for (const auto& m : supported_ciphers()) {
    if (m.is_2022()) continue;  // aead_stream_2022_test.cpp, udp_2022_test.cpp
    auto key = *master_key::from_password(m.name, "udp");
    udp_packet_cipher c(key);
    bytes packet;
    c.seal(test::to_bytes("\x01\x7f\x00\x00\x01\x00\x35payload"), packet);
    for (std::size_t i = 0; i < packet.size(); ++i) {
      auto bad = packet;
      bad[i] ^= 0x04;
      EXPECT_EQ(c.open(bad).error(), make_error_code(errc::aead_auth_failed))
          << m.name << " byte " << i;
    }
  }
}

TEST(UdpPacket, ShortPacketsAreRejected) {
  auto key = *master_key::from_password("aes-128-gcm", "udp");
  udp_packet_cipher c(key);
  for (std::size_t n = 0; n < 16 + tag_size; ++n) {
    bytes packet(n, 0x41);
    EXPECT_EQ(c.open(packet).error(), make_error_code(errc::aead_short_packet)) << n;
  }
  bytes just_overhead(16 + tag_size, 0x41);
  EXPECT_EQ(c.open(just_overhead).error(), make_error_code(errc::aead_auth_failed));
}

TEST(UdpPacket, WrongKeyIsRejected) {
  auto key = *master_key::from_password("aes-256-gcm", "right");
  auto other = *master_key::from_password("aes-256-gcm", "wrong");
  udp_packet_cipher sealer(key), opener(other);
  bytes packet;
  sealer.seal(test::to_bytes("x"), packet);
  EXPECT_FALSE(opener.open(packet));
}

}  // namespace
}  // namespace ss
