#include "shadowsocks/crypto/aead_stream.hpp"

#include <map>

#include "test_support.hpp"

namespace ss {
namespace {

using test::bytes;

// Third-party Shadowsocks AEAD vectors quoted in issue 2: password "密码", plaintext "这是原文"
// (UTF-8, no address header), the whole TCP stream with its salt first.
const std::map<std::string, std::string> vectors = {
    {"aes-128-gcm",
     "c3b3e419f8de8c2d4701d94f5258915a967bf7b27a9e97e4cee0c00d67caa7c992f4f41d83109f0a9a6710871501"
     "b64851ffa1588c0603c168e00a4ac50b4d729203aecfddd1475b78e338bfe943662fe25f2fe49afc1f5eb0038911"
     "3d417e5e"},
    {"aes-192-gcm",
     "c58266923546894ea26c786e1cb6e35a4a15ac9b5ba83cbdf43187f7b1d53bd0bb4e61821d519c71eb2fdcea0573"
     "aaaa0a7a0ba59a3e4e966b51750b2602c740f293720a31665f879332974ad715b0cd7a8e1428d9b7c4b71f5ed07c"
     "539f7f1a296dd39ffe354924"},
    {"aes-256-gcm",
     "5648a2d3e86fe68d7c137ad894294f8e8b57ce55eb545cb7da69b93708e2a689a4a8798171d001ed9ef8d3e1b1c8"
     "9d862604ce7e0803584719ea65e0c4025800187a0e0a2c5408519e93b2279358fb81842e9c913a76ee93ee25d4dd"
     "bfb4729fcc64411054411a01a4ada4f22c5e401e"},
    {"chacha20-ietf-poly1305",
     "8bd996a259f861d54c4b27e740a6ad23381631dae3ab69e5c0377625752fa0f5dc68c4ae6a4c6b2c4f6bdda92ffa"
     "d4e11fbf5b63bf05809d419cd0b562e927b370c627f14f42b18e146c832bfb6e6bd1f58cc71333ac60943d5592a8"
     "f8148687d6008defd21c791fc199efe26dc136e5"},
    {"xchacha20-ietf-poly1305",
     "1dca4629620bfecd77133488d3e34d9594155982cf514f554f8d0332a4007742979d66ac9524d52d03d82bad6594"
     "da985a20b53a52138b5dfc95e9ead17f1e7281568e90111b0b8d26dd11a74eb36457de35505dbb99d91ef4a4848f"
     "a9c4dffb1e5938c1a9537b3c09f1bcba762a2f64"},
};

// An aes-128-gcm stream (password "密码") whose first length field is 0x4000.
constexpr std::string_view oversized_length_vector =
    "9fe197e9b49097273bd814f2955f2056527fcedc730b1c28b37f37520900ad518fb91bd61e4b8226cdb5a69109c7"
    "13e2c37db1ffb980b09aafc3a56857df3eec3cb3b10edd9aa8e257851cff2250d4cbc952cf9c5103e8311c4e9b18"
    "fa68e0734716294747c1abcc906be8a0ce33d41438795cd682cdf7b4e1949b398656543ca03ed7af3cfbcb670064"
    "6c241baa3bb39a3f175f5d127d27649876cb055d8b271f48a5abeead43ad5f9d9ac2d47b12997fa8d45f4c370dd4"
    "9b683c772b30ed092f6326980c5c";

master_key password_key(std::string_view method, std::string_view password = "密码") {
  auto k = master_key::from_password(method, password);
  EXPECT_TRUE(k) << method;
  return *k;
}

// Decodes `stream` feeding it in pieces of `step` bytes (0 = all at once); returns the
// plaintext, or the first error.
result<bytes> decode_in_steps(const master_key& key, const bytes& stream, std::size_t step) {
  aead_stream_decoder dec(key);
  bytes plain;
  std::size_t pos = 0;
  do {
    std::size_t n = step == 0 ? stream.size() : std::min(step, stream.size() - pos);
    dec.feed({stream.data() + pos, n});
    pos += n;
    for (;;) {
      auto d = dec.next();
      if (d.is_error()) return make_error_code(d.error);
      if (d.needs_more()) break;
      plain.insert(plain.end(), d.value.begin(), d.value.end());
    }
  } while (pos < stream.size());
  return plain;
}

TEST(AeadStreamVectors, DecryptToThePlaintext) {
  for (const auto& [method, hex] : vectors) {
    auto key = password_key(method);
    auto plain = decode_in_steps(key, from_hex(hex), 0);
    ASSERT_TRUE(plain) << method << ": " << plain.error().message();
    EXPECT_EQ(*plain, test::to_bytes("这是原文")) << method;
  }
}

// Outline's salt prefix: the salt starts with the prefix, the rest is fresh, and a decoder
// that knows nothing of prefixes reads the stream.
TEST(AeadStreamPrefix, TheSaltStartsWithThePrefixAndAnyDecoderReadsIt) {
  for (std::string_view method : {"aes-128-gcm", "chacha20-ietf-poly1305"}) {
    auto key = password_key(method);
    const std::size_t longest = max_salt_prefix(key.cipher());
    EXPECT_EQ(longest, key.cipher().salt_size - 12) << method;
    // Outline's TLS ClientHello prefix, as much of it as the salt takes.
    const std::string_view hello("\x16\x03\x01\x00\xa8\x01\x01", 7);
    const bytes prefix = test::to_bytes(hello.substr(0, std::min(hello.size(), longest)));
    bytes first_salt;
    for (int i = 0; i < 2; ++i) {
      auto enc = aead_stream_encoder::with_prefix(key, prefix);
      bytes stream;
      enc.seal(test::to_bytes("这是原文"), stream);
      ASSERT_GE(stream.size(), key.cipher().salt_size);
      EXPECT_TRUE(std::equal(prefix.begin(), prefix.end(), stream.begin())) << method;
      bytes salt(stream.begin(), stream.begin() + key.cipher().salt_size);
      if (i == 0) {
        first_salt = salt;
      } else {
        EXPECT_NE(salt, first_salt) << method << ": the rest of the salt is not fresh";
      }
      auto plain = decode_in_steps(key, stream, 0);
      ASSERT_TRUE(plain) << method << ": " << plain.error().message();
      EXPECT_EQ(*plain, test::to_bytes("这是原文"));
    }
  }
}

TEST(AeadStreamVectors, EncoderReproducesEveryByteGivenTheSalt) {
  // The vectors carry the plaintext in two chunks (7 + 5 bytes, splitting a UTF-8 character).
  // Sealing the same pieces under the same salt must give the stream byte for byte.
  for (const auto& [method, hex] : vectors) {
    auto key = password_key(method);
    auto stream = from_hex(hex);
    aead_stream_decoder dec(key);
    dec.feed(stream);
    std::vector<bytes> pieces;
    for (auto d = dec.next(); d.is_done(); d = dec.next())
      pieces.emplace_back(d.value.begin(), d.value.end());
    ASSERT_EQ(pieces.size(), 2U) << method;
    EXPECT_EQ(pieces[0].size(), 7U) << method;
    EXPECT_EQ(test::concat(pieces[0], pieces[1]), test::to_bytes("这是原文")) << method;

    aead_stream_encoder enc(key, dec.salt());
    bytes out;
    for (const auto& piece : pieces)
      enc.seal(piece, out);
    EXPECT_EQ(to_hex(out), hex) << method;
  }
}

TEST(AeadStreamVectors, EverySplitPointGivesTheSameResult) {
  for (const auto& [method, hex] : vectors) {
    auto key = password_key(method);
    auto stream = from_hex(hex);
    for (std::size_t cut = 0; cut <= stream.size(); ++cut) {
      aead_stream_decoder dec(key);
      bytes plain;
      for (auto part : {bytes_view(stream).first(cut), bytes_view(stream).subspan(cut)}) {
        dec.feed(part);
        for (auto d = dec.next(); d.is_done(); d = dec.next()) {
          plain.insert(plain.end(), d.value.begin(), d.value.end());
        }
      }
      EXPECT_EQ(plain, test::to_bytes("这是原文")) << method << " cut at " << cut;
    }
    auto one_by_one = decode_in_steps(key, stream, 1);
    ASSERT_TRUE(one_by_one);
    EXPECT_EQ(*one_by_one, test::to_bytes("这是原文")) << method;
  }
}

TEST(AeadStreamVectors, OversizedLengthIsRejected) {
  auto key = password_key("aes-128-gcm");
  auto stream = from_hex(oversized_length_vector);
  for (std::size_t step : {0, 1, 5, 18}) {
    auto plain = decode_in_steps(key, stream, step);
    EXPECT_EQ(plain.error(), make_error_code(errc::aead_bad_length)) << "step " << step;
  }
}

TEST(AeadStreamVectors, WrongPasswordOrMethodFails) {
  auto stream = from_hex(vectors.at("aes-256-gcm"));
  auto wrong_password = decode_in_steps(password_key("aes-256-gcm", "密"), stream, 0);
  EXPECT_EQ(wrong_password.error(), make_error_code(errc::aead_auth_failed));
  auto wrong_method = decode_in_steps(password_key("chacha20-ietf-poly1305"), stream, 0);
  EXPECT_EQ(wrong_method.error(), make_error_code(errc::aead_auth_failed));
}

TEST(AeadStream, FlippedBitAnywhereIsRejected) {
  for (const auto& [method, hex] : vectors) {
    auto key = password_key(method);
    auto stream = from_hex(hex);
    for (std::size_t i = 0; i < stream.size(); ++i) {
      for (int bit : {0, 7}) {
        auto bad = stream;
        bad[i] ^= static_cast<std::uint8_t>(1 << bit);
        auto plain = decode_in_steps(key, bad, 0);
        // A flip in the salt changes the subkey; a flip in the length may also be reported as
        // a bad length only after authentication, which fails first.
        EXPECT_EQ(plain.error(), make_error_code(errc::aead_auth_failed))
            << method << " byte " << i << " bit " << bit;
      }
    }
  }
}

TEST(AeadStream, NoPlaintextBeforeTheTagVerifies) {
  auto key = password_key("chacha20-ietf-poly1305");
  aead_stream_encoder enc(key);
  bytes stream;
  enc.seal(test::to_bytes("hello world"), stream);
  aead_stream_decoder dec(key);
  // Everything but the last byte of the payload tag: nothing may come out.
  dec.feed(bytes_view(stream).first(stream.size() - 1));
  EXPECT_TRUE(dec.next().needs_more());
  EXPECT_EQ(dec.chunks(), 0U);
  // A wrong last byte: an error, never the payload.
  bytes wrong{static_cast<std::uint8_t>(stream.back() ^ 0xFF)};
  dec.feed(wrong);
  auto d = dec.next();
  EXPECT_TRUE(d.is_error());
  EXPECT_EQ(d.error, errc::aead_auth_failed);
  // And it stays failed whatever comes next.
  dec.feed(stream);
  EXPECT_TRUE(dec.next().is_error());
}

TEST(AeadStream, RoundTripsOfEveryInterestingSizeForEveryMethod) {
  for (const auto& m : supported_ciphers()) {
    if (m.is_2022()) continue;  // aead_stream_2022_test.cpp, udp_2022_test.cpp
    auto key = *master_key::from_password(m.name, "round trip");
    for (std::size_t n : {0, 1, 0x3FFF, 0x4000, 1 << 20}) {
      auto plain = test::pseudo_random(n, static_cast<std::uint32_t>(n + 3));
      aead_stream_encoder enc(key);
      bytes stream;
      enc.seal(plain, stream);
      std::size_t chunks = (n + 0x3FFE) / 0x3FFF;
      EXPECT_EQ(stream.size(), m.salt_size + n + chunks * chunk_overhead) << m.name << " " << n;
      EXPECT_EQ(stream.size(), aead_stream_encoder(key).output_size(n));
      for (std::size_t step : {std::size_t{0}, std::size_t{4093}}) {
        auto back = decode_in_steps(key, stream, step);
        ASSERT_TRUE(back) << m.name << " n=" << n;
        EXPECT_EQ(*back, plain) << m.name << " n=" << n << " step=" << step;
      }
    }
  }
}

TEST(AeadStream, ChunkBoundariesAt0x3FFF) {
  auto key = *master_key::from_password("aes-256-gcm", "chunks");
  aead_stream_encoder enc(key);
  auto plain = test::pseudo_random(2 * 0x3FFF + 1, 9);
  bytes stream;
  enc.seal(plain, stream);
  aead_stream_decoder dec(key);
  dec.feed(stream);
  std::vector<std::size_t> sizes;
  for (auto d = dec.next(); d.is_done(); d = dec.next())
    sizes.push_back(d.value.size());
  EXPECT_EQ(sizes, (std::vector<std::size_t>{0x3FFF, 0x3FFF, 1}));
  EXPECT_EQ(dec.chunks(), 3U);
}

TEST(AeadStream, SaltComesOnceAtTheFrontAcrossCalls) {
  auto key = *master_key::from_password("aes-128-gcm", "salt");
  aead_stream_encoder enc(key);
  EXPECT_FALSE(enc.salt_sent());
  bytes stream;
  enc.seal({}, stream);  // empty input: the salt alone
  EXPECT_EQ(stream, bytes(enc.salt().begin(), enc.salt().end()));
  EXPECT_TRUE(enc.salt_sent());
  enc.seal(test::to_bytes("a"), stream);
  enc.seal(test::to_bytes("bc"), stream);
  EXPECT_EQ(stream.size(), 16 + 2 * chunk_overhead + 3);
  aead_stream_decoder dec(key);
  dec.feed(stream);
  bytes plain;
  for (auto d = dec.next(); d.is_done(); d = dec.next()) {
    plain.insert(plain.end(), d.value.begin(), d.value.end());
  }
  EXPECT_EQ(plain, test::to_bytes("abc"));
  EXPECT_TRUE(dec.has_salt());
  EXPECT_EQ(bytes(dec.salt().begin(), dec.salt().end()),
            bytes(enc.salt().begin(), enc.salt().end()));
}

TEST(AeadStream, FreshSaltPerStream) {
  auto key = *master_key::from_password("aes-256-gcm", "salts");
  aead_stream_encoder a(key), b(key);
  EXPECT_NE(bytes(a.salt().begin(), a.salt().end()), bytes(b.salt().begin(), b.salt().end()));
}

TEST(AeadStream, PrepareCommitReceivesLikeASocket) {
  auto key = *master_key::from_password("chacha20-ietf-poly1305", "socket");
  aead_stream_encoder enc(key);
  auto plain = test::pseudo_random(200000, 5);
  bytes stream;
  enc.seal(plain, stream);
  aead_stream_decoder dec(key);
  bytes out;
  std::size_t pos = 0;
  while (pos < stream.size()) {
    auto space = dec.prepare();
    ASSERT_FALSE(space.empty());
    auto n = std::min({space.size(), stream.size() - pos, std::size_t{7001}});
    std::copy_n(stream.begin() + static_cast<std::ptrdiff_t>(pos), n, space.begin());
    dec.commit(n);
    pos += n;
    for (auto d = dec.next(); d.is_done(); d = dec.next()) {
      out.insert(out.end(), d.value.begin(), d.value.end());
    }
  }
  EXPECT_EQ(out, plain);
  EXPECT_EQ(dec.buffered(), 0U);
}

TEST(AeadStream, TruncatedStreamNeedsMoreAndYieldsOnlyWholeChunks) {
  auto key = *master_key::from_password("aes-192-gcm", "trunc");
  aead_stream_encoder enc(key);
  bytes stream;
  enc.seal(test::to_bytes("first"), stream);
  auto first_len = stream.size();
  enc.seal(test::to_bytes("second"), stream);
  aead_stream_decoder dec(key);
  dec.feed(bytes_view(stream).first(first_len + 10));
  auto d = dec.next();
  ASSERT_TRUE(d.is_done());
  EXPECT_EQ(bytes(d.value.begin(), d.value.end()), test::to_bytes("first"));
  EXPECT_TRUE(dec.next().needs_more());
  EXPECT_EQ(dec.chunks(), 1U);
}

}  // namespace
}  // namespace ss
