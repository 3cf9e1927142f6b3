// Base64 as libev's --key and SIP002 userinfo write it.
#include "shadowsocks/codec/base64.hpp"

#include <gtest/gtest.h>

#include "test_support.hpp"

namespace ss {
namespace {

using test::bytes;

TEST(Base64, StandardAndUrlSafeWithOrWithoutPadding) {
  bytes data{0xfb, 0xff, 0xbf, 0x00, 0x10};
  EXPECT_EQ(base64_encode(data), "+/+/ABA=");
  for (auto text : {"+/+/ABA=", "+/+/ABA", "-_-_ABA=", "-_-_ABA"}) {
    auto d = base64_decode(text);
    ASSERT_TRUE(d) << text;
    EXPECT_EQ(*d, data) << text;
  }
  EXPECT_EQ(base64_encode({}), "");
  EXPECT_EQ(base64_encode(test::to_bytes("f")), "Zg==");
  EXPECT_EQ(base64_encode(test::to_bytes("fo")), "Zm8=");
  EXPECT_EQ(base64_encode(test::to_bytes("foo")), "Zm9v");
}

TEST(Base64, RoundTripsEveryLength) {
  for (std::size_t n = 0; n < 70; ++n) {
    auto data = test::pseudo_random(n, static_cast<std::uint32_t>(n));
    auto back = base64_decode(base64_encode(data));
    ASSERT_TRUE(back);
    EXPECT_EQ(*back, data);
  }
}

TEST(Base64, RejectsGarbage) {
  for (auto bad : {"abc$", "a", "Zh==", "Zm9=", "Zm 9v", "Zm9v\n"}) {
    EXPECT_EQ(base64_decode(bad).error(), make_error_code(errc::bad_key)) << bad;
  }
}

}  // namespace
}  // namespace ss
