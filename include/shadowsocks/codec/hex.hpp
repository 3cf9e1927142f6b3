#pragma once
/// \file Hex text for salts in debug logs and vectors in tests. Never for keys or payloads.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "shadowsocks/codec/bytes.hpp"

namespace ss {

/// The value of one hex digit (either case), or -1.
int hex_digit_value(char c) noexcept;
/// Lower-case hex of `data`.
std::string to_hex(bytes_view data);
/// Bytes of `text`; throws `std::invalid_argument` on odd length or a non-hex digit.
std::vector<std::uint8_t> from_hex(std::string_view text);

}  // namespace ss
