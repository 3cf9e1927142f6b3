#pragma once
// Shared by the fuzz targets: a failed property stops the fuzzer with a crash it reports.

#include <cstdio>
#include <cstdlib>

#define FUZZ_CHECK(cond)                                                               \
  do {                                                                                 \
    if (!(cond)) {                                                                     \
      std::fprintf(stderr, "%s:%d: property failed: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                    \
    }                                                                                  \
  } while (0)

#include <algorithm>
#include <vector>

#include "shadowsocks/crypto/aead_stream.hpp"

namespace fuzz {

/// What a stream decoder made of some input: the plaintext and how it ended.
struct stream_outcome {
  std::vector<std::uint8_t> plain;
  ss::errc error = ss::errc::ok;
  bool operator==(const stream_outcome&) const = default;
};

/// Feeds `in` to `dec` in pieces of `step` bytes, collecting what it yields; no payload may be
/// longer than `max_payload`.
inline stream_outcome decode_in_steps(ss::aead_stream_decoder& dec, ss::bytes_view in,
                                      std::size_t step, std::size_t max_payload) {
  stream_outcome o;
  std::size_t pos = 0;
  while (pos < in.size() && o.error == ss::errc::ok) {
    auto n = std::min(step, in.size() - pos);
    dec.feed(in.subspan(pos, n));
    pos += n;
    for (auto d = dec.next(); !d.needs_more(); d = dec.next()) {
      if (d.is_error()) {
        o.error = d.error;
        break;
      }
      FUZZ_CHECK(d.value.size() <= max_payload);
      o.plain.insert(o.plain.end(), d.value.begin(), d.value.end());
    }
  }
  return o;
}

/// One key per supported method of one edition: from the password "密码" for the 2017
/// methods (so the AEAD vectors of issue 2 are meaningful seeds), bytes i * 7 + 1 for the 2022
/// ones (tests/fuzz/make_corpus.py builds its seeds with the same).
inline const std::vector<ss::master_key>& keys_of(ss::edition e) {
  static const auto make = [](ss::edition which) {
    std::vector<ss::master_key> k;
    for (const auto& c : ss::supported_ciphers()) {
      if (c.edition != which) continue;
      if (!c.is_2022()) {
        k.push_back(*ss::master_key::from_password(c.name, "密码"));
        continue;
      }
      std::vector<std::uint8_t> psk(c.key_size);
      for (std::size_t i = 0; i < psk.size(); ++i)
        psk[i] = static_cast<std::uint8_t>(i * 7 + 1);
      k.push_back(*ss::master_key::from_bytes(c, psk));
    }
    return k;
  };
  static const std::vector<ss::master_key> keys_2017 = make(ss::edition::aead_2017);
  static const std::vector<ss::master_key> keys_2022 = make(ss::edition::aead_2022);
  return e == ss::edition::aead_2022 ? keys_2022 : keys_2017;
}

}  // namespace fuzz
