#include "http_message.hpp"

#include <algorithm>
#include <array>
#include <boost/asio/buffer.hpp>

#include "shadowsocks/codec/base64.hpp"
#include "shadowsocks/codec/text.hpp"

namespace ss::http {

namespace {

using bfield = bhttp::field;

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
    s.remove_suffix(1);
  return s;
}

// The comma-separated tokens of a field value ("close, X-Foo").
std::vector<std::string_view> tokens(std::string_view value) {
  std::vector<std::string_view> out;
  while (!value.empty()) {
    auto comma = value.find(',');
    auto t = trim(value.substr(0, comma));
    if (!t.empty()) out.push_back(t);
    if (comma == std::string_view::npos) break;
    value.remove_prefix(comma + 1);
  }
  return out;
}

// RFC 9110 section 7.6.1: fields that concern one connection only, never forwarded; and the
// framing fields, which we set ourselves for what we send.
bool hop_by_hop(const http::field& f, const std::vector<std::string_view>& connection_names) {
  switch (f.name) {
    case bfield::connection:
    case bfield::proxy_connection:
    case bfield::keep_alive:
    case bfield::proxy_authorization:
    case bfield::proxy_authenticate:
    case bfield::te:
    case bfield::trailer:
    case bfield::upgrade:
    case bfield::transfer_encoding:
    case bfield::content_length:
      return true;
    default:
      break;
  }
  return std::any_of(connection_names.begin(), connection_names.end(),
                     [&f](std::string_view n) { return equals_ignoring_case(n, f.name_text); });
}

// The names the Connection fields list (they are hop-by-hop too).
template <bool IsRequest>
std::vector<std::string_view> connection_names(const message_reader<IsRequest>& m) {
  std::vector<std::string_view> out;
  for (const auto& f : m.fields()) {
    if (f.name == bfield::connection || f.name == bfield::proxy_connection) {
      auto t = tokens(f.value);
      out.insert(out.end(), t.begin(), t.end());
    }
  }
  return out;
}

// Appends the fields of `m` that go on to the next hop.
template <bool IsRequest>
void append_end_to_end(const message_reader<IsRequest>& m, std::string& out,
                       bool skip_host = false) {
  auto named = connection_names(m);
  for (const auto& f : m.fields()) {
    if (hop_by_hop(f, named) || (skip_host && f.name == bfield::host)) continue;
    out.append(f.name_text).append(": ").append(f.value).append("\r\n");
  }
}

decision refuse(unsigned status, std::string why) {
  decision d;
  d.status = status;
  d.why = std::move(why);
  return d;
}

// The credentials of `Proxy-Authorization: Basic base64(user:password)` (RFC 7617).
bool authorized(const request_reader& req, const credential_table& users, bool& given) {
  auto value = req.find(bfield::proxy_authorization);
  given = value.has_value();
  if (!value) return false;
  auto v = trim(*value);
  auto space = v.find(' ');
  if (space == std::string_view::npos || !equals_ignoring_case(v.substr(0, space), "basic"))
    return false;
  auto decoded = base64_decode(trim(v.substr(space + 1)));
  if (!decoded) return false;
  std::string_view pair(reinterpret_cast<const char*>(decoded->data()), decoded->size());
  auto colon = pair.find(':');
  if (colon == std::string_view::npos) return false;
  return users.accepts(pair.substr(0, colon), pair.substr(colon + 1));
}

const char* reason_of(unsigned status) {
  switch (status) {
    case 400:
      return "Bad Request";
    case 403:
      return "Forbidden";
    case 405:
      return "Method Not Allowed";
    case 407:
      return "Proxy Authentication Required";
    case 431:
      return "Request Header Fields Too Large";
    case 501:
      return "Not Implemented";
    case 502:
      return "Bad Gateway";
    case 504:
      return "Gateway Timeout";
    default:
      return "Error";
  }
}

std::string hex(std::uint64_t n) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  do {
    out.insert(out.begin(), digits[n & 0xF]);
    n >>= 4;
  } while (n != 0);
  return out;
}

}  // namespace

