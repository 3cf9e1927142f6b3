// The relay engine (runtime layer), encrypted and plain: both directions, half-close, the
// summary it reports, bad data, the idle timeout, and a transfer larger than one turn. The
// relay runs on its own io_context thread; the test drives blocking loopback sockets.
#include "shadowsocks/runtime/relay.hpp"

#include <gtest/gtest.h>

#include <future>
#include <numeric>
#include <string>
#include <thread>
#include <vector>

namespace ss {
namespace {

// Two connected loopback sockets, `near` on `ctx` (handed to the relay), `far` on the test's
// own context (used blocking).
struct socket_pair {
  socket_pair(net::io_context& ctx, net::io_context& test) : near(ctx), far(test) {
    tcp::acceptor acc(test, {net::ip::address_v4::loopback(), 0});
    far.connect(acc.local_endpoint());
    tcp::socket accepted = acc.accept();
    near.assign(tcp::v4(), accepted.release());
  }
  tcp::socket near;
  tcp::socket far;
};

// A relay between `client` (plain) and `other` (encrypted or plain), run by a thread of its
// own until it reports its end.
struct relay_fixture {
  net::io_context ctx;
  net::io_context test;
  connection_count active;
  socket_pair client{ctx, test};
  socket_pair other{ctx, test};
  std::promise<relay_summary> ended;
  std::thread runner;

  relay_options options(steady_clock::duration idle = 10s) {
    relay_options o;
    o.idle_timeout = idle;
    o.counted = active_guard(active);  // as the connection hands its count over
    o.on_end = [this](const relay_summary& s) { ended.set_value(s); };
    o.log = log();
    return o;
  }
  relay_log log() {
    relay_log l;
    l.started = steady_clock::now();
    l.early_up = 3;  // as if a request had gone out before the relay
    return l;
  }
  void run() {
    runner = std::thread([this] { ctx.run(); });
  }
  // The encrypted relay with `key` both ways (client: plain side), and its thread.
  void start_encrypted(const master_key& key, relay_options o) {
    start_relay(std::move(client.near), std::move(other.near), aead_stream_encoder(key),
                aead_stream_decoder(key), std::move(o));
    run();
  }
  relay_summary summary() {
    auto f = ended.get_future();
    EXPECT_EQ(f.wait_for(10s), std::future_status::ready) << "the relay never ended";
    return f.valid() ? f.get() : relay_summary{};
  }
  // True once the relay is gone (its last handler ran after the report), within 5 s.
  bool gone() {
    for (int i = 0; i < 500 && active.value() != 0; ++i)
      std::this_thread::sleep_for(10ms);
    return active.value() == 0;
  }
  ~relay_fixture() {
    ctx.stop();
    if (runner.joinable()) runner.join();
  }
};

std::string read_exactly(tcp::socket& s, std::size_t n) {
  std::string out(n, '\0');
  net::read(s, net::buffer(out));
  return out;
}

// True when the next read of `s` is EOF (the relay half-closed or closed it).
bool at_eof(tcp::socket& s) {
  char c;
  boost::system::error_code ec;
  s.read_some(net::buffer(&c, 1), ec);
  return ec == net::error::eof || ec == net::error::connection_reset;
}

master_key test_key() {
  auto k = master_key::from_password("chacha20-ietf-poly1305", "relay test");
  EXPECT_TRUE(k);
  return *k;
}

// Opens everything `dec` can from `s` until it has `n` plaintext bytes.
std::string open_from(tcp::socket& s, aead_stream_decoder& dec, std::size_t n) {
  std::string out;
  while (out.size() < n) {
    auto d = dec.next();
    EXPECT_FALSE(d.is_error());
    if (d.is_error()) break;
    if (d.is_done()) {
      out.append(reinterpret_cast<const char*>(d.value.data()), d.value.size());
      continue;
    }
    auto space = dec.prepare();
    dec.commit(s.read_some(net::buffer(space.data(), space.size())));
  }
  return out;
}

void seal_to(tcp::socket& s, aead_stream_encoder& enc, std::string_view text) {
  std::vector<std::uint8_t> sealed;
  enc.seal({reinterpret_cast<const std::uint8_t*>(text.data()), text.size()}, sealed);
  net::write(s, net::buffer(sealed));
}

std::string pattern(std::size_t n) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i)
    s[i] = static_cast<char>('a' + (i * 7 + i / 251) % 26);
  return s;
}

