// The AEAD TCP stream decoder on hostile input, for the method chosen by the first byte and
// the password "密码" (so the vectors are meaningful seeds): fed whole and fed byte by
// byte it gives the same plaintext and the same ending; and whatever the input, sealing it
// and decoding the result gives it back.
#include <vector>

#include "fuzz_support.hpp"
#include "shadowsocks/crypto/aead_stream.hpp"

namespace {

fuzz::stream_outcome decode(const ss::master_key& key, ss::bytes_view in, std::size_t step) {
  ss::aead_stream_decoder dec(key);
  return fuzz::decode_in_steps(dec, in, step, ss::max_payload_size);
}

const ss::master_key& key_for(std::uint8_t selector) {
  const auto& keys = fuzz::keys_of(ss::edition::aead_2017);
  return keys[selector % keys.size()];
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const auto& key = key_for(data[0]);
  ss::bytes_view in(data + 1, size - 1);
  auto whole = decode(key, in, in.size() + 1);
  auto bytewise = decode(key, in, 1);
  FUZZ_CHECK(whole == bytewise);

  ss::aead_stream_encoder enc(key);
  std::vector<std::uint8_t> sealed;
  enc.seal(in, sealed);
  auto back = decode(key, sealed, 4093);
  FUZZ_CHECK(back.error == ss::errc::ok);
  FUZZ_CHECK(back.plain.size() == in.size() &&
             std::equal(back.plain.begin(), back.plain.end(), in.begin()));
  return 0;
}
