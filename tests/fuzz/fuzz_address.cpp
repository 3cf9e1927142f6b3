// The target address codec: decoding never reads past the input, a decoded address encodes
// back to exactly the bytes it came from, and every strict prefix of it needs more.
#include <algorithm>
#include <string_view>
#include <vector>

#include "fuzz_support.hpp"
#include "shadowsocks/codec/address.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  ss::bytes_view in(data, size);
  auto d = ss::decode_address(in);
  if (d.is_done()) {
    FUZZ_CHECK(d.consumed <= size);
    std::vector<std::uint8_t> out;
    ss::encode_address(d.value, out);
    FUZZ_CHECK(out.size() == d.consumed && d.value.encoded_size() == d.consumed);
    FUZZ_CHECK(std::equal(out.begin(), out.end(), data));
    for (std::size_t k = 0; k < d.consumed; ++k) {
      FUZZ_CHECK(ss::decode_address(in.first(k)).needs_more());
    }
    (void)d.value.to_string();
  }
  auto text = ss::target_address::parse({reinterpret_cast<const char*>(data), size});
  if (text) (void)ss::target_address::parse(text->to_string());
  return 0;
}
