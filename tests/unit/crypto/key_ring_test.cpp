// Many 2017 keys on one port: the key of a stream or packet found by trying them. The streams
// of the first test are third-party vectors (quoted in issue 2), not of our making.
#include "shadowsocks/crypto/key_ring.hpp"

#include "shadowsocks/crypto/aead_stream.hpp"
#include "shadowsocks/crypto/udp_packet.hpp"
#include "test_support.hpp"

namespace ss {
namespace {

using test::bytes;

master_key key_of(std::string_view method, std::string_view password) {
  return *master_key::from_password(method, password);
}

// The salt and first sealed length of third-party streams (password "密码"), by method.
const std::pair<std::string_view, std::string_view> vector_starts[] = {
    {"aes-128-gcm", "c3b3e419f8de8c2d4701d94f5258915a967bf7b27a9e97e4cee0c00d67caa7c992f4"},
    {"aes-256-gcm",
     "5648a2d3e86fe68d7c137ad894294f8e8b57ce55eb545cb7da69b93708e2a689a4a8798171d001ed9ef8d3e1b1c8"
     "9d862604"},
    {"chacha20-ietf-poly1305",
     "8bd996a259f861d54c4b27e740a6ad23381631dae3ab69e5c0377625752fa0f5dc68c4ae6a4c6b2c4f6bdda92ffa"
     "d4e11fbf"},
};

// A ring of `n` users of `method` with passwords "user 0", "user 1", ...
key_ring users(std::size_t n, std::string_view method = "aes-256-gcm") {
  key_ring ring;
  for (std::size_t i = 0; i < n; ++i) {
    EXPECT_TRUE(ring.add("user " + std::to_string(i), key_of(method, "user " + std::to_string(i))));
  }
  return ring;
}

// The first bytes a client of `key` sends.
bytes stream_start(const master_key& key) {
  aead_stream_encoder enc(key);
  bytes out;
  enc.seal_request(*target_address::parse("example.com:443"), test::to_bytes("GET /"), out);
  return out;
}

TEST(KeyRing, FindsTheKeyOfThirdPartyStreamsAmongOthers) {
  auto ring = users(20, "chacha20-ietf-poly1305");
  for (auto [method, hex] : vector_starts)
    ASSERT_TRUE(ring.add(std::string(method), key_of(method, "密码")));
  ring.add("last", key_of("aes-128-gcm", "another"));
  for (auto [method, hex] : vector_starts) {
    auto start = from_hex(hex);
    auto found = ring.find_stream_key(start, "client");
    ASSERT_TRUE(found.index) << method;
    EXPECT_EQ(ring[*found.index].name, method);
  }
}

TEST(KeyRing, AnUnknownKeyIsNoneAfterTryingEveryKey) {
  auto ring = users(10);
  auto found = ring.find_stream_key(stream_start(key_of("aes-256-gcm", "stranger")), "client");
  EXPECT_FALSE(found.index);
  EXPECT_FALSE(found.need_more);
  EXPECT_EQ(found.tried, 10u);
  // Noise is no stream of anyone's either.
  EXPECT_FALSE(ring.find_stream_key(test::pseudo_random(200), "client").index);
}

TEST(KeyRing, TooFewBytesAskForMore) {
  auto ring = users(3);
  auto start = stream_start(ring[1].key);  // 32 bytes of salt, then the sealed length
  auto found = ring.find_stream_key(bytes_view(start).first(32 + 17), "client");
  EXPECT_FALSE(found.index);
  EXPECT_TRUE(found.need_more);
  // With one byte more, the length can be opened.
  found = ring.find_stream_key(bytes_view(start).first(32 + 18), "client");
  ASSERT_TRUE(found.index);
  EXPECT_EQ(*found.index, 1u);
}

TEST(KeyRing, MixedSaltSizesWaitOnlyForTheKeysThatNeedMore) {
  key_ring ring;
  ring.add("long salt", key_of("aes-256-gcm", "a"));
  ring.add("short salt", key_of("aes-128-gcm", "b"));
  auto start = stream_start(ring[1].key);
  // 16 + 18 bytes: enough for the aes-128-gcm key, not for the other.
  auto found = ring.find_stream_key(bytes_view(start).first(34), "client");
  ASSERT_TRUE(found.index);
  EXPECT_EQ(*found.index, 1u);
}

TEST(KeyRing, TheClientsLastKeyAndThenTheLastFoundAreTriedFirst) {
  auto ring = users(100);
  auto start_of_60 = stream_start(ring[60].key);
  auto found = ring.find_stream_key(start_of_60, "10.0.0.1");
  ASSERT_EQ(found.index, 60u);
  EXPECT_EQ(found.tried, 61u);  // cold: in the order added
  // The same client again: its last key first.
  EXPECT_EQ(ring.find_stream_key(stream_start(ring[60].key), "10.0.0.1").tried, 1u);
  // Another client of the same key: it was moved to the front.
  EXPECT_EQ(ring.find_stream_key(stream_start(ring[60].key), "10.0.0.2").tried, 1u);
  // A third key from that client: its last key, then the front (60) are tried first.
  found = ring.find_stream_key(stream_start(ring[99].key), "10.0.0.2");
  ASSERT_EQ(found.index, 99u);
  EXPECT_EQ(found.tried, 100u);
  // Now 99 leads, 60 second; 0 comes after them.
  EXPECT_EQ(ring.find_stream_key(stream_start(ring[0].key), "10.0.0.3").tried, 3u);
}

TEST(KeyRing, APacketIsOpenedWithItsKey) {
  auto ring = users(30, "chacha20-ietf-poly1305");
  ring.add("aes", key_of("aes-128-gcm", "aes user"));
  for (std::size_t who : {7u, 30u}) {
    udp_packet_cipher sealer(ring[who].key);
    bytes packet;
    bytes plain = {0x01, 0x7f, 0x00, 0x00, 0x01, 0x00, 0x35, 'p', 'a', 'y', 'l', 'o', 'a', 'd'};
    sealer.seal(plain, packet);
    bytes out(packet.size());
    bytes_view payload;
    auto found = ring.find_packet_key(packet, "client", out, payload);
    ASSERT_EQ(found.index, who);
    EXPECT_EQ(payload.size(), 14u);
    EXPECT_EQ(payload.back(), 'd');
  }
  bytes noise = test::pseudo_random(100), out(100);
  bytes_view payload;
  EXPECT_FALSE(ring.find_packet_key(noise, "client", out, payload).index);
}

TEST(KeyRing, TheSameKeyTwiceOrA2022KeyIsRefused) {
  key_ring ring;
  EXPECT_TRUE(ring.add("a", key_of("aes-256-gcm", "same")));
  EXPECT_FALSE(ring.add("b", key_of("aes-256-gcm", "same")));
  EXPECT_TRUE(ring.add("c", key_of("aes-128-gcm", "same")));  // another method: another key
  auto k2022 = master_key::from_base64("2022-blake3-aes-128-gcm", "MDEyMzQ1Njc4OWFiY2RlZg==");
  ASSERT_TRUE(k2022);
  EXPECT_FALSE(ring.add("d", *k2022));
  EXPECT_EQ(ring.size(), 2u);
}

}  // namespace
}  // namespace ss