TEST(PlainRelay, CarriesBothWaysHalfClosesAndReports) {
  relay_fixture f;
  start_plain_relay(std::move(f.client.near), std::move(f.other.near), f.options());
  f.run();
  // More than one turn of a direction (16 blocks) each way, both at once.
  const std::string up = pattern(3 << 20), down = pattern(2 << 20);
  std::thread writer([&] { net::write(f.client.far, net::buffer(up)); });
  std::thread back([&] { net::write(f.other.far, net::buffer(down)); });
  EXPECT_EQ(read_exactly(f.other.far, up.size()), up);
  EXPECT_EQ(read_exactly(f.client.far, down.size()), down);
  writer.join();
  back.join();
  EXPECT_EQ(f.active.value(), 1);
  // The client is done sending: the target sees EOF, and can still answer.
  f.client.far.shutdown(tcp::socket::shutdown_send);
  EXPECT_TRUE(at_eof(f.other.far));
  net::write(f.other.far, net::buffer("bye", 3));
  EXPECT_EQ(read_exactly(f.client.far, 3), "bye");
  f.other.far.shutdown(tcp::socket::shutdown_send);
  EXPECT_TRUE(at_eof(f.client.far));
  auto s = f.summary();
  EXPECT_EQ(s.up, up.size() + 3);  // with the early bytes
  EXPECT_EQ(s.down, down.size() + 3);
  EXPECT_EQ(s.ending, relay_end::closed);
  EXPECT_TRUE(f.gone());
}

TEST(PlainRelay, EndsBothSidesWhenIdle) {
  relay_fixture f;
  start_plain_relay(std::move(f.client.near), std::move(f.other.near), f.options(200ms));
  f.run();
  auto s = f.summary();
  EXPECT_EQ(s.ending, relay_end::idle_timeout);
  EXPECT_TRUE(at_eof(f.client.far));
  EXPECT_TRUE(at_eof(f.other.far));
  EXPECT_TRUE(f.gone());
}

TEST(EncryptedRelay, SealsUpOpensDownAndReports) {
  relay_fixture f;
  auto key = test_key();
  f.start_encrypted(key, f.options());
  aead_stream_encoder enc(key);  // the far end of the encrypted side
  aead_stream_decoder dec(key);
  const std::string up = pattern(1 << 20), down = pattern(700000);
  std::thread writer([&] { net::write(f.client.far, net::buffer(up)); });
  EXPECT_EQ(open_from(f.other.far, dec, up.size()), up);
  writer.join();
  seal_to(f.other.far, enc, down);
  EXPECT_EQ(read_exactly(f.client.far, down.size()), down);
  f.client.far.shutdown(tcp::socket::shutdown_send);
  f.other.far.shutdown(tcp::socket::shutdown_send);
  EXPECT_TRUE(at_eof(f.client.far));
  auto s = f.summary();
  EXPECT_EQ(s.up, up.size() + 3);
  EXPECT_EQ(s.down, down.size());
  EXPECT_EQ(s.ending, relay_end::closed);
  EXPECT_TRUE(f.gone());
}

TEST(EncryptedRelay, BadDataEndsBothSides) {
  relay_fixture f;
  auto key = test_key();
  f.start_encrypted(key, f.options());
  net::write(f.other.far, net::buffer(std::string(200, 'x')));
  auto s = f.summary();
  EXPECT_EQ(s.ending, relay_end::bad_data);
  EXPECT_TRUE(at_eof(f.client.far));
  EXPECT_TRUE(f.gone());
}

TEST(EncryptedRelay, AReplayedSaltEndsTheRelay) {
  relay_fixture f;
  auto key = test_key();
  replay_filter seen(1000);
  aead_stream_encoder enc(key);
  seen.check_and_insert(enc.salt());  // this stream was seen before
  auto opts = f.options();
  opts.check_replay = &seen;
  f.start_encrypted(key, std::move(opts));
  seal_to(f.other.far, enc, "hello");
  EXPECT_EQ(f.summary().ending, relay_end::replayed);
  EXPECT_TRUE(at_eof(f.client.far));
}

}  // namespace
}  // namespace ss