template <bool IsRequest>
message_reader<IsRequest>::message_reader() {
  this->header_limit(header_limit);
  this->body_limit(boost::none);  // bodies are streamed, never held
  this->eager(true);
}

template <bool IsRequest>
std::size_t message_reader<IsRequest>::feed(bytes_view in, boost::system::error_code& ec) {
  ec = {};
  if (this->is_done()) return 0;
  // Until the header is complete, Beast wants all of it in one piece; it returns after the
  // header (not eager) so that the caller judges it before any of the body is taken.
  const bool had_header = this->is_header_done();
  this->eager(had_header);
  std::size_t used = 0;
  while (used < in.size()) {
    auto n = this->put(boost::asio::const_buffer(in.data() + used, in.size() - used), ec);
    used += n;
    if (ec) return used;  // need_more included
    if (this->is_done() || (!had_header && this->is_header_done())) return used;
    if (n == 0) break;
  }
  ec = bhttp::error::need_more;
  return used;
}

template <bool IsRequest>
std::optional<std::string_view> message_reader<IsRequest>::find(bhttp::field name) const {
  for (const auto& f : fields_) {
    if (f.name == name) return std::string_view(f.value);
  }
  return std::nullopt;
}

template <bool IsRequest>
void message_reader<IsRequest>::on_request_impl(bhttp::verb, boost::beast::string_view method,
                                                boost::beast::string_view target, int version,
                                                boost::system::error_code&) {
  method_.assign(method.data(), method.size());
  target_.assign(target.data(), target.size());
  version_ = version;
}

template <bool IsRequest>
void message_reader<IsRequest>::on_response_impl(int status, boost::beast::string_view reason,
                                                 int version, boost::system::error_code& ec) {
  // RFC 9110 section 15: 100 to 599 (Beast takes any three digits, "002" too).
  if (status < 100 || status > 599) ec = bhttp::error::bad_status;
  status_ = static_cast<unsigned>(status);
  reason_.assign(reason.data(), reason.size());
  version_ = version;
}

template <bool IsRequest>
void message_reader<IsRequest>::on_field_impl(bhttp::field name,
                                              boost::beast::string_view name_text,
                                              boost::beast::string_view value,
                                              boost::system::error_code&) {
  fields_.push_back({name, std::string(name_text.data(), name_text.size()),
                     std::string(trim({value.data(), value.size()}))});
}

template <bool IsRequest>
void message_reader<IsRequest>::on_header_impl(boost::system::error_code& ec) {
  // RFC 9112 section 6.1 and 6.3: a Transfer-Encoding that does not end in chunked cannot be
  // framed in a request, and one beside Content-Length is a smuggling attempt: both refused
  // (Beast refuses some of these orders itself).
  bool has_te = find(bhttp::field::transfer_encoding).has_value();
  bool has_length = find(bhttp::field::content_length).has_value();
  if (has_te && (has_length || (IsRequest && !this->chunked()))) {
    ec = bhttp::error::bad_transfer_encoding;
  }
}

template <bool IsRequest>
void message_reader<IsRequest>::on_body_init_impl(const boost::optional<std::uint64_t>&,
                                                  boost::system::error_code&) {}

template <bool IsRequest>
std::size_t message_reader<IsRequest>::on_body_impl(boost::beast::string_view body,
                                                    boost::system::error_code&) {
  body_.append(body.data(), body.size());
  return body.size();
}

template <bool IsRequest>
void message_reader<IsRequest>::on_chunk_header_impl(std::uint64_t size, boost::beast::string_view,
                                                     boost::system::error_code&) {
  if (!rechunk_) return;
  if (in_chunk_) body_.append("\r\n");
  in_chunk_ = size > 0;
  if (size > 0) body_.append(hex(size)).append("\r\n");
}

template <bool IsRequest>
std::size_t message_reader<IsRequest>::on_chunk_body_impl(std::uint64_t,
                                                          boost::beast::string_view body,
                                                          boost::system::error_code&) {
  body_.append(body.data(), body.size());
  return body.size();
}

template <bool IsRequest>
void message_reader<IsRequest>::on_finish_impl(boost::system::error_code&) {
  if (!rechunk_ || !this->chunked()) return;
  if (in_chunk_) body_.append("\r\n");
  in_chunk_ = false;
  body_.append("0\r\n\r\n");  // the last chunk; trailers are not forwarded
}

