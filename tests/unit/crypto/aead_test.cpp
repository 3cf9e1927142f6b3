#include "shadowsocks/crypto/aead.hpp"

#include "test_support.hpp"

namespace ss {
namespace {

using test::bytes;

const cipher_info& method(std::string_view name) {
  return **find_cipher(name);
}

TEST(NonceCounter, IncrementsLittleEndianWithCarry) {
  nonce_counter n(12);
  EXPECT_EQ(to_hex(n.bytes()), "000000000000000000000000");
  n.increment();
  EXPECT_EQ(to_hex(n.bytes()), "010000000000000000000000");
  for (int i = 1; i < 256; ++i)
    n.increment();
  EXPECT_EQ(to_hex(n.bytes()), "000100000000000000000000");
  nonce_counter wide(24);
  EXPECT_EQ(wide.bytes().size(), 24U);
  for (int i = 0; i < 0x10001; ++i)
    wide.increment();
  EXPECT_EQ(to_hex(wide.bytes()), "010001" + std::string(42, '0'));
  n.reset();
  EXPECT_EQ(to_hex(n.bytes()), "000000000000000000000000");
}

// draft-irtf-cfrg-xchacha-03 section 2.2.1.
TEST(HChaCha20, DraftSection221) {
  auto key = from_hex("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f");
  auto nonce = from_hex("000000090000004a0000000031415927");
  EXPECT_EQ(to_hex(hchacha20(key, nonce)),
            "82413b4227b27bfed30e42508a877d73a0f9e4d58a74a853c12ec41326d3ecdc");
}

// draft-irtf-cfrg-xchacha-03 appendix A.3.1: AEAD_XChaCha20_Poly1305.
constexpr std::string_view sunscreen =
    "Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the "
    "future, sunscreen would be it.";
constexpr std::string_view xchacha_ciphertext =
    "bd6d179d3e83d43b9576579493c0e939572a1700252bfaccbed2902c21396cbb"
    "731c7f1b0b4aa6440bf3a82f4eda7e39ae64c6708c54c216cb96b72e1213b452"
    "2f8c9ba40db5d945b11b69b982c1bb9e3f3fac2bc369488f76b2383565d3fff9"
    "21f9664c97637da9768812f615c68b13b52e";
constexpr std::string_view xchacha_tag = "c0875924c1c7987947deafd8780acf49";

TEST(XChaCha20Poly1305, DraftAppendixA31Seal) {
  auto key = from_hex("808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f");
  auto nonce = from_hex("404142434445464748494a4b4c4d4e4f5051525354555657");
  auto aad = from_hex("50515253c0c1c2c3c4c5c6c7");
  auto plain = test::to_bytes(sunscreen);
  aead_cipher c(method("xchacha20-ietf-poly1305"), aead_direction::seal);
  c.set_key(key);
  bytes out(plain.size() + tag_size);
  ASSERT_TRUE(c.seal(nonce, aad, plain, out));
  EXPECT_EQ(to_hex(out), std::string(xchacha_ciphertext) + std::string(xchacha_tag));
}

TEST(XChaCha20Poly1305, DraftAppendixA31OpenInPlaceAndTamper) {
  auto key = from_hex("808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f");
  auto nonce = from_hex("404142434445464748494a4b4c4d4e4f5051525354555657");
  auto aad = from_hex("50515253c0c1c2c3c4c5c6c7");
  auto sealed = from_hex(std::string(xchacha_ciphertext) + std::string(xchacha_tag));
  aead_cipher c(method("xchacha20-ietf-poly1305"), aead_direction::open);
  c.set_key(key);
  auto buf = sealed;
  ASSERT_TRUE(c.open(nonce, aad, buf, buf));
  EXPECT_EQ(bytes(buf.begin(), buf.end() - tag_size), test::to_bytes(sunscreen));
  for (std::size_t i = 0; i < sealed.size(); i += 7) {
    auto bad = sealed;
    bad[i] ^= 0x01;
    bytes out(sealed.size() - tag_size);
    EXPECT_FALSE(c.open(nonce, aad, bad, out)) << "flipped byte " << i;
  }
  auto wrong_aad = aad;
  wrong_aad[0] ^= 0x80;
  bytes out(sealed.size() - tag_size);
  EXPECT_FALSE(c.open(nonce, wrong_aad, sealed, out));
}

TEST(AeadCipher, EveryMethodRoundTripsAndRejectsTampering) {
  for (const auto& m : supported_ciphers()) {
    auto key = test::pseudo_random(m.key_size, 7);
    aead_cipher sealer(m, aead_direction::seal);
    aead_cipher opener(m, aead_direction::open);
    sealer.set_key(key);
    opener.set_key(key);
    nonce_counter nonce(m.nonce_size);
    for (std::size_t n : {0, 1, 15, 16, 17, 1000}) {
      auto plain = test::pseudo_random(n, static_cast<std::uint32_t>(n + 1));
      bytes sealed(n + tag_size);
      ASSERT_TRUE(sealer.seal(nonce.bytes(), {}, plain, sealed)) << m.name;
      bytes opened(n);
      ASSERT_TRUE(opener.open(nonce.bytes(), {}, sealed, opened)) << m.name;
      EXPECT_EQ(opened, plain) << m.name;
      sealed[sealed.size() / 2] ^= 0x20;
      EXPECT_FALSE(opener.open(nonce.bytes(), {}, sealed, opened)) << m.name << " n=" << n;
      sealed[sealed.size() / 2] ^= 0x20;
      nonce_counter other = nonce;
      other.increment();
      EXPECT_FALSE(opener.open(other.bytes(), {}, sealed, opened)) << m.name << " wrong nonce";
      nonce.increment();
    }
  }
}

TEST(AeadCipher, MovedContextKeepsWorking) {
  const auto& m = method("aes-256-gcm");
  auto key = test::pseudo_random(32, 3);
  aead_cipher a(m, aead_direction::seal);
  a.set_key(key);
  aead_cipher b = std::move(a);
  nonce_counter nonce(12);
  bytes sealed(4 + tag_size);
  ASSERT_TRUE(b.seal(nonce.bytes(), {}, test::to_bytes("data"), sealed));
  aead_cipher opener(m, aead_direction::open);
  opener.set_key(key);
  bytes out(4);
  ASSERT_TRUE(opener.open(nonce.bytes(), {}, sealed, out));
  EXPECT_EQ(out, test::to_bytes("data"));
}

}  // namespace
}  // namespace ss
