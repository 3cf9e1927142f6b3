#pragma once
// Private to the service layer: the HTTP proxy's messages, without sockets. Beast's parser
// reads requests and responses; what a request asks for (a tunnel, a forwarded request, or a
// refusal with its status) and the rewritten headers are decided here, so that the fuzz target
// can drive it all from bytes.

#include <boost/beast/http/basic_parser.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "shadowsocks/codec/address.hpp"
#include "shadowsocks/codec/bytes.hpp"
#include "shadowsocks/crypto/credentials.hpp"

namespace ss::http {

namespace bhttp = boost::beast::http;

/// Largest header section of a request or a response (request or status line and fields),
/// 32 KiB: four times what nginx takes in one header buffer, and room for any browser's
/// cookies. A larger request is answered 431.
inline constexpr std::uint32_t header_limit = 32 * 1024;

/// One header field as received.
struct field {
  bhttp::field name = bhttp::field::unknown;  ///< Known name, or unknown.
  std::string name_text;                      ///< As received.
  std::string value;                          ///< As received (without surrounding space).
};

/// Reads one HTTP message from bytes fed in: the header first (inspect it once
/// `is_header_done()`), then the body, which comes out of `take_body()` in the framing the next
/// hop gets: chunked bodies re-chunked (`rechunk`, the default) or as plain data, trailers
/// dropped. No body is ever held whole: only what one `feed` delivered.
template <bool IsRequest>
class message_reader : public bhttp::basic_parser<IsRequest> {
 public:
  message_reader();

  /// Parses what it can of `in`; returns the bytes used. `ec` is `bhttp::error::need_more`
  /// when more input is needed (not a failure), any other error a malformed message.
  std::size_t feed(bytes_view in, boost::system::error_code& ec);
  /// For a response: no body follows whatever the header says (the answer to HEAD).
  void no_body() { this->skip(true); }
  /// Body bytes in chunked framing (true) or as plain data, from now on.
  void rechunk(bool on) { rechunk_ = on; }
  /// The body bytes decoded so far, framed for the next hop; empties the store.
  std::string take_body() { return std::exchange(body_, {}); }

  /// Request: the method as received ("GET", "CONNECT").
  const std::string& method() const { return method_; }
  /// Request: the request target as received.
  const std::string& target() const { return target_; }
  /// Response: the status code.
  unsigned status() const { return status_; }
  /// Response: the reason phrase.
  const std::string& reason() const { return reason_; }
  /// HTTP version times ten (11 for HTTP/1.1).
  int version() const { return version_; }
  /// The fields in the order received.
  const std::vector<field>& fields() const { return fields_; }
  /// The value of the first field named `name`, if any.
  std::optional<std::string_view> find(bhttp::field name) const;

 private:
  void on_request_impl(bhttp::verb, boost::beast::string_view method,
                       boost::beast::string_view target, int version,
                       boost::system::error_code& ec) override;
  void on_response_impl(int status, boost::beast::string_view reason, int version,
                        boost::system::error_code& ec) override;
  void on_field_impl(bhttp::field name, boost::beast::string_view name_text,
                     boost::beast::string_view value, boost::system::error_code& ec) override;
  void on_header_impl(boost::system::error_code& ec) override;
  void on_body_init_impl(const boost::optional<std::uint64_t>& length,
                         boost::system::error_code& ec) override;
  std::size_t on_body_impl(boost::beast::string_view body, boost::system::error_code& ec) override;
  void on_chunk_header_impl(std::uint64_t size, boost::beast::string_view extensions,
                            boost::system::error_code& ec) override;
  std::size_t on_chunk_body_impl(std::uint64_t remain, boost::beast::string_view body,
                                 boost::system::error_code& ec) override;
  void on_finish_impl(boost::system::error_code& ec) override;

  std::string method_;
  std::string target_;
  std::string reason_;
  unsigned status_ = 0;
  int version_ = 11;
  std::vector<field> fields_;
  std::string body_;
  bool rechunk_ = true;
  bool in_chunk_ = false;  // a chunk's data went out and its CRLF is still to come
};

using request_reader = message_reader<true>;
using response_reader = message_reader<false>;

/// What to do with a request whose header has been read.
struct decision {
  enum class action : std::uint8_t {
    tunnel,   ///< CONNECT: answer 200, then relay raw bytes to `target`.
    forward,  ///< Send `head` (then the body) to `target` and relay the response.
    refuse,   ///< Answer `status` and close.
  };
  action what = action::refuse;
  unsigned status = 400;         ///< refuse: the status to answer.
  std::string why;               ///< refuse: what was wrong, for the log (no credentials in it).
  bool bad_credentials = false;  ///< refuse 407 because credentials were given and wrong.
  target_address target;         ///< tunnel, forward: where to.
  std::string head;              ///< forward: the request header for the origin.
};

/// Decides what to do with the request `req` (its header read): CONNECT to an authority-form
/// `host:port` tunnels; an absolute-form `http://` target is forwarded in origin-form with the
/// hop-by-hop fields removed and Host set from the URL; everything else is refused with its
/// status. With `users`, a `Proxy-Authorization: Basic` of one of them is required (407).
decision decide(const request_reader& req, const credential_table* users);

/// The header of the response `res` for a client speaking HTTP/1.`client_minor`: the
/// hop-by-hop fields removed, the framing set for what follows (`chunked`: the body is sent
/// re-chunked; `length`: as is; neither: up to the close) and `Connection: close` or
/// keep-alive as `keep_alive` says.
std::string response_head(const response_reader& res, bool body_follows, bool chunked,
                          bool keep_alive, int client_version);

/// A complete error response from the proxy itself (status line, a short text body,
/// `Connection: close`; 407 with `Proxy-Authenticate: Basic`).
std::string error_response(unsigned status);

/// The answer to a CONNECT once the tunnel is up.
inline constexpr std::string_view connect_established =
    "HTTP/1.1 200 Connection established\r\n\r\n";

}  // namespace ss::http
