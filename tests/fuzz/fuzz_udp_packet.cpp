// The UDP packet opener on hostile input (method by the first byte), and seal/open round
// trips of arbitrary payloads.
#include <algorithm>
#include <vector>

#include "fuzz_support.hpp"
#include "shadowsocks/codec/address.hpp"
#include "shadowsocks/crypto/udp_packet.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  static const std::vector<ss::master_key> keys = [] {
    std::vector<ss::master_key> k;
    for (const auto& c : ss::supported_ciphers()) {
      if (c.is_2022()) continue;  // fuzz_sip022_stream
      k.push_back(*ss::master_key::from_password(c.name, "fuzz"));
    }
    return k;
  }();
  const auto& key = keys[data[0] % keys.size()];
  ss::udp_packet_cipher cipher(key);

  std::vector<std::uint8_t> packet(data + 1, data + size);
  auto opened = cipher.open(packet);
  if (opened) (void)ss::decode_address(*opened);

  std::vector<std::uint8_t> sealed;
  ss::bytes_view payload(data + 1, size - 1);
  cipher.seal(payload, sealed);
  FUZZ_CHECK(sealed.size() == payload.size() + cipher.overhead());
  auto back = cipher.open(sealed);
  FUZZ_CHECK(back && back->size() == payload.size() &&
             std::equal(back->begin(), back->end(), payload.begin()));
  return 0;
}
