// The 2022 edition's TCP header decoders: any input gives an answer, never a read past it; what
// decodes re-encodes to the same bytes, and the variable header's rules hold for what passes.
#include <vector>

#include "fuzz_support.hpp"
#include "shadowsocks/codec/sip022_header.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  ss::bytes_view in(data, size);

  if (auto f = ss::sip022::decode_request_fixed(in); f.is_done()) {
    std::vector<std::uint8_t> again;
    ss::sip022::encode_request_fixed(f.value, again);
    FUZZ_CHECK(f.consumed == again.size() && std::equal(again.begin(), again.end(), data));
  }
  for (std::size_t salt : {16u, 32u}) {
    if (auto r = ss::sip022::decode_response_fixed(in, salt); r.is_done()) {
      std::vector<std::uint8_t> again;
      ss::sip022::encode_response_fixed(r.value.timestamp, r.value.request_salt, r.value.length,
                                        again);
      FUZZ_CHECK(r.consumed == again.size() && std::equal(again.begin(), again.end(), data));
    }
  }
  auto v = ss::sip022::decode_request_variable(in);
  FUZZ_CHECK(!v.needs_more());  // a chunk is complete: never "need more"
  if (v.is_done()) {
    FUZZ_CHECK(v.consumed == size);
    FUZZ_CHECK(v.value.padding <= ss::sip022::max_padding);
    FUZZ_CHECK(v.value.padding > 0 || !v.value.payload.empty());
    std::vector<std::uint8_t> padding(
        in.begin() + static_cast<std::ptrdiff_t>(size - v.value.payload.size() - v.value.padding),
        in.end() - static_cast<std::ptrdiff_t>(v.value.payload.size()));
    std::vector<std::uint8_t> again;
    ss::sip022::encode_request_variable(v.value.target, padding, v.value.payload, again);
    FUZZ_CHECK(again.size() == size && std::equal(again.begin(), again.end(), data));
  }
  return 0;
}
