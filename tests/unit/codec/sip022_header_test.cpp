// The 2022 edition's TCP headers: every split point of the fixed headers, every refusal of
// the variable header, round trips, and the timestamp window.
#include "shadowsocks/codec/sip022_header.hpp"

#include <gtest/gtest.h>

#include "test_support.hpp"

namespace ss {
namespace {

using test::bytes;

TEST(Sip022RequestFixed, EncodesAndDecodesAtEverySplit) {
  bytes msg;
  sip022::encode_request_fixed({0x0102030405060708, 0x1234}, msg);
  EXPECT_EQ(to_hex(msg),
            "00010203040506070812"
            "34");
  auto h = test::expect_decodes_at_every_split(msg, sip022::decode_request_fixed);
  EXPECT_EQ(h.timestamp, 0x0102030405060708u);
  EXPECT_EQ(h.length, 0x1234);
}

TEST(Sip022RequestFixed, AResponseTypeIsRefusedAtItsFirstByte) {
  // Our own response stream reflected back at us starts with type 1.
  bytes msg;
  sip022::encode_response_fixed(1, bytes(16, 7), 5, msg);
  test::expect_error_from(msg, 1, errc::sip022_bad_type, sip022::decode_request_fixed);
  test::expect_error_from(bytes{0xFF, 0, 0}, 1, errc::sip022_bad_type,
                          sip022::decode_request_fixed);
}

TEST(Sip022ResponseFixed, EncodesAndDecodesAtEverySplitForBothSaltSizes) {
  for (std::size_t salt_size : {16u, 32u}) {
    auto salt = test::pseudo_random(salt_size, 9);
    bytes msg;
    sip022::encode_response_fixed(1700000000, salt, 0xFFFF, msg);
    EXPECT_EQ(msg.size(), 11 + salt_size);
    auto h = test::expect_decodes_at_every_split(
        msg, [&](bytes_view in) { return sip022::decode_response_fixed(in, salt_size); });
    EXPECT_EQ(h.timestamp, 1700000000u);
    EXPECT_EQ(bytes(h.request_salt.begin(), h.request_salt.end()), salt);
    EXPECT_EQ(h.length, 0xFFFF);
    bytes request;
    sip022::encode_request_fixed({1, 2}, request);
    test::expect_error_from(request, 1, errc::sip022_bad_type, [&](bytes_view in) {
      return sip022::decode_response_fixed(in, salt_size);
    });
  }
}

TEST(Sip022RequestVariable, RoundTripsEveryAddressType) {
  auto domain = *target_address::domain("example.com", 443);
  for (const auto& target : {target_address::ipv4({192, 0, 2, 1}, 80),
                             target_address::ipv6({0x20, 0x01, 0x0d, 0xb8}, 8080), domain}) {
    for (std::size_t padding : {0u, 1u, 900u}) {
      auto payload = test::to_bytes(padding == 0 ? "GET / HTTP/1.1\r\n\r\n" : "");
      bytes chunk;
      sip022::encode_request_variable(target, bytes(padding, 0x5A), payload, chunk);
      auto d = sip022::decode_request_variable(chunk);
      ASSERT_TRUE(d.is_done()) << target.to_string() << " padding " << padding;
      EXPECT_EQ(d.consumed, chunk.size());
      EXPECT_EQ(d.value.target, target);
      EXPECT_EQ(d.value.padding, padding);
      EXPECT_EQ(bytes(d.value.payload.begin(), d.value.payload.end()), payload);
    }
  }
}

TEST(Sip022RequestVariable, EveryRefusal) {
  auto target = target_address::ipv4({198, 51, 100, 7}, 443);
  auto decode_error = [](const bytes& chunk) {
    auto d = sip022::decode_request_variable(chunk);
    EXPECT_TRUE(d.is_error());
    return d.error;
  };
  // Neither padding nor payload: SIP022 requires one of them.
  bytes empty;
  sip022::encode_request_variable(target, {}, {}, empty);
  EXPECT_EQ(decode_error(empty), errc::sip022_empty_request);
  // Padding over 900 bytes, even when it is all there.
  bytes too_much;
  sip022::encode_request_variable(target, bytes(901, 0), {}, too_much);
  EXPECT_EQ(decode_error(too_much), errc::sip022_bad_padding);
  // A header cut short anywhere is truncated (the chunk is complete once opened), never
  // "need more": every strict prefix of a valid header.
  bytes whole;
  sip022::encode_request_variable(target, bytes(10, 1), {}, whole);
  for (std::size_t k = 0; k < whole.size(); ++k) {
    bytes prefix(whole.begin(), whole.begin() + static_cast<std::ptrdiff_t>(k));
    auto d = sip022::decode_request_variable(prefix);
    ASSERT_TRUE(d.is_error()) << k;
    EXPECT_EQ(d.error, errc::sip022_truncated_header) << k;
  }
  // A bad address type is the address codec's answer.
  EXPECT_EQ(decode_error(bytes{0x09, 1, 2, 3, 0, 0}), errc::bad_address_type);
}

TEST(Sip022, TimestampWindowIsThirtySecondsEitherWay) {
  constexpr std::uint64_t now = 1'700'000'000;
  EXPECT_TRUE(sip022::timestamp_fresh(now, now));
  EXPECT_TRUE(sip022::timestamp_fresh(now - 30, now));
  EXPECT_TRUE(sip022::timestamp_fresh(now + 30, now));
  EXPECT_FALSE(sip022::timestamp_fresh(now - 31, now));
  EXPECT_FALSE(sip022::timestamp_fresh(now + 31, now));
  EXPECT_FALSE(sip022::timestamp_fresh(0, now));
  EXPECT_FALSE(sip022::timestamp_fresh(~std::uint64_t{0}, now));
}

}  // namespace
}  // namespace ss
