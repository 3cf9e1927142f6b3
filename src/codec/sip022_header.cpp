#include "shadowsocks/codec/sip022_header.hpp"

namespace ss::sip022 {

namespace {

void append_be64(std::uint64_t v, std::vector<std::uint8_t>& out) {
  auto at = out.size();
  out.resize(at + 8);
  store_be64(out.data() + at, v);
}

void append_be16(std::uint16_t v, std::vector<std::uint8_t>& out) {
  auto at = out.size();
  out.resize(at + 2);
  store_be16(out.data() + at, v);
}

}  // namespace

decoded<request_fixed> decode_request_fixed(bytes_view in) {
  using result_t = decoded<request_fixed>;
  if (in.empty()) return result_t::more();
  // Checked as soon as the byte is there: a reflected response stream fails here.
  if (in[0] != client_stream) return result_t::fail(errc::sip022_bad_type);
  if (in.size() < request_fixed_size) return result_t::more();
  return result_t::ok({load_be64(in.data() + 1), load_be16(in.data() + 9)}, request_fixed_size);
}

void encode_request_fixed(const request_fixed& h, std::vector<std::uint8_t>& out) {
  out.push_back(client_stream);
  append_be64(h.timestamp, out);
  append_be16(h.length, out);
}

decoded<request_variable> decode_request_variable(bytes_view chunk) {
  using result_t = decoded<request_variable>;
  auto address = decode_address(chunk);
  if (address.is_error()) return result_t::fail(address.error);
  if (address.needs_more()) return result_t::fail(errc::sip022_truncated_header);
  auto rest = chunk.subspan(address.consumed);
  if (rest.size() < 2) return result_t::fail(errc::sip022_truncated_header);
  std::size_t padding = load_be16(rest.data());
  if (padding > max_padding) return result_t::fail(errc::sip022_bad_padding);
  rest = rest.subspan(2);
  if (rest.size() < padding) return result_t::fail(errc::sip022_truncated_header);
  auto payload = rest.subspan(padding);
  // SIP022: a request carries padding, or initial payload, or both.
  if (padding == 0 && payload.empty()) return result_t::fail(errc::sip022_empty_request);
  return result_t::ok({std::move(address.value), padding, payload}, chunk.size());
}

void encode_request_variable(const target_address& target, bytes_view padding, bytes_view payload,
                             std::vector<std::uint8_t>& out) {
  encode_address(target, out);
  append_be16(static_cast<std::uint16_t>(padding.size()), out);
  out.insert(out.end(), padding.begin(), padding.end());
  out.insert(out.end(), payload.begin(), payload.end());
}

decoded<response_fixed> decode_response_fixed(bytes_view in, std::size_t salt_size) {
  using result_t = decoded<response_fixed>;
  if (in.empty()) return result_t::more();
  if (in[0] != server_stream) return result_t::fail(errc::sip022_bad_type);
  std::size_t size = 1 + 8 + salt_size + 2;
  if (in.size() < size) return result_t::more();
  return result_t::ok(
      {load_be64(in.data() + 1), in.subspan(9, salt_size), load_be16(in.data() + 9 + salt_size)},
      size);
}

void encode_response_fixed(std::uint64_t timestamp, bytes_view request_salt, std::uint16_t length,
                           std::vector<std::uint8_t>& out) {
  out.push_back(server_stream);
  append_be64(timestamp, out);
  out.insert(out.end(), request_salt.begin(), request_salt.end());
  append_be16(length, out);
}

}  // namespace ss::sip022