template class message_reader<true>;
template class message_reader<false>;

decision decide(const request_reader& req, const credential_table* users) {
  if (users != nullptr) {
    bool given = false;
    if (!authorized(req, *users, given)) {
      auto d = refuse(407, given ? "wrong proxy credentials" : "no proxy credentials");
      d.bad_credentials = given;
      return d;
    }
  }
  const auto& target = req.target();
  if (equals_ignoring_case(req.method(), "CONNECT")) {
    auto to = parse_authority(target, std::nullopt);
    if (!to) return refuse(400, "CONNECT needs host:port");
    decision d;
    d.what = decision::action::tunnel;
    d.target = std::move(*to);
    return d;
  }
  // A proxy is asked in absolute form (RFC 9112 section 3.2.2); origin-form ("/path") is a
  // request for a server, which a proxy must not serve.
  auto url = split_url(target, "http://");
  if (!url) {
    if (!target.empty() && target.front() == '/') {
      return refuse(400, "origin-form request (this is a proxy: ask for http://host/path)");
    }
    if (starts_with_ignoring_case(target, "https://")) {
      return refuse(400, "https:// URL (use CONNECT for HTTPS)");
    }
    return refuse(400, "request target is not an http:// URL");
  }
  auto host_port = url->authority;
  const auto& path = url->target;
  auto to = parse_authority(host_port, std::uint16_t{80});
  if (!to) return refuse(400, "bad host in the URL");
  decision d;
  d.what = decision::action::forward;
  d.target = std::move(*to);
  // RFC 9112 section 3.2.2: Host is replaced by the URL's authority. An intermediary sends its
  // own HTTP version (RFC 9110 section 6.2).
  d.head.append(req.method()).append(" ").append(path).append(" HTTP/1.1\r\n");
  d.head.append("Host: ").append(host_port).append("\r\n");
  append_end_to_end(req, d.head, true);
  if (req.chunked()) {
    d.head.append("Transfer-Encoding: chunked\r\n");
  } else if (auto n = req.content_length(); n && *n > 0) {
    d.head.append("Content-Length: ").append(std::to_string(*n)).append("\r\n");
  } else if (n) {
    // An explicit zero stays (POST with an empty body needs it).
    d.head.append("Content-Length: 0\r\n");
  }
  d.head.append("\r\n");
  return d;
}

std::string response_head(const response_reader& res, bool body_follows, bool chunked,
                          bool keep_alive, int client_version) {
  std::string out = "HTTP/1.1 " + std::to_string(res.status()) + " ";
  out.append(res.reason()).append("\r\n");
  append_end_to_end(res, out);
  if (body_follows) {
    if (chunked) {
      out.append("Transfer-Encoding: chunked\r\n");
    } else if (auto n = res.content_length()) {
      out.append("Content-Length: ").append(std::to_string(*n)).append("\r\n");
    }
  } else {
    // No body follows (HEAD, 1xx, 204, 304): the framing fields describe the resource and
    // are passed on as they came.
    for (const auto& f : res.fields()) {
      if (f.name == bfield::content_length || f.name == bfield::transfer_encoding) {
        out.append(f.name_text).append(": ").append(f.value).append("\r\n");
      }
    }
  }
  if (res.status() / 100 != 1) {
    if (!keep_alive) {
      out.append("Connection: close\r\n");
    } else if (client_version < 11) {
      out.append("Connection: keep-alive\r\n");
    }
  }
  out.append("\r\n");
  return out;
}

std::string error_response(unsigned status) {
  std::string body = std::to_string(status) + " " + reason_of(status) + "\n";
  std::string out = "HTTP/1.1 " + std::to_string(status) + " " + reason_of(status) + "\r\n";
  if (status == 407) out.append("Proxy-Authenticate: Basic realm=\"shadowsocks\"\r\n");
  out.append("Content-Type: text/plain\r\nContent-Length: ")
      .append(std::to_string(body.size()))
      .append("\r\nConnection: close\r\n\r\n")
      .append(body);
  return out;
}

}  // namespace ss::http
