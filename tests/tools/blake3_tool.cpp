// BLAKE3 of standard input with our implementation, for the comparison with b3sum
// (tests/interop/test_blake3.py):
//   blake3_tool [--length N] hash | keyed KEYHEX | derive-key CONTEXT  < input
// prints N (default 32) bytes of output in hex.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "shadowsocks/codec/hex.hpp"
#include "shadowsocks/crypto/blake3.hpp"

int main(int argc, char** argv) {
  std::size_t length = 32;
  int i = 1;
  if (i + 1 < argc && std::strcmp(argv[i], "--length") == 0) {
    length = std::strtoul(argv[i + 1], nullptr, 10);
    i += 2;
  }
  if (i >= argc) return 2;
  std::string mode = argv[i];
  ss::blake3_hasher h = ss::blake3_hasher::hash();
  if (mode == "keyed" && i + 1 < argc) {
    auto key = ss::from_hex(argv[i + 1]);
    if (key.size() != 32) return 2;
    std::array<std::uint8_t, 32> k;
    std::copy(key.begin(), key.end(), k.begin());
    h = ss::blake3_hasher::keyed(k);
  } else if (mode == "derive-key" && i + 1 < argc) {
    h = ss::blake3_hasher::derive_key(argv[i + 1]);
  } else if (mode != "hash") {
    return 2;
  }
  std::vector<std::uint8_t> buf(65536);
  for (std::size_t n; (n = std::fread(buf.data(), 1, buf.size(), stdin)) > 0;)
    h.update({buf.data(), n});
  std::vector<std::uint8_t> out(length);
  h.finalize(out);
  std::printf("%s\n", ss::to_hex(out).c_str());
  return 0;
}
