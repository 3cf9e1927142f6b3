#pragma once
/// \file The answer every incremental decoder gives: need more, done (consumed N), or error.

#include <cstddef>
#include <cstdint>
#include <span>

#include "shadowsocks/codec/errc.hpp"

namespace ss {

/// Read-only bytes.
using bytes_view = std::span<const std::uint8_t>;
/// Writable bytes.
using mutable_bytes = std::span<std::uint8_t>;

/// Where a decoder stands after looking at a prefix of its input.
enum class decode_status : std::uint8_t {
  need_more,  ///< The input is a valid prefix; call again with more bytes.
  done,       ///< A whole message was decoded; `consumed` bytes belong to it.
  error,      ///< The input can never become valid; `error` says why.
};

/// The answer of a pure decoder. Decoders are stateless: they are called again on the whole
/// buffered input, so any split of the input across reads gives the same answer.
template <class T>
struct decoded {
  decode_status status = decode_status::need_more;  ///< See `decode_status`.
  T value{};                                        ///< Valid when `status == done`.
  std::size_t consumed = 0;  ///< Bytes of the message, valid when `status == done`.
  errc error = errc::ok;     ///< Valid when `status == error`.

  /// The input is a valid prefix of a longer message.
  static decoded more() { return {}; }
  /// A complete message of `n` bytes.
  static decoded ok(T v, std::size_t n) { return {decode_status::done, std::move(v), n, errc::ok}; }
  /// The input is invalid.
  static decoded fail(errc e) { return {decode_status::error, T{}, 0, e}; }

  /// True when a whole message was decoded.
  bool is_done() const noexcept { return status == decode_status::done; }
  /// True when more input is needed.
  bool needs_more() const noexcept { return status == decode_status::need_more; }
  /// True when the input is invalid.
  bool is_error() const noexcept { return status == decode_status::error; }
};

/// Reads a big-endian 16-bit value; `p` must hold two bytes.
inline std::uint16_t load_be16(const std::uint8_t* p) noexcept {
  return static_cast<std::uint16_t>((p[0] << 8) | p[1]);
}

/// Writes a big-endian 16-bit value; `p` must have room for two bytes.
inline void store_be16(std::uint8_t* p, std::uint16_t v) noexcept {
  p[0] = static_cast<std::uint8_t>(v >> 8);
  p[1] = static_cast<std::uint8_t>(v & 0xFF);
}

/// Reads a big-endian 64-bit value; `p` must hold eight bytes.
inline std::uint64_t load_be64(const std::uint8_t* p) noexcept {
  std::uint64_t v = 0;
  for (int i = 0; i < 8; ++i)
    v = v << 8 | p[i];
  return v;
}

/// Writes a big-endian 64-bit value; `p` must have room for eight bytes.
inline void store_be64(std::uint8_t* p, std::uint64_t v) noexcept {
  for (int i = 7; i >= 0; --i) {
    p[i] = static_cast<std::uint8_t>(v);
    v >>= 8;
  }
}

}  // namespace ss
