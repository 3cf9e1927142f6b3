// The 2022 edition's UDP packets and sessions (SIP022 3.2, 4.1).

#include "shadowsocks/crypto/udp_2022.hpp"

#include <openssl/evp.h>

#include <cstring>

#include "shadowsocks/codec/address.hpp"
#include "sip022_support.hpp"

namespace ss::sip022 {
namespace {

using test::bytes;

using test::methods_2022;
using test::psk_of;

bytes address_and(std::string_view data) {
  bytes out;
  encode_address(target_address::ipv4({127, 0, 0, 1}, 53), out);
  out.insert(out.end(), data.begin(), data.end());
  return out;
}

TEST(PacketWindow, NewIdsInAnyOrderOnceAndNotTooOld) {
  packet_window w;
  EXPECT_TRUE(w.check(0));
  w.accept(0);
  EXPECT_FALSE(w.check(0));
  for (std::uint64_t id : {5, 3, 4, 1, 2}) {
    EXPECT_TRUE(w.check(id)) << id;
    w.accept(id);
    EXPECT_FALSE(w.check(id)) << id;
  }
  // A jump: everything within the window behind it is still accepted once.
  w.accept(3000);
  EXPECT_FALSE(w.check(3000 - packet_window::window_bits)) << "too old";
  EXPECT_TRUE(w.check(3000 - packet_window::window_bits + 1));
  EXPECT_TRUE(w.check(2999));
  w.accept(2999);
  EXPECT_FALSE(w.check(2999));
  EXPECT_FALSE(w.check(5)) << "far behind";
  // A slot reused after the window moved on is clear again.
  w.accept(3000 + packet_window::window_bits);
  EXPECT_TRUE(w.check(3000 + packet_window::window_bits - 1));
  EXPECT_FALSE(w.check(3000 + packet_window::window_bits));
  // Check never changes anything.
  EXPECT_TRUE(w.check(1'000'000));
  EXPECT_TRUE(w.check(1'000'000));
}

TEST(Udp2022, ClientAndServerSessionsRoundTripForEveryMethod) {
  for (auto m : methods_2022) {
    auto key = psk_of(m);
    udp_codec client_codec(key), server_codec(key);
    client_session client(client_codec);
    bytes packet(2048);
    auto request = address_and("query");
    auto n = client.seal(client_codec, request, packet);
    EXPECT_EQ(n, request.size() + client_codec.overhead(false)) << m;
    packet.resize(n);

    auto ids = server_codec.open_header(packet);
    ASSERT_TRUE(ids) << m;
    EXPECT_EQ(ids->session, client.id());
    EXPECT_EQ(ids->packet_id, 0U);
    server_session session(server_codec, *ids);
    auto opened = session.open(server_codec, packet, *ids);
    ASSERT_TRUE(opened) << m;
    EXPECT_EQ(bytes(opened->payload.begin(), opened->payload.end()), request);

    bytes reply(2048);
    auto answer = address_and("answer");
    auto r = session.seal(server_codec, answer, reply);
    EXPECT_EQ(r, answer.size() + server_codec.overhead(true)) << m;
    reply.resize(r);
    auto back = reply;
    auto got = client.open(client_codec, back);
    ASSERT_TRUE(got) << m;
    EXPECT_EQ(bytes(got->begin(), got->end()), answer);
    // The same answer again is a replay.
    back = reply;
    EXPECT_EQ(client.open(client_codec, back).error(),
              make_error_code(errc::sip022_replayed_packet))
        << m;
    // The client's own packet reflected to it is refused (type, or separate key material).
    auto reflected = packet;
    EXPECT_FALSE(client.open(client_codec, reflected)) << m;
  }
}

TEST(Udp2022, AesSeparateHeaderIsOneAesBlockUnderThePsk) {
  // SIP022 3.2.1: the first 16 bytes are AES-ECB(PSK, session ID || packet ID BE), checked here
  // with OpenSSL's AES directly.
  auto key = psk_of("2022-blake3-aes-128-gcm", 9);
  udp_codec codec(key);
  client_session client(codec);
  for (std::uint64_t pid = 0; pid < 3; ++pid) {
    bytes packet(512);
    packet.resize(client.seal(codec, address_and("x"), packet));
    EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
    ASSERT_EQ(EVP_DecryptInit_ex(ctx, EVP_aes_128_ecb(), nullptr, key.bytes().data(), nullptr), 1);
    EVP_CIPHER_CTX_set_padding(ctx, 0);
    std::uint8_t plain[32];
    int n = 0;
    ASSERT_EQ(EVP_DecryptUpdate(ctx, plain, &n, packet.data(), 16), 1);
    EVP_CIPHER_CTX_free(ctx);
    ASSERT_EQ(n, 16);
    EXPECT_EQ(bytes(plain, plain + 8), bytes(client.id().begin(), client.id().end()));
    bytes be_pid = {0, 0, 0, 0, 0, 0, 0, static_cast<std::uint8_t>(pid)};
    EXPECT_EQ(bytes(plain + 8, plain + 16), be_pid);
  }
}

TEST(Udp2022, StaleTimestampsAndWrongTypesAreRefusedAndLeaveTheWindowAlone) {
  for (auto m : methods_2022) {
    auto key = psk_of(m, 3);
    udp_codec codec(key);
    auto id = random_session_id();
    auto seal_at = [&](std::uint64_t pid, std::uint8_t type, std::uint64_t now) {
      bytes packet(512);
      own_session s(codec);
      s.id = id;
      s.next_packet_id = pid;
      if (s.sealer) set_session_key(*s.sealer, key, id);
      packet.resize(codec.seal(s, {type, now, {}}, address_and("x"), packet));
      return packet;
    };
    server_session session(codec, packet_ids{id, 0, nullptr});
    const std::uint64_t now = unix_now();
    auto try_open = [&](bytes packet) {
      auto ids = codec.open_header(packet);
      if (!ids) return ids.error();
      auto r = session.open(codec, packet, *ids, now);
      return r ? std::error_code() : r.error();
    };
    EXPECT_EQ(try_open(seal_at(1, client_packet, now - 31)),
              make_error_code(errc::sip022_stale_timestamp))
        << m;
    EXPECT_EQ(try_open(seal_at(1, client_packet, now + 31)),
              make_error_code(errc::sip022_stale_timestamp))
        << m;
    EXPECT_EQ(try_open(seal_at(1, server_packet, now)), make_error_code(errc::sip022_bad_type))
        << m;
    // Packet 1 was never accepted: it still goes through, once.
    EXPECT_EQ(try_open(seal_at(1, client_packet, now - 30)), std::error_code()) << m;
    EXPECT_EQ(try_open(seal_at(1, client_packet, now)),
              make_error_code(errc::sip022_replayed_packet))
        << m;
  }
}

TEST(Udp2022, ShortAndFlippedPacketsAreRefused) {
  for (auto m : methods_2022) {
    auto key = psk_of(m, 4);
    udp_codec codec(key);
    client_session client(codec);
    bytes packet(512);
    packet.resize(client.seal(codec, address_and("payload"), packet));
    for (std::size_t n = 0; n < codec.overhead(false); ++n) {
      bytes cut(packet.begin(), packet.begin() + static_cast<std::ptrdiff_t>(n));
      auto ids = codec.open_header(cut);
      if (!ids) continue;
      server_session s(codec, *ids);
      EXPECT_FALSE(s.open(codec, cut, *ids)) << m << " " << n;
    }
    for (std::size_t i = 0; i < packet.size(); ++i) {
      auto bad = packet;
      bad[i] ^= 0x10;
      auto ids = codec.open_header(bad);
      if (!ids) continue;
      server_session s(codec, *ids);
      EXPECT_FALSE(s.open(codec, bad, *ids)) << m << " byte " << i;
    }
  }
}

TEST(Udp2022, IdentityHeadersFindTheUserAndAnswersAreUnderTheUsersKey) {
  for (const char* m : {"2022-blake3-aes-128-gcm", "2022-blake3-aes-256-gcm"}) {
    auto server_key = psk_of(m, 50);
    user_table users;
    ASSERT_TRUE(users.add("alice", psk_of(m, 51)));
    ASSERT_TRUE(users.add("carol", psk_of(m, 52)));
    udp_codec server_codec(server_key, &users);

    auto client_key = psk_of(m, 52);
    client_key.set_identity_keys({bytes(server_key.bytes().begin(), server_key.bytes().end())});
    udp_codec client_codec(client_key);
    EXPECT_EQ(client_codec.overhead(false), server_codec.overhead(false) + 16);
    client_session client(client_codec);
    bytes packet(512);
    packet.resize(client.seal(client_codec, address_and("q"), packet));
    auto ids = server_codec.open_header(packet);
    ASSERT_TRUE(ids) << m;
    ASSERT_NE(ids->sender, nullptr);
    EXPECT_EQ(ids->sender->name, "carol");
    server_session session(server_codec, *ids);
    auto opened = session.open(server_codec, packet, *ids);
    ASSERT_TRUE(opened) << m;
    EXPECT_EQ(bytes(opened->payload.begin(), opened->payload.end()), address_and("q"));
    bytes reply(512);
    reply.resize(session.seal(server_codec, address_and("a"), reply));
    auto back = client.open(client_codec, reply);
    ASSERT_TRUE(back) << m;
    EXPECT_EQ(bytes(back->begin(), back->end()), address_and("a"));

    // No user has this key: refused at the identity header.
    auto stranger = psk_of(m, 53);
    stranger.set_identity_keys({bytes(server_key.bytes().begin(), server_key.bytes().end())});
    udp_codec stranger_codec(stranger);
    client_session other(stranger_codec);
    bytes bad(512);
    bad.resize(other.seal(stranger_codec, address_and("q"), bad));
    EXPECT_EQ(server_codec.open_header(bad).error(), make_error_code(errc::sip022_unknown_user));
  }
}

}  // namespace
}  // namespace ss::sip022
