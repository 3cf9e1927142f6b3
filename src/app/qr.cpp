#include "qr.hpp"

#ifndef SS_NO_QRENCODE
#include <qrencode.h>

#include <memory>
#endif

namespace ss {

#ifdef SS_NO_QRENCODE

// The static build has no libqrencode (Debian ships no archive of it).
std::string render_qr(std::string_view) {
  return "(this build draws no QR code: it has no libqrencode; `qrencode -t UTF8 URL` draws one)\n";
}

#else

std::string render_qr(std::string_view text) {
  std::string input(text);
  std::unique_ptr<QRcode, decltype(&QRcode_free)> code(
      QRcode_encodeString(input.c_str(), 0, QR_ECLEVEL_M, QR_MODE_8, 1), QRcode_free);
  if (!code) return {};
  constexpr int quiet = 2;
  const int width = code->width;
  const int size = width + 2 * quiet;
  // Dark module at (x, y) of the padded square; the quiet zone is light.
  auto dark = [&](int x, int y) {
    x -= quiet;
    y -= quiet;
    if (x < 0 || y < 0 || x >= width || y >= width) return false;
    return (code->data[y * width + x] & 1) != 0;
  };
  std::string out;
  for (int y = 0; y < size; y += 2) {
    for (int x = 0; x < size; ++x) {
      bool top_light = !dark(x, y);
      bool bottom_light = y + 1 < size ? !dark(x, y + 1) : false;
      if (top_light && bottom_light) {
        out += "\u2588";  // full block
      } else if (top_light) {
        out += "\u2580";  // upper half block
      } else if (bottom_light) {
        out += "\u2584";  // lower half block
      } else {
        out += ' ';
      }
    }
    out += '\n';
  }
  return out;
}

#endif

}  // namespace ss
