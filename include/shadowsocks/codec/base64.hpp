#pragma once
/// \file Base64 (RFC 4648): keys given directly (libev's `--key`) and SIP002 userinfo.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "shadowsocks/codec/bytes.hpp"
#include "shadowsocks/codec/errc.hpp"

namespace ss {

/// Decodes standard or URL-safe base64, padded or not; anything else is `errc::bad_key` (a
/// typo must never silently yield a short key).
result<std::vector<std::uint8_t>> base64_decode(std::string_view text);
/// Standard base64 with padding.
std::string base64_encode(bytes_view data);

}  // namespace ss
