// The cost of many 2017 keys on one port, for bench/run.py --only keys: the time to find the
// key of a new TCP connection (the salt and first sealed length) and of a UDP packet, with
// KEYS keys of METHOD on the port.
//
//   key_ring_bench KEYS METHOD     prints {"keys": .., "tcp_warm_us": .., "tcp_cold_us": ..,
//                                  "tcp_unknown_us": .., "udp_warm_us": .., "udp_cold_us": ..,
//                                  "per_key_ns": ..}
//
// warm: the key the client's address used last (the common case: a client reconnecting).
// cold: the key found longest ago, from an address never seen (every key is tried). unknown:
// a key of nobody (a probe), every key tried and none opens. Each figure is the median of
// several rounds.

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "shadowsocks/codec/address.hpp"
#include "shadowsocks/crypto/aead_stream.hpp"
#include "shadowsocks/crypto/key_ring.hpp"
#include "shadowsocks/crypto/udp_packet.hpp"

namespace {

using clock_type = std::chrono::steady_clock;
using ss::bytes_view;

double since_us(clock_type::time_point t0) {
  return std::chrono::duration<double, std::micro>(clock_type::now() - t0).count();
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

std::vector<std::uint8_t> stream_start(const ss::master_key& key) {
  ss::aead_stream_encoder enc(key);
  std::vector<std::uint8_t> out;
  std::vector<std::uint8_t> payload(64, 'x');
  enc.seal_request(*ss::target_address::parse("example.com:443"), payload, out);
  return out;
}

std::vector<std::uint8_t> packet(const ss::master_key& key, std::size_t size) {
  ss::udp_packet_cipher sealer(key);
  std::vector<std::uint8_t> plain(size, 0);
  plain[0] = 1;  // an IPv4 target
  std::vector<std::uint8_t> out;
  sealer.seal(plain, out);
  return out;
}

// A client address never used before.
std::string fresh_client() {
  static unsigned n = 0;
  ++n;
  return std::string(reinterpret_cast<const char*>(&n), sizeof n);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: key_ring_bench KEYS METHOD\n");
    return 2;
  }
  const auto n = static_cast<std::size_t>(std::stoul(argv[1]));
  const std::string method = argv[2];
  std::vector<ss::master_key> keys;
  for (std::size_t i = 0; i < n; ++i) {
    auto key = ss::master_key::from_password(method, "password of user " + std::to_string(i));
    if (!key || key->cipher().is_2022()) {
      std::fprintf(stderr, "key_ring_bench: %s is no 2017 method\n", method.c_str());
      return 2;
    }
    keys.push_back(*key);
  }
  auto stranger = *ss::master_key::from_password(method, "nobody's password");
  constexpr int rounds = 15;
  std::vector<double> warm, cold, unknown, udp_warm, udp_cold;
  std::vector<std::uint8_t> out(2048);
  bytes_view payload;
  for (int r = 0; r < rounds; ++r) {
    // A new port each round: the keys in the order added, the last at the back.
    ss::key_ring ring;
    for (std::size_t i = 0; i < n; ++i)
      ring.add("user" + std::to_string(i), keys[i]);
    // Cold: the last key, from a new address: every key is tried.
    auto start = stream_start(keys[n - 1]);
    auto client = fresh_client();
    auto t0 = clock_type::now();
    auto found = ring.find_stream_key(start, client);
    cold.push_back(since_us(t0));
    if (found.index != n - 1 || found.tried != n) {
      std::fprintf(stderr, "key_ring_bench: cold search found %zu after %zu tries\n",
                   found.index.value_or(n), found.tried);
      return 1;
    }
    // Warm: the same address and key again.
    start = stream_start(keys[n - 1]);
    t0 = clock_type::now();
    found = ring.find_stream_key(start, client);
    warm.push_back(since_us(t0));
    // Unknown: nobody's key.
    start = stream_start(stranger);
    t0 = clock_type::now();
    found = ring.find_stream_key(start, fresh_client());
    unknown.push_back(since_us(t0));
    if (found.index) return 1;
    // UDP, 1200-byte packets: the key now at the back (n - 2; n - 1 moved to the front), from
    // a new address, then from the same address again.
    const std::size_t udp_key = n >= 2 ? n - 2 : 0;
    auto p = packet(keys[udp_key], 1200);
    auto udp_client = fresh_client();
    t0 = clock_type::now();
    found = ring.find_packet_key(p, udp_client, out, payload);
    udp_cold.push_back(since_us(t0));
    p = packet(keys[udp_key], 1200);
    t0 = clock_type::now();
    found = ring.find_packet_key(p, udp_client, out, payload);
    udp_warm.push_back(since_us(t0));
    if (found.index != udp_key) return 1;
  }
  std::printf(
      "{\"keys\": %zu, \"method\": \"%s\", \"tcp_warm_us\": %.2f, \"tcp_cold_us\": %.1f, "
      "\"tcp_unknown_us\": %.1f, \"udp_warm_us\": %.2f, \"udp_cold_us\": %.1f, "
      "\"per_key_ns\": %.0f}\n",
      n, method.c_str(), median(warm), median(cold), median(unknown), median(udp_warm),
      median(udp_cold), median(cold) * 1000 / static_cast<double>(n));
  return 0;
}
