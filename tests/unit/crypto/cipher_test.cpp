#include "shadowsocks/crypto/cipher.hpp"

#include "test_support.hpp"

namespace ss {
namespace {

TEST(CipherRegistry, SizesOfEveryMethod) {
  struct want {
    const char* name;
    std::size_t key, salt, nonce;
  };
  for (auto w :
       {want{"aes-128-gcm", 16, 16, 12}, want{"aes-192-gcm", 24, 24, 12},
        want{"aes-256-gcm", 32, 32, 12}, want{"chacha20-ietf-poly1305", 32, 32, 12},
        want{"xchacha20-ietf-poly1305", 32, 32, 24}, want{"2022-blake3-aes-128-gcm", 16, 16, 12},
        want{"2022-blake3-aes-256-gcm", 32, 32, 12},
        want{"2022-blake3-chacha20-poly1305", 32, 32, 12}}) {
    auto c = find_cipher(w.name);
    ASSERT_TRUE(c) << w.name;
    EXPECT_EQ((*c)->key_size, w.key) << w.name;
    EXPECT_EQ((*c)->salt_size, w.salt) << w.name;
    EXPECT_EQ((*c)->nonce_size, w.nonce) << w.name;
    EXPECT_EQ((*c)->tag_size, 16U) << w.name;
    EXPECT_EQ((*c)->is_2022(), std::string_view(w.name).starts_with("2022-")) << w.name;
  }
  EXPECT_EQ(supported_ciphers().size(), 8U);
}

TEST(CipherRegistry, RefusesUnknownStreamAndNoneWithTheList) {
  for (auto name : {"rc4-md5", "aes-256-cfb", "none", "plain", "AES-256-GCM", "", "aes-256"}) {
    EXPECT_EQ(find_cipher(name).error(), make_error_code(errc::unknown_method)) << name;
    auto why = describe_unknown_method(name);
    EXPECT_NE(why.find("supported: aes-128-gcm, aes-192-gcm, aes-256-gcm, "
                       "chacha20-ietf-poly1305, xchacha20-ietf-poly1305, 2022-blake3-aes-128-gcm, "
                       "2022-blake3-aes-256-gcm, 2022-blake3-chacha20-poly1305"),
              std::string::npos)
        << why;
  }
  EXPECT_NE(describe_unknown_method("rc4-md5").find("stream cipher"), std::string::npos);
  EXPECT_NE(describe_unknown_method("none").find("without encryption"), std::string::npos);
}

TEST(MasterKey, FromPasswordBase64AndBytes) {
  auto from_password = master_key::from_password("aes-256-gcm", "密码");
  ASSERT_TRUE(from_password);
  EXPECT_EQ(to_hex(from_password->bytes()),
            "a8105204604a0b11e916f3879aae3b0bce5c69f758514149da605abbf1680194");
  // The same key given as base64, as libev's --key takes it.
  auto from_b64 =
      master_key::from_base64("aes-256-gcm", "qBBSBGBKCxHpFvOHmq47C85cafdYUUFJ2mBau/FoAZQ=");
  ASSERT_TRUE(from_b64);
  EXPECT_EQ(to_hex(from_b64->bytes()), to_hex(from_password->bytes()));
  EXPECT_EQ(master_key::from_base64("aes-128-gcm", "qBBSBGBKCxHpFvOHmq47C85cafdYUUFJ2mBau/FoAZQ=")
                .error(),
            make_error_code(errc::bad_key));
  EXPECT_EQ(master_key::from_base64("aes-256-gcm", "not base64!").error(),
            make_error_code(errc::bad_key));
  EXPECT_EQ(master_key::from_password("rc4-md5", "x").error(),
            make_error_code(errc::unknown_method));
}

TEST(MasterKey, The2022MethodsTakeOnlyAKeyOfTheirSize) {
  // SIP022 2.1: no key is ever derived from a password for these methods.
  EXPECT_EQ(master_key::from_password("2022-blake3-aes-256-gcm", "a long password").error(),
            make_error_code(errc::bad_key));
  auto psk = master_key::from_base64("2022-blake3-aes-128-gcm", "AAECAwQFBgcICQoLDA0ODw==");
  ASSERT_TRUE(psk);
  EXPECT_EQ(to_hex(psk->bytes()), "000102030405060708090a0b0c0d0e0f");
  EXPECT_EQ(master_key::from_base64("2022-blake3-aes-256-gcm", "AAECAwQFBgcICQoLDA0ODw==").error(),
            make_error_code(errc::bad_key));
}

}  // namespace
}  // namespace ss
