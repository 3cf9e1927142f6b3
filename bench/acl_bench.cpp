// ACL speed for bench/run.py --only acl: writes a list of the given size (random IPv4 and IPv6
// networks, ||name rules and expressions), then times loading it and deciding routes.
//
//   acl_bench FILE NETWORKS NAMES    writes FILE (NETWORKS networks, NAMES name rules of which
//                                    one in ten is a regular expression), loads it with
//                                    shadowsocks-cpp's parser, and prints
//                                    {"load_ms": .., "ip_ns": .., "name_ns": ..}
//
// The decisions are timed over addresses and names of which about half match.

#include <chrono>
#include <cstdio>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "shadowsocks/config/acl.hpp"

namespace {

using clock_type = std::chrono::steady_clock;

double since_ns(clock_type::time_point t0) {
  return std::chrono::duration<double, std::nano>(clock_type::now() - t0).count();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: acl_bench FILE NETWORKS NAMES\n");
    return 2;
  }
  const std::string path = argv[1];
  const int networks = std::stoi(argv[2]);
  const int names = std::stoi(argv[3]);
  std::mt19937 rng(12345);
  std::vector<std::string> hosts;
  {
    std::ofstream out(path);
    out << "[proxy_all]\n[bypass_list]\n";
    for (int i = 0; i < networks; ++i) {
      if (i % 8 == 7) {
        out << std::hex << "2001:" << (rng() & 0xFFFF) << ":" << (rng() & 0xFFFF) << "::/"
            << std::dec << 32 + rng() % 17 << "\n";
      } else {
        out << (rng() % 223 + 1) << "." << (rng() % 256) << "." << (rng() % 256) << ".0/"
            << 16 + rng() % 9 << "\n";
      }
    }
    for (int i = 0; i < names; ++i) {
      std::string domain =
          "site" + std::to_string(rng() % 1000000) + ".example" + std::to_string(i % 50);
      hosts.push_back("www." + domain);
      if (i % 10 == 9) {
        out << "(^|\\.)"
            << "x" << i << "\\."
            << "example" << (i % 50) << "$\n";
      } else {
        out << "||" << domain << "\n";
      }
    }
  }
  auto t0 = clock_type::now();
  auto parsed = ss::load_acl_file(path);
  double load_ns = since_ns(t0);
  if (!parsed) {
    std::fprintf(stderr, "acl_bench: %s\n", parsed.error().message.c_str());
    return 1;
  }
  const auto& a = *parsed;
  // Addresses: random ones (most miss) and ones inside listed networks.
  std::vector<ss::target_address> ips;
  for (int i = 0; i < 4096; ++i) {
    ss::target_address::ipv4_bytes ip{
        static_cast<std::uint8_t>(rng() % 223 + 1), static_cast<std::uint8_t>(rng()),
        static_cast<std::uint8_t>(rng()), static_cast<std::uint8_t>(rng())};
    ips.push_back(ss::target_address::ipv4(ip, 443));
  }
  std::vector<ss::target_address> named;
  for (int i = 0; i < 4096; ++i) {
    auto host = i % 2 == 0 ? hosts[rng() % hosts.size()]
                           : "www.unlisted" + std::to_string(i) + ".example.org";
    named.push_back(*ss::target_address::domain(host, 443));
  }
  constexpr int rounds = 200;
  std::size_t bypassed = 0;
  t0 = clock_type::now();
  for (int r = 0; r < rounds; ++r) {
    for (const auto& t : ips)
      bypassed += a.route_for(t) == ss::acl::route::bypass;
  }
  double ip_ns = since_ns(t0) / (rounds * ips.size());
  t0 = clock_type::now();
  for (int r = 0; r < rounds / 4; ++r) {
    for (const auto& t : named)
      bypassed += a.route_for(t) == ss::acl::route::bypass;
  }
  double name_ns = since_ns(t0) / (rounds / 4 * named.size());
  std::printf("{\"load_ms\": %.1f, \"ip_ns\": %.1f, \"name_ns\": %.1f, \"bypassed\": %zu}\n",
              load_ns / 1e6, ip_ns, name_ns, bypassed);
  return 0;
}
