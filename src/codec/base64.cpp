#include "shadowsocks/codec/base64.hpp"

namespace ss {

result<std::vector<std::uint8_t>> base64_decode(std::string_view text) {
  // Accept both alphabets (libev writes standard base64, SIP002 URLs use the URL-safe one) and
  // optional padding; reject anything else so that a typo never silently yields a short key.
  while (!text.empty() && text.back() == '=')
    text.remove_suffix(1);
  if (text.size() % 4 == 1) return errc::bad_key;
  std::vector<std::uint8_t> out;
  out.reserve(text.size() * 3 / 4);
  std::uint32_t acc = 0;
  int bits = 0;
  for (char c : text) {
    int v;
    if (c >= 'A' && c <= 'Z')
      v = c - 'A';
    else if (c >= 'a' && c <= 'z')
      v = c - 'a' + 26;
    else if (c >= '0' && c <= '9')
      v = c - '0' + 52;
    else if (c == '+' || c == '-')
      v = 62;
    else if (c == '/' || c == '_')
      v = 63;
    else
      return errc::bad_key;
    acc = (acc << 6) | static_cast<std::uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<std::uint8_t>((acc >> bits) & 0xFF));
    }
  }
  // Left-over bits must be zero, or the text was not produced by an encoder.
  if ((acc & ((1U << bits) - 1)) != 0) return errc::bad_key;
  return out;
}

std::string base64_encode(bytes_view data) {
  static constexpr char alphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string s;
  s.reserve((data.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 3 <= data.size(); i += 3) {
    std::uint32_t v = data[i] << 16 | data[i + 1] << 8 | data[i + 2];
    for (int k = 3; k >= 0; --k)
      s.push_back(alphabet[(v >> (6 * k)) & 63]);
  }
  if (std::size_t rest = data.size() - i; rest > 0) {
    std::uint32_t v = data[i] << 16 | (rest == 2 ? data[i + 1] << 8 : 0);
    s.push_back(alphabet[(v >> 18) & 63]);
    s.push_back(alphabet[(v >> 12) & 63]);
    s.push_back(rest == 2 ? alphabet[(v >> 6) & 63] : '=');
    s.push_back('=');
  }
  return s;
}

}  // namespace ss
