#pragma once
// Private: QR codes for the terminal (ss-server --print-url), drawn with libqrencode.

#include <string>
#include <string_view>

namespace ss {

/// `text` as a QR code (error correction level M) in Unicode half blocks, two module rows per
/// line, with a quiet zone of two modules. Light modules are drawn (block characters), dark
/// ones left blank, so that the code reads light-on-dark on a dark terminal, as `qrencode -t
/// UTF8` draws it. Empty if libqrencode cannot encode `text`; in a build without libqrencode
/// (SS_NO_QRENCODE), a line that says so.
std::string render_qr(std::string_view text);

}  // namespace ss
