#pragma once
// Helpers shared by the unit tests: byte literals, random data, and the every-split-point check
// for the stateless decoders.

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "shadowsocks/codec/bytes.hpp"
#include "shadowsocks/codec/hex.hpp"

namespace ss::test {

using bytes = std::vector<std::uint8_t>;

/// The bytes of a string literal (UTF-8 as written).
bytes to_bytes(std::string_view s);
/// Deterministic pseudo-random bytes (a test must be repeatable).
bytes pseudo_random(std::size_t n, std::uint32_t seed = 1);
/// Concatenation.
bytes concat(const bytes& a, const bytes& b);

/// For a stateless decoder and a complete message `msg`: every strict prefix (including the
/// empty one and each byte-at-a-time step) answers need_more, the whole message answers done
/// with consumed == msg.size(), and trailing bytes are not consumed. Returns the decoded value.
template <class Decode>
auto expect_decodes_at_every_split(const bytes& msg, Decode decode) {
  for (std::size_t k = 0; k < msg.size(); ++k) {
    auto d = decode(bytes_view(msg.data(), k));
    EXPECT_TRUE(d.needs_more()) << "prefix of " << k << " of " << msg.size() << " bytes";
  }
  bytes longer = msg;
  longer.push_back(0xAB);
  longer.push_back(0xCD);
  auto with_tail = decode(bytes_view(longer));
  EXPECT_TRUE(with_tail.is_done());
  EXPECT_EQ(with_tail.consumed, msg.size());
  auto d = decode(bytes_view(msg));
  EXPECT_TRUE(d.is_done());
  EXPECT_EQ(d.consumed, msg.size());
  return d.value;
}

/// For a stateless decoder and an invalid message: the error is reported as soon as the
/// offending byte is present (`at` bytes), and for every longer prefix; shorter prefixes need more.
template <class Decode>
void expect_error_from(const bytes& msg, std::size_t at, errc want, Decode decode) {
  for (std::size_t k = 0; k <= msg.size(); ++k) {
    auto d = decode(bytes_view(msg.data(), k));
    if (k < at) {
      EXPECT_TRUE(d.needs_more()) << "prefix " << k;
    } else {
      EXPECT_TRUE(d.is_error()) << "prefix " << k;
      EXPECT_EQ(d.error, want) << "prefix " << k;
    }
  }
}

}  // namespace ss::test
