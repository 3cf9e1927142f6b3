// The 2022 edition's TCP streams (SIP022 3.1): header chunks, 0xFFFF chunks, the checks of the
// fixed-length headers.

#include <cstring>
#include <set>

#include "shadowsocks/codec/base64.hpp"
#include "shadowsocks/codec/sip022_header.hpp"
#include "shadowsocks/crypto/aead_stream.hpp"
#include "shadowsocks/crypto/kdf.hpp"
#include "sip022_support.hpp"

namespace ss {
namespace {

using test::bytes;

using test::methods_2022;
using test::psk_of;

// A clock the tests move.
std::uint64_t fake_now = 1'700'000'000;
std::uint64_t fake_clock() {
  return fake_now;
}

// Everything `dec` yields from `stream`, fed whole; the error if it fails.
struct drained {
  std::vector<bytes> payloads;
  errc error = errc::ok;
};
drained drain(aead_stream_decoder& dec, bytes_view stream) {
  drained out;
  dec.feed(stream);
  for (auto d = dec.next(); !d.needs_more(); d = dec.next()) {
    if (d.is_error()) {
      out.error = d.error;
      break;
    }
    out.payloads.emplace_back(d.value.begin(), d.value.end());
  }
  return out;
}

TEST(Sip022Subkey, PublishedVector) {
  // The session subkey vector published for SIP022 implementations.
  auto psk = *base64_decode("Lc3tTx0BY6ZJ/fCwOx3JvF0I/anhwJBO5p2+FA5Vce4=");
  auto salt = *base64_decode("3oFO0VyLyGI4nFN0M9P+62vPND/L6v8IingaPJWTbJA=");
  bytes subkey(32);
  derive_subkey_2022(psk, salt, subkey);
  EXPECT_EQ(base64_encode(subkey), "EdNE+4U8dVnHT0+poAFDK2bdlwfrHT61sUNr9WYPh+E=");
}

TEST(Sip022Stream, RequestCarriesHeadersThenChunksForEveryMethod) {
  fake_now = 1'700'000'000;
  for (auto m : methods_2022) {
    auto key = psk_of(m);
    auto target = *target_address::domain("example.com", 443);
    auto first = test::pseudo_random(700, 3);
    auto more = test::pseudo_random(200'000, 4);
    aead_stream_encoder enc(key);
    enc.set_clock(fake_clock);
    bytes stream;
    enc.seal_request(target, first, stream);
    // Salt, the fixed header chunk (11 + tag), the variable header chunk with the payload.
    std::size_t variable = target.encoded_size() + 2 + first.size();
    EXPECT_EQ(stream.size(), key.cipher().salt_size + 11 + 16 + variable + 16) << m;
    enc.seal(more, stream);
    // One write of 200,000 bytes: chunks of 0xFFFF.
    EXPECT_EQ(stream.size(),
              key.cipher().salt_size + 27 + variable + 16 + 200'000 + 4 * chunk_overhead)
        << m;

    aead_stream_decoder dec(key);
    dec.set_clock(fake_clock);
    auto out = drain(dec, stream);
    ASSERT_EQ(out.error, errc::ok) << m;
    ASSERT_EQ(out.payloads.size(), 5U) << m;
    auto h = sip022::decode_request_variable(out.payloads[0]);
    ASSERT_TRUE(h.is_done()) << m;
    EXPECT_EQ(h.value.target.to_string(), "example.com:443");
    EXPECT_EQ(h.value.padding, 0U);
    EXPECT_EQ(bytes(h.value.payload.begin(), h.value.payload.end()), first);
    EXPECT_EQ(out.payloads[1].size(), 0xFFFFU);
    bytes rest;
    for (std::size_t i = 1; i < out.payloads.size(); ++i)
      rest.insert(rest.end(), out.payloads[i].begin(), out.payloads[i].end());
    EXPECT_EQ(rest, more) << m;
  }
}

TEST(Sip022Stream, RequestWithoutPayloadIsPadded) {
  auto key = psk_of("2022-blake3-aes-256-gcm");
  std::set<std::size_t> paddings;
  for (int i = 0; i < 50; ++i) {
    aead_stream_encoder enc(key);
    bytes stream;
    enc.seal_request(target_address::ipv4({10, 0, 0, 1}, 22), {}, stream);
    aead_stream_decoder dec(key);
    auto out = drain(dec, stream);
    ASSERT_EQ(out.payloads.size(), 1U);
    auto h = sip022::decode_request_variable(out.payloads[0]);
    ASSERT_TRUE(h.is_done());
    EXPECT_TRUE(h.value.payload.empty());
    EXPECT_GE(h.value.padding, 1U);
    EXPECT_LE(h.value.padding, 900U);
    paddings.insert(h.value.padding);
  }
  EXPECT_GT(paddings.size(), 10U);  // random lengths, not one
}

TEST(Sip022Stream, ResponseHeaderNamesTheRequestSaltAndActsAsFirstLength) {
  fake_now = 1'700'000'000;
  for (auto m : methods_2022) {
    auto key = psk_of(m, 7);
    aead_stream_encoder request(key);
    aead_stream_encoder response(key);
    response.set_clock(fake_clock);
    response.answer(request.salt());
    auto data = test::pseudo_random(70'000, 5);
    EXPECT_EQ(response.output_size(data.size()),
              key.cipher().salt_size + (1 + 8 + key.cipher().salt_size + 2 + 16) + 0xFFFF + 16 +
                  (2 + 16 + (70'000 - 0xFFFF) + 16))
        << m;
    auto expected = response.output_size(data.size());
    bytes stream;
    response.seal(data, stream);
    EXPECT_EQ(stream.size(), expected) << m;
    response.seal(test::to_bytes("tail"), stream);

    aead_stream_decoder dec(key, request.salt());
    dec.set_clock(fake_clock);
    auto out = drain(dec, stream);
    ASSERT_EQ(out.error, errc::ok) << m;
    bytes all;
    for (const auto& p : out.payloads)
      all.insert(all.end(), p.begin(), p.end());
    data.insert(data.end(), {'t', 'a', 'i', 'l'});
    EXPECT_EQ(all, data) << m;

    // The same response is refused by a client that sent another request.
    aead_stream_encoder other(key);
    aead_stream_decoder wrong(key, other.salt());
    wrong.set_clock(fake_clock);
    EXPECT_EQ(drain(wrong, stream).error, errc::sip022_wrong_salt) << m;
    EXPECT_TRUE(drain(wrong, stream).payloads.empty());
  }
}

TEST(Sip022Stream, TimestampsMoreThan30SecondsOffAreRefusedBothWays) {
  auto key = psk_of("2022-blake3-aes-128-gcm");
  for (std::int64_t skew : {-31, -30, 0, 30, 31, -100000}) {
    fake_now = 1'700'000'000;
    aead_stream_encoder enc(key);
    enc.set_clock(fake_clock);
    bytes stream;
    enc.seal_request(target_address::ipv4({1, 2, 3, 4}, 80), test::to_bytes("GET /"), stream);
    aead_stream_encoder answer(key);
    answer.set_clock(fake_clock);
    answer.answer(enc.salt());
    bytes back;
    answer.seal(test::to_bytes("HTTP/1.1 200"), back);

    fake_now = static_cast<std::uint64_t>(1'700'000'000 + skew);
    bool fresh = skew >= -30 && skew <= 30;
    aead_stream_decoder server(key);
    server.set_clock(fake_clock);
    aead_stream_decoder client(key, enc.salt());
    client.set_clock(fake_clock);
    EXPECT_EQ(drain(server, stream).error, fresh ? errc::ok : errc::sip022_stale_timestamp) << skew;
    EXPECT_EQ(drain(client, back).error, fresh ? errc::ok : errc::sip022_stale_timestamp) << skew;
  }
  fake_now = 1'700'000'000;
}

TEST(Sip022Stream, ReflectedResponseIsNoRequestAndRequestNoResponse) {
  auto key = psk_of("2022-blake3-aes-256-gcm");
  aead_stream_encoder enc(key);
  bytes request;
  enc.seal_request(target_address::ipv4({1, 2, 3, 4}, 80), test::pseudo_random(100, 1), request);
  aead_stream_encoder answer(key);
  answer.answer(enc.salt());
  bytes response;
  answer.seal(test::pseudo_random(64, 1), response);
  // The server's own response sent back to it; the client's request fed to a client.
  aead_stream_decoder server(key);
  EXPECT_NE(drain(server, response).error, errc::ok);
  aead_stream_decoder client(key, enc.salt());
  EXPECT_NE(drain(client, request).error, errc::ok);
}

TEST(Sip022Stream, FullSizeChunksFromAPeerAreDecodedFedInSteps) {
  // Our encoder writes at most one read (49,149 bytes) per chunk; a peer may send 0xFFFF, which
  // is more than the decoder's pooled block holds.
  auto key = psk_of("2022-blake3-chacha20-poly1305");
  aead_stream_encoder enc(key);
  bytes stream;
  enc.seal_request(target_address::ipv4({1, 2, 3, 4}, 80), test::to_bytes("x"), stream);
  auto big = test::pseudo_random(3 * 0xFFFF, 2);
  enc.seal(big, stream);
  for (std::size_t step : {std::size_t{1000}, std::size_t{65536}, std::size_t{70000}}) {
    aead_stream_decoder dec(key);
    bytes got;
    std::size_t at = 0;
    while (at < stream.size()) {
      auto piece = bytes_view(stream).subspan(at, std::min(step, stream.size() - at));
      at += piece.size();
      auto space = dec.prepare();
      ASSERT_GE(space.size(), 1U);
      // Copy through prepare/commit as a socket read would, in as many reads as it takes.
      while (!piece.empty()) {
        auto n = std::min(space.size(), piece.size());
        std::memcpy(space.data(), piece.data(), n);
        dec.commit(n);
        piece = piece.subspan(n);
        for (auto d = dec.next(); d.is_done(); d = dec.next())
          got.insert(got.end(), d.value.begin(), d.value.end());
        if (!piece.empty()) space = dec.prepare();
      }
    }
    ASSERT_GE(got.size(), 4U + 2 + 2 + 1) << step;
    // The variable header (IPv4 address, no padding, "x") then the data.
    EXPECT_EQ(bytes(got.begin() + 10, got.end()), big) << step;
  }
}

TEST(Sip022Stream, FlippedBitInTheHeadersIsRefused) {
  auto key = psk_of("2022-blake3-aes-128-gcm");
  aead_stream_encoder enc(key);
  bytes stream;
  enc.seal_request(target_address::ipv4({1, 2, 3, 4}, 80), test::to_bytes("hello"), stream);
  for (std::size_t i = 0; i < stream.size(); ++i) {
    auto bad = stream;
    bad[i] ^= 0x20;
    aead_stream_decoder dec(key);
    auto out = drain(dec, bad);
    EXPECT_EQ(out.error, errc::aead_auth_failed) << i;
    EXPECT_TRUE(out.payloads.empty()) << i;
  }
}

TEST(Sip023Stream, IdentityHeaderNamesTheUserWhoseKeyDecodesTheRest) {
  for (const char* m : {"2022-blake3-aes-128-gcm", "2022-blake3-aes-256-gcm"}) {
    auto server_key = psk_of(m, 100);
    sip022::user_table users;
    ASSERT_TRUE(users.add("alice", psk_of(m, 101)));
    ASSERT_TRUE(users.add("bob", psk_of(m, 102)));
    EXPECT_FALSE(users.add("bob again", psk_of(m, 102))) << "one key, one user";
    auto client_key = psk_of(m, 102);
    client_key.set_identity_keys({bytes(server_key.bytes().begin(), server_key.bytes().end())});

    aead_stream_encoder enc(client_key);
    bytes stream;
    enc.seal_request(target_address::ipv4({1, 2, 3, 4}, 80), test::to_bytes("hi"), stream);
    // Salt, one identity header, then the headers as for a single user.
    EXPECT_EQ(stream[0], enc.salt()[0]);
    aead_stream_decoder dec(server_key, &users);
    auto out = drain(dec, stream);
    ASSERT_EQ(out.error, errc::ok) << m;
    ASSERT_NE(dec.user(), nullptr);
    EXPECT_EQ(dec.user()->name, "bob");
    auto h = sip022::decode_request_variable(out.payloads.at(0));
    ASSERT_TRUE(h.is_done());
    EXPECT_EQ(bytes(h.value.payload.begin(), h.value.payload.end()), test::to_bytes("hi"));

    // A key that is no user's: refused at the identity header.
    auto stranger = psk_of(m, 103);
    stranger.set_identity_keys({bytes(server_key.bytes().begin(), server_key.bytes().end())});
    aead_stream_encoder other(stranger);
    bytes refused;
    other.seal_request(target_address::ipv4({1, 2, 3, 4}, 80), test::to_bytes("hi"), refused);
    aead_stream_decoder dec2(server_key, &users);
    EXPECT_EQ(drain(dec2, refused).error, errc::sip022_unknown_user) << m;
    EXPECT_EQ(dec2.user(), nullptr);
  }
}

}  // namespace
}  // namespace ss
