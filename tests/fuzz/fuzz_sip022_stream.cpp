// The 2022 edition's TCP stream decoders (request and response, SIP022 3.1) on hostile input,
// for the method chosen by the first byte and a fixed clock: fed whole and fed byte by byte
// they give the same plaintext and the same ending; and whatever the input, a response stream
// sealed from it decodes back to it.
#include <vector>

#include "fuzz_support.hpp"
#include "shadowsocks/crypto/aead_stream.hpp"

namespace {

constexpr std::uint64_t fixed_now = 1'700'000'000;
std::uint64_t fixed_clock() {
  return fixed_now;
}

// Decodes `in` in pieces of `step`: a request stream, or (with a salt) the response to it.
fuzz::stream_outcome decode(const ss::master_key& key, ss::bytes_view in, std::size_t step,
                            ss::bytes_view request_salt) {
  auto dec = request_salt.empty() ? ss::aead_stream_decoder(key)
                                  : ss::aead_stream_decoder(key, request_salt);
  dec.set_clock(fixed_clock);
  return fuzz::decode_in_steps(dec, in, step, ss::max_payload_size_2022);
}

const ss::master_key& key_for(std::uint8_t selector) {
  const auto& keys = fuzz::keys_of(ss::edition::aead_2022);
  return keys[selector % keys.size()];
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const auto& key = key_for(data[0]);
  ss::bytes_view in(data + 1, size - 1);
  std::vector<std::uint8_t> request_salt(key.cipher().salt_size, 0x5A);
  for (ss::bytes_view salt : {ss::bytes_view(), ss::bytes_view(request_salt)}) {
    auto whole = decode(key, in, in.size() + 1, salt);
    auto bytewise = decode(key, in, 1, salt);
    FUZZ_CHECK(whole == bytewise);
  }

  ss::aead_stream_encoder enc(key);
  enc.set_clock(fixed_clock);
  enc.answer(request_salt);
  std::vector<std::uint8_t> sealed;
  enc.seal(in, sealed);
  auto back = decode(key, sealed, 4093, request_salt);
  FUZZ_CHECK(back.error == ss::errc::ok);
  FUZZ_CHECK(back.plain.size() == in.size() &&
             std::equal(back.plain.begin(), back.plain.end(), in.begin()));
  return 0;
}
