// Every SOCKS5 parser (RFC 1928, RFC 1929), chosen by the first byte. A decoded message
// re-encodes to the same bytes (where the encoding is canonical) and every strict prefix of
// it needs more.
#include <algorithm>
#include <vector>

#include "fuzz_support.hpp"
#include "shadowsocks/codec/socks5.hpp"

namespace s5 = ss::socks5;

template <class Decode>
void check_prefixes(ss::bytes_view in, std::size_t consumed, Decode decode) {
  FUZZ_CHECK(consumed <= in.size());
  for (std::size_t k = 0; k < consumed; ++k)
    FUZZ_CHECK(decode(in.first(k)).needs_more());
}

bool same(const std::vector<std::uint8_t>& out, ss::bytes_view in) {
  return out.size() <= in.size() && std::equal(out.begin(), out.end(), in.begin());
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  ss::bytes_view in(data + 1, size - 1);
  std::vector<std::uint8_t> out;
  switch (data[0] % 7) {
    case 0: {
      auto d = s5::decode_greeting(in);
      if (!d.is_done()) break;
      check_prefixes(in, d.consumed, s5::decode_greeting);
      std::vector<s5::method> methods;
      for (auto m : d.value.methods)
        methods.push_back(static_cast<s5::method>(m));
      s5::encode_greeting(methods, out);
      FUZZ_CHECK(out.size() == d.consumed && same(out, in));
      break;
    }
    case 1: {
      auto d = s5::decode_method_selection(in);
      if (!d.is_done()) break;
      check_prefixes(in, d.consumed, s5::decode_method_selection);
      s5::encode_method_selection(d.value, out);
      FUZZ_CHECK(same(out, in));
      break;
    }
    case 2: {
      auto d = s5::decode_auth_request(in);
      if (!d.is_done()) break;
      check_prefixes(in, d.consumed, s5::decode_auth_request);
      FUZZ_CHECK(!s5::encode_auth_request(d.value, out));
      FUZZ_CHECK(out.size() == d.consumed && same(out, in));
      break;
    }
    case 3: {
      auto d = s5::decode_auth_reply(in);
      if (d.is_done()) check_prefixes(in, d.consumed, s5::decode_auth_reply);
      break;
    }
    case 4: {
      auto d = s5::decode_request(in);
      if (!d.is_done()) break;
      check_prefixes(in, d.consumed, s5::decode_request);
      s5::encode_request(d.value.cmd, d.value.target, out);
      FUZZ_CHECK(out.size() == d.consumed);
      // RSV is not checked on input and always written as 0.
      FUZZ_CHECK(std::equal(out.begin(), out.begin() + 2, in.begin()));
      FUZZ_CHECK(std::equal(out.begin() + 3, out.end(), in.begin() + 3));
      break;
    }
    case 5: {
      auto d = s5::decode_reply(in);
      if (!d.is_done()) break;
      check_prefixes(in, d.consumed, s5::decode_reply);
      s5::encode_reply(d.value.rep, d.value.bound, out);
      FUZZ_CHECK(out.size() == d.consumed);
      break;
    }
    default: {
      auto d = s5::decode_udp_header(in);
      if (!d.is_done()) break;
      check_prefixes(in, d.consumed, s5::decode_udp_header);
      s5::encode_udp_header(d.value.target, out);
      FUZZ_CHECK(out.size() == d.consumed);
      FUZZ_CHECK(std::equal(out.begin() + 3, out.end(), in.begin() + 3));
      (void)s5::reply_code_for(ss::make_error_code(ss::errc::bad_address_type));
      break;
    }
  }
  return 0;
}
