// BLAKE3 against the official test vectors (every input length in the file, all three modes,
// the extended output) and SIP022's published session-subkey vector.
#include "shadowsocks/crypto/blake3.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "shadowsocks/codec/base64.hpp"
#include "test_support.hpp"

namespace ss {
namespace {

using test::bytes;

struct vectors {
  std::string key;
  std::string context;
  nlohmann::json cases;
};

const vectors& official() {
  static const vectors v = [] {
    std::ifstream in(SS_BLAKE3_VECTORS);
    auto doc = nlohmann::json::parse(in);
    return vectors{doc["key"], doc["context_string"], doc["cases"]};
  }();
  return v;
}

// The vectors' input: 0, 1, ..., 250, 0, 1, ... (251 is prime, so no block repeats).
bytes input_of(std::size_t n) {
  bytes b(n);
  for (std::size_t i = 0; i < n; ++i)
    b[i] = static_cast<std::uint8_t>(i % 251);
  return b;
}

blake3_hasher hasher_for(const std::string& mode) {
  if (mode == "hash") return blake3_hasher::hash();
  if (mode == "keyed_hash") {
    std::array<std::uint8_t, 32> key;
    std::memcpy(key.data(), official().key.data(), 32);
    return blake3_hasher::keyed(key);
  }
  return blake3_hasher::derive_key(official().context);
}

std::string hex_of(blake3_hasher h, std::size_t n) {
  bytes out(n);
  h.finalize(out);
  return to_hex(out);
}

TEST(Blake3, OfficialVectorsAllLengthsAllModes) {
  ASSERT_EQ(official().cases.size(), 35u);
  for (const auto& c : official().cases) {
    std::size_t n = c["input_len"];
    auto input = input_of(n);
    for (const char* mode : {"hash", "keyed_hash", "derive_key"}) {
      std::string expected = c[mode];  // 131 bytes of extended output
      auto h = hasher_for(mode);
      h.update(input);
      EXPECT_EQ(hex_of(h, expected.size() / 2), expected) << mode << " of " << n << " bytes";
      // The usual 32-byte digest is a prefix of the extended output.
      EXPECT_EQ(hex_of(h, 32), expected.substr(0, 64)) << mode << " of " << n << " bytes";
    }
  }
}

TEST(Blake3, AnySplitOfTheInputGivesTheSameOutput) {
  for (const auto& c : official().cases) {
    std::size_t n = c["input_len"];
    auto input = input_of(n);
    std::string expected = c["hash"];
    for (std::size_t piece : {1, 7, 63, 64, 65, 1023, 1024, 1025, 4096}) {
      auto h = blake3_hasher::hash();
      for (std::size_t at = 0; at < n; at += piece)
        h.update(bytes_view(input).subspan(at, std::min(piece, n - at)));
      EXPECT_EQ(hex_of(h, 32), expected.substr(0, 64)) << n << " bytes in pieces of " << piece;
    }
  }
}

TEST(Blake3, FinalizeDoesNotEndTheHasher) {
  auto input = input_of(3000);
  auto h = blake3_hasher::hash();
  h.update(bytes_view(input).first(1000));
  bytes early(32);
  h.finalize(early);
  h.update(bytes_view(input).subspan(1000));
  EXPECT_EQ(hex_of(h, 32), to_hex(blake3(input)));
}

TEST(Blake3, Sip022SessionSubkeyVector) {
  // Published for SIP022 implementations (issue 13): the session subkey is
  // derive_key("shadowsocks 2022 session subkey", PSK || salt).
  auto psk = *base64_decode("Lc3tTx0BY6ZJ/fCwOx3JvF0I/anhwJBO5p2+FA5Vce4=");
  auto salt = *base64_decode("3oFO0VyLyGI4nFN0M9P+62vPND/L6v8IingaPJWTbJA=");
  bytes material = test::concat(psk, salt);
  bytes subkey(32);
  blake3_derive_key("shadowsocks 2022 session subkey", material, subkey);
  EXPECT_EQ(base64_encode(subkey), "EdNE+4U8dVnHT0+poAFDK2bdlwfrHT61sUNr9WYPh+E=");
}

}  // namespace
}  // namespace ss
