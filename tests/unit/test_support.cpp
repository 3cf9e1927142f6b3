#include "test_support.hpp"

namespace ss::test {

bytes to_bytes(std::string_view s) {
  return bytes(s.begin(), s.end());
}

bytes pseudo_random(std::size_t n, std::uint32_t seed) {
  bytes out(n);
  std::uint32_t x = seed * 2654435761U + 1;
  for (auto& b : out) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    b = static_cast<std::uint8_t>(x >> 24);
  }
  return out;
}

bytes concat(const bytes& a, const bytes& b) {
  bytes out = a;
  out.insert(out.end(), b.begin(), b.end());
  return out;
}

}  // namespace ss::test
