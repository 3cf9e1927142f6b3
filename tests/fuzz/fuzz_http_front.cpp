// The HTTP proxy's message handling (src/service/http_message.cpp) from bytes: a request read
// in steps of any size by Beast's parser, the decision taken on it, the header sent on and the
// body re-framed; and a response's header as rewritten for the client. Whatever is sent on
// must parse again, carry no hop-by-hop field, name the resource in origin-form, and a
// re-chunked body must decode to the same bytes as the original.
#include <algorithm>
#include <string>
#include <string_view>

#include "fuzz_support.hpp"
#include "http_message.hpp"

namespace http = ss::http;

namespace {

ss::bytes_view view_of(std::string_view s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

// Feeds `in` to `r` in steps of `step` bytes (the unconsumed rest carried over, as the front
// does); returns the error that stopped it (need_more when the input ran out).
template <class Reader>
boost::system::error_code feed_in_steps(Reader& r, std::string_view in, std::size_t step,
                                        std::string* body = nullptr) {
  std::string pending;
  boost::system::error_code ec = http::bhttp::error::need_more;
  for (std::size_t at = 0; at < in.size() || !pending.empty();) {
    auto n = std::min(step, in.size() - at);
    pending.append(in.substr(at, n));
    at += n;
    auto used = r.feed(view_of(pending), ec);
    FUZZ_CHECK(used <= pending.size());
    pending.erase(0, used);
    if (body != nullptr) body->append(r.take_body());
    if (ec != http::bhttp::error::need_more) break;
    if (n == 0) break;  // nothing more to give
  }
  return ec;
}

const ss::credential_table& users() {
  static const ss::credential_table table = [] {
    ss::credential_table t;
    t.add("user", "pass");
    return t;
  }();
  return table;
}

bool is_hop_by_hop(const http::field& f) {
  using bf = http::bhttp::field;
  return f.name == bf::connection || f.name == bf::proxy_connection || f.name == bf::keep_alive ||
         f.name == bf::proxy_authorization || f.name == bf::te || f.name == bf::trailer ||
         f.name == bf::upgrade;
}

void check_request(std::string_view in, std::size_t step, bool with_users) {
  http::request_reader req;
  auto ec = feed_in_steps(req, in, step);
  if (!req.is_header_done() || (ec && ec != http::bhttp::error::need_more)) return;
  auto d = http::decide(req, with_users ? &users() : nullptr);
  if (d.what != http::decision::action::forward) return;
  // The header sent on parses, in origin-form, with one Host and nothing hop-by-hop.
  http::request_reader again;
  boost::system::error_code aec;
  auto used = again.feed(view_of(d.head), aec);
  FUZZ_CHECK(again.is_header_done() && used == d.head.size());
  FUZZ_CHECK(!again.target().empty() && again.target().front() == '/');
  FUZZ_CHECK(again.method() == req.method());
  FUZZ_CHECK(again.chunked() == req.chunked());
  FUZZ_CHECK(std::count_if(again.fields().begin(), again.fields().end(),
                           [](const auto& f) { return f.name == http::bhttp::field::host; }) == 1);
  FUZZ_CHECK(std::none_of(again.fields().begin(), again.fields().end(), is_hop_by_hop));
}

// A body given whole (after a header that parsed) comes out of a re-chunking reader in a
// form that decodes to what a plain reader yields.
void check_body(std::string_view head, std::string_view body, std::size_t step) {
  http::request_reader plain;
  http::request_reader chunked;
  plain.rechunk(false);
  std::string decoded;
  std::string rechunked;
  std::string whole = std::string(head) + std::string(body);
  auto ec1 = feed_in_steps(plain, whole, step, &decoded);
  auto ec2 = feed_in_steps(chunked, whole, step + 1, &rechunked);
  FUZZ_CHECK(plain.is_done() == chunked.is_done());
  if (!plain.is_done() || !plain.chunked()) return;
  (void)ec1;
  (void)ec2;
  http::request_reader reread;
  reread.rechunk(false);
  std::string redecoded;
  feed_in_steps(reread, std::string(head) + rechunked, 7, &redecoded);
  FUZZ_CHECK(reread.is_done());
  FUZZ_CHECK(redecoded == decoded);
}

void check_response(std::string_view in, std::size_t step, bool head_request) {
  http::response_reader res;
  if (head_request) res.no_body();
  auto ec = feed_in_steps(res, in, step);
  if (!res.is_header_done() || (ec && ec != http::bhttp::error::need_more)) return;
  bool body = !head_request && res.status() != 204 && res.status() != 304;
  auto out = http::response_head(res, body, res.chunked(), step % 2 == 0, 11);
  http::response_reader again;
  if (head_request) again.no_body();
  boost::system::error_code aec;
  again.feed(view_of(out), aec);
  FUZZ_CHECK(again.is_header_done());
  FUZZ_CHECK(again.status() == res.status());
  // Only our own Connection field ("close", or "keep-alive" for HTTP/1.0) is hop-by-hop.
  for (const auto& f : again.fields()) {
    if (f.name == http::bhttp::field::connection) {
      FUZZ_CHECK(f.value == "close" || f.value == "keep-alive");
    } else {
      FUZZ_CHECK(!is_hop_by_hop(f));
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  std::size_t step = 1 + data[1] % 64;
  std::string_view in(reinterpret_cast<const char*>(data + 2), size - 2);
  switch (data[0] % 4) {
    case 0:
      check_request(in, step, data[0] & 0x80);
      break;
    case 1: {
      // A chunked POST header, then the input as its body.
      check_body("POST http://h/ HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n", in,
                 step);
      break;
    }
    case 2:
    case 3:
      check_response(in, step, data[0] % 4 == 3);
      break;
  }
  return 0;
}
