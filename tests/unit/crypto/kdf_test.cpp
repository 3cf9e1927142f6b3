#include "shadowsocks/crypto/kdf.hpp"
#include "shadowsocks/crypto/cipher.hpp"

#include <set>

#include "test_support.hpp"

namespace ss {
namespace {

using test::bytes;

// The third-party Shadowsocks vector quoted in issue 2: EVP_BytesToKey("密码").
constexpr std::string_view password_key =
    "a8105204604a0b11e916f3879aae3b0bce5c69f758514149da605abbf1680194";

TEST(EvpBytesToKey, MatchesTheShadowsocksVector) {
  EXPECT_EQ(to_hex(evp_bytes_to_key("密码", 32)), password_key);
  EXPECT_EQ(to_hex(evp_bytes_to_key("密码", 24)), password_key.substr(0, 48));
  EXPECT_EQ(to_hex(evp_bytes_to_key("密码", 16)), password_key.substr(0, 32));
}

TEST(EvpBytesToKey, FirstBlockIsMd5OfThePassword) {
  // MD5("password") from RFC 1321-style known answers; the second block chains it.
  EXPECT_EQ(to_hex(evp_bytes_to_key("password", 16)), "5f4dcc3b5aa765d61d8327deb882cf99");
}

struct hkdf_case {
  const char* name;
  const char* ikm;
  const char* salt;
  const char* info;
  const char* okm;
};

// RFC 5869 appendix A, test cases 4 to 7 (the SHA-1 ones).
const hkdf_case rfc5869_sha1[] = {
    {"A.4", "0b0b0b0b0b0b0b0b0b0b0b", "000102030405060708090a0b0c", "f0f1f2f3f4f5f6f7f8f9",
     "085a01ea1b10f36933068b56efa5ad81a4f14b822f5b091568a9cdd4f155fda2c22e422478d305f3f896"},
    {"A.5",
     "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
     "202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f"
     "404142434445464748494a4b4c4d4e4f",
     "606162636465666768696a6b6c6d6e6f707172737475767778797a7b7c7d7e7f"
     "808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f"
     "a0a1a2a3a4a5a6a7a8a9aaabacadaeaf",
     "b0b1b2b3b4b5b6b7b8b9babbbcbdbebfc0c1c2c3c4c5c6c7c8c9cacbcccdcecf"
     "d0d1d2d3d4d5d6d7d8d9dadbdcdddedfe0e1e2e3e4e5e6e7e8e9eaebecedeeef"
     "f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff",
     "0bd770a74d1160f7c9f12cd5912a06ebff6adcae899d92191fe4305673ba2ffe"
     "8fa3f1a4e5ad79f3f334b3b202b2173c486ea37ce3d397ed034c7f9dfeb15c5e"
     "927336d0441f4c4300e2cff0d0900b52d3b4"},
    {"A.6", "0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b", "", "",
     "0ac1af7002b3d761d1e55298da9d0506b9ae52057220a306e07b6b87e8df21d0ea00033de03984d34918"},
    // A.7: salt "not provided", which RFC 5869 defines as HashLen zero bytes.
    {"A.7", "0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c", "", "",
     "2c91117204d745f3500d636a62f64f0ab3bae548aa53d423b0d1f27ebba6f5e5673a081d70cce7acfc48"},
};

TEST(HkdfSha1, Rfc5869TestCases4To7) {
  for (const auto& c : rfc5869_sha1) {
    bytes okm(std::string_view(c.okm).size() / 2);
    hkdf_sha1(from_hex(c.ikm), from_hex(c.salt), from_hex(c.info), okm);
    EXPECT_EQ(to_hex(okm), c.okm) << c.name;
  }
}

TEST(HkdfSha1, EmptySaltEqualsZeroSalt) {
  auto ikm = from_hex("0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c");
  bytes a(42), b(42);
  hkdf_sha1(ikm, {}, {}, a);
  hkdf_sha1(ikm, bytes(20, 0), {}, b);
  EXPECT_EQ(a, b);
}

TEST(RandomBytes, FillsAndDiffers) {
  bytes a(32), b(32);
  random_bytes(a);
  random_bytes(b);
  EXPECT_NE(a, b);
}

TEST(RandomSalt, EverySaltDiffersAcrossRefills) {
  // 100 x 32 bytes spans three refills of the reserve: no salt may repeat, none may be zero.
  std::set<bytes> seen;
  for (int i = 0; i < 100; ++i) {
    bytes s(32);
    random_salt(s);
    EXPECT_NE(s, bytes(32)) << i;
    EXPECT_TRUE(seen.insert(s).second) << i;
  }
  bytes odd(max_salt_size + 1);
  EXPECT_DEATH(random_salt(odd), "");
}

}  // namespace
}  // namespace ss
