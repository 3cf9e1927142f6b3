// The SOCKS4/4a request and reply decoders. A decoded request re-encodes to the same bytes
// (when it is canonical: an IPv4 target not in the 4a range, or a 4a name that is not an IP
// literal), every strict prefix of it needs more, and no input makes it read past its end.
#include <algorithm>
#include <vector>

#include "fuzz_support.hpp"
#include "shadowsocks/codec/socks4.hpp"

namespace s4 = ss::socks4;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  ss::bytes_view in(data + 1, size - 1);
  if (data[0] % 2 == 1) {
    auto d = s4::decode_reply(in);
    if (d.is_done()) FUZZ_CHECK(d.consumed == 8);
    return 0;
  }
  auto d = s4::decode_request(in);
  if (!d.is_done()) return 0;
  FUZZ_CHECK(d.consumed <= in.size());
  for (std::size_t k = 0; k < d.consumed; ++k)
    FUZZ_CHECK(s4::decode_request(in.first(k)).needs_more());
  FUZZ_CHECK(d.value.user_id.size() <= s4::max_field);
  bool four_a = in[4] == 0 && in[5] == 0 && in[6] == 0 && in[7] != 0;
  bool canonical = four_a ? d.value.target.type() == ss::address_type::domain
                          : d.value.target.type() == ss::address_type::ipv4;
  std::vector<std::uint8_t> out;
  if (d.value.target.type() == ss::address_type::ipv6) {
    // A 4a name that is an IPv6 literal is served as that address, but SOCKS4 cannot send one.
    FUZZ_CHECK(four_a);
    FUZZ_CHECK(s4::encode_request(d.value.cmd, d.value.target, d.value.user_id, out) ==
               ss::make_error_code(ss::errc::bad_address_type));
    return 0;
  }
  FUZZ_CHECK(!s4::encode_request(d.value.cmd, d.value.target, d.value.user_id, out));
  if (canonical && !four_a) {
    FUZZ_CHECK(out.size() == d.consumed && std::equal(out.begin(), out.end(), in.begin()));
  }
  if (canonical && four_a) {
    // The encoder writes 0.0.0.1; the rest is the same.
    FUZZ_CHECK(out.size() == d.consumed && std::equal(out.begin() + 8, out.end(), in.begin() + 8));
  }
  auto again = s4::decode_request(out);
  FUZZ_CHECK(again.is_done() && again.value.target == d.value.target &&
             again.value.user_id == d.value.user_id);
  return 0;
}
