// The HTTP proxy's messages (src/service/http_message.cpp): what a request is turned into, and
// the headers and bodies sent on, byte for byte.
#include "http_message.hpp"

#include <gtest/gtest.h>

#include <string>

namespace ss::http {
namespace {

bytes_view view(std::string_view s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

// Reads `text` whole into `r`; returns the error (need_more when it ran out).
template <class Reader>
boost::system::error_code read(Reader& r, std::string_view text, std::string* body = nullptr) {
  boost::system::error_code ec;
  while (true) {
    auto used = r.feed(view(text), ec);
    text.remove_prefix(used);
    if (body != nullptr) body->append(r.take_body());
    if (ec || r.is_done() || text.empty()) return ec;
  }
}

decision decide_on(std::string_view text, const credential_table* users = nullptr) {
  request_reader req;
  auto ec = read(req, text);
  EXPECT_TRUE(req.is_header_done()) << ec.message();
  return decide(req, users);
}

TEST(HttpDecide, AbsoluteFormGoesOnInOriginFormWithoutHopByHopFields) {
  auto d = decide_on(
      "GET http://Example.com:8080/a/b?c=d#frag HTTP/1.1\r\n"
      "Host: wrong.example\r\n"
      "Connection: X-Private, keep-alive\r\n"
      "X-Private: secret\r\n"
      "Proxy-Connection: keep-alive\r\n"
      "Keep-Alive: timeout=5\r\n"
      "TE: trailers\r\n"
      "Trailer: X-T\r\n"
      "Upgrade: h2c\r\n"
      "Proxy-Authorization: Basic dXNlcjpwYXNz\r\n"
      "Accept: */*\r\n"
      "\r\n");
  ASSERT_EQ(d.what, decision::action::forward);
  EXPECT_EQ(d.target.to_string(), "Example.com:8080");
  EXPECT_EQ(d.head,
            "GET /a/b?c=d HTTP/1.1\r\n"
            "Host: Example.com:8080\r\n"
            "Accept: */*\r\n"
            "\r\n");
}

TEST(HttpDecide, DefaultPortAndPathAndTheBodyFraming) {
  auto d = decide_on("POST http://[::1] HTTP/1.0\r\nContent-Length: 3\r\n\r\nabc");
  ASSERT_EQ(d.what, decision::action::forward);
  EXPECT_EQ(d.target.to_string(), "[::1]:80");
  EXPECT_EQ(d.head, "POST / HTTP/1.1\r\nHost: [::1]\r\nContent-Length: 3\r\n\r\n");
  d = decide_on("PUT http://h/?q HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n");
  EXPECT_EQ(d.head, "PUT /?q HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n");
}

TEST(HttpDecide, ConnectTakesHostAndPort) {
  auto d = decide_on("CONNECT example.org:443 HTTP/1.1\r\nHost: example.org:443\r\n\r\n");
  ASSERT_EQ(d.what, decision::action::tunnel);
  EXPECT_EQ(d.target.to_string(), "example.org:443");
  d = decide_on("CONNECT [2001:db8::1]:8443 HTTP/1.1\r\n\r\n");
  EXPECT_EQ(d.target.to_string(), "[2001:db8::1]:8443");
  EXPECT_EQ(decide_on("CONNECT example.org HTTP/1.1\r\n\r\n").status, 400U);
  EXPECT_EQ(decide_on("CONNECT user@example.org:443 HTTP/1.1\r\n\r\n").status, 400U);
}

TEST(HttpDecide, WhatAProxyMustNotServeIs400) {
  for (const char* line :
       {"GET / HTTP/1.1", "OPTIONS * HTTP/1.1", "GET https://h/ HTTP/1.1", "GET ftp://h/ HTTP/1.1",
        "GET http:///x HTTP/1.1", "GET http://h:0/ HTTP/1.1", "GET http://u:p@h/ HTTP/1.1"}) {
    auto d = decide_on(std::string(line) + "\r\nHost: h\r\n\r\n");
    EXPECT_EQ(d.what, decision::action::refuse) << line;
    EXPECT_EQ(d.status, 400U) << line;
  }
}

TEST(HttpDecide, UsersNeedProxyAuthorizationBasic) {
  credential_table users;
  users.add("alice", "wonder land");
  users.add("bob", "b:c");
  auto with = [&users](const std::string& field) {
    return decide_on("GET http://h/ HTTP/1.1\r\n" + field + "\r\n", &users);
  };
  EXPECT_EQ(with("").status, 407U);
  EXPECT_FALSE(with("").bad_credentials);
  EXPECT_EQ(with("Proxy-Authorization: Basic YWxpY2U6d29uZGVyIGxhbmQ=\r\n").what,
            decision::action::forward);
  // Scheme names are case-insensitive; the password may hold colons.
  EXPECT_EQ(with("Proxy-Authorization: basic Ym9iOmI6Yw==\r\n").what, decision::action::forward);
  for (const char* bad : {"Proxy-Authorization: Basic YWxpY2U6d29uZGVy\r\n",  // alice:wonder
                          "Proxy-Authorization: Bearer YWxpY2U6d29uZGVyIGxhbmQ=\r\n",
                          "Proxy-Authorization: Basic !!!\r\n",
                          "Proxy-Authorization: Basic YWxpY2U=\r\n"}) {  // no colon
    auto d = with(bad);
    EXPECT_EQ(d.status, 407U) << bad;
    EXPECT_TRUE(d.bad_credentials) << bad;
  }
  // Authorization (for the origin) is not Proxy-Authorization.
  EXPECT_EQ(with("Authorization: Basic YWxpY2U6d29uZGVyIGxhbmQ=\r\n").status, 407U);
}

TEST(HttpReader, SmugglingShapesAreErrors) {
  for (const char* fields :
       {"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n",
        "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n",
        "Transfer-Encoding: gzip\r\nContent-Length: 5\r\n", "Transfer-Encoding: gzip\r\n",
        "Transfer-Encoding: chunked, gzip\r\n", "Content-Length: 5\r\nContent-Length: 6\r\n",
        "Content-Length: -1\r\n"}) {
    request_reader req;
    auto ec = read(req, std::string("POST http://h/ HTTP/1.1\r\n") + fields + "\r\n");
    EXPECT_TRUE(ec && ec != bhttp::error::need_more) << fields;
  }
}

TEST(HttpReader, TheHeaderSectionIsLimitedTo32KiB) {
  request_reader req;
  std::string big = "GET http://h/ HTTP/1.1\r\nX: " + std::string(header_limit, 'a') + "\r\n\r\n";
  EXPECT_EQ(read(req, big), bhttp::error::header_limit);
  request_reader fits;
  std::string ok =
      "GET http://h/ HTTP/1.1\r\nX: " + std::string(header_limit - 64, 'a') + "\r\n\r\n";
  EXPECT_FALSE(read(fits, ok));
  EXPECT_TRUE(fits.is_done());
}

TEST(HttpReader, ChunkedBodiesAreRechunkedOrDecoded) {
  const std::string head = "POST http://h/ HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n";
  const std::string body =
      "5;ext=1\r\nhello\r\n1a\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\nX-T: 1\r\n\r\n";
  request_reader rechunk;
  std::string out;
  EXPECT_FALSE(read(rechunk, head + body, &out));
  EXPECT_TRUE(rechunk.is_done());
  EXPECT_EQ(out, "5\r\nhello\r\n1a\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\n\r\n");
  request_reader plain;
  plain.rechunk(false);
  out.clear();
  EXPECT_FALSE(read(plain, head + body, &out));
  EXPECT_EQ(out, "helloabcdefghijklmnopqrstuvwxyz");
  // Fed a byte at a time, the same.
  request_reader slow;
  out.clear();
  std::string pending;
  boost::system::error_code ec;
  for (char c : head + body) {
    pending += c;
    pending.erase(0, slow.feed(view(pending), ec));
    out += slow.take_body();
  }
  EXPECT_TRUE(slow.is_done());
  EXPECT_EQ(out, "5\r\nhello\r\n1a\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\n\r\n");
}

TEST(HttpReader, TheHeaderComesBackBeforeAnyOfTheBody) {
  request_reader req;
  boost::system::error_code ec;
  std::string text = "POST http://h/ HTTP/1.1\r\nContent-Length: 4\r\n\r\nbody";
  auto used = req.feed(view(text), ec);
  EXPECT_FALSE(ec);
  EXPECT_TRUE(req.is_header_done());
  EXPECT_EQ(text.substr(used), "body");
  EXPECT_EQ(req.take_body(), "");
}

TEST(HttpResponse, HeadersForTheClient) {
  response_reader res;
  std::string text =
      "HTTP/1.1 200 OK\r\nConnection: keep-alive, X-Hop\r\nX-Hop: 1\r\nServer: s\r\n"
      "Proxy-Authenticate: Basic\r\nTransfer-Encoding: chunked\r\n\r\n";
  EXPECT_FALSE(read(res, text));
  EXPECT_EQ(response_head(res, true, true, true, 11),
            "HTTP/1.1 200 OK\r\nServer: s\r\nTransfer-Encoding: chunked\r\n\r\n");
  // An HTTP/1.0 client gets the body as plain data and the end of the connection.
  EXPECT_EQ(response_head(res, true, false, false, 10),
            "HTTP/1.1 200 OK\r\nServer: s\r\nConnection: close\r\n\r\n");
  response_reader head;
  head.no_body();
  EXPECT_FALSE(read(head, "HTTP/1.1 200 OK\r\nContent-Length: 12345\r\n\r\n"));
  EXPECT_TRUE(head.is_done());
  EXPECT_EQ(response_head(head, false, false, true, 10),
            "HTTP/1.1 200 OK\r\nContent-Length: 12345\r\nConnection: keep-alive\r\n\r\n");
  response_reader odd;
  EXPECT_TRUE(read(odd, "HTTP/1.1 099 Odd\r\n\r\n"));
}

TEST(HttpResponse, OurOwnErrors) {
  EXPECT_EQ(error_response(407),
            "HTTP/1.1 407 Proxy Authentication Required\r\n"
            "Proxy-Authenticate: Basic realm=\"shadowsocks\"\r\n"
            "Content-Type: text/plain\r\nContent-Length: 34\r\nConnection: close\r\n\r\n"
            "407 Proxy Authentication Required\n");
  EXPECT_EQ(error_response(431).substr(0, 46), "HTTP/1.1 431 Request Header Fields Too Large\r\n");
}

}  // namespace
}  // namespace ss::http
