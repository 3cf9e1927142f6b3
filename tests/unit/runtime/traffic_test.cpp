// Per-worker counters: each worker writes its own slot; a reader sums them.
#include "shadowsocks/runtime/traffic.hpp"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

namespace ss {
namespace {

TEST(PerWorkerCounters, WorkersAndOtherThreadsAllCount) {
  traffic_counters c(3);
  std::vector<std::thread> threads;
  for (unsigned w = 0; w < 3; ++w) {
    threads.emplace_back([&c, w] {
      set_worker_index(w);
      for (int i = 0; i < 100000; ++i)
        c.add(tcp_bytes_up, 2);
      c.add(tcp_connections, 1);
    });
  }
  // Two threads that are no workers share the last slot (atomically).
  for (int t = 0; t < 2; ++t) {
    threads.emplace_back([&c] {
      for (int i = 0; i < 1000; ++i)
        c.add(udp_packets_up, 1);
    });
  }
  for (auto& t : threads)
    t.join();
  EXPECT_EQ(c.total(tcp_bytes_up), 600000u);
  EXPECT_EQ(c.total(tcp_connections), 3u);
  EXPECT_EQ(c.total(udp_packets_up), 2000u);
  EXPECT_EQ(c.total(udp_bytes_down), 0u);
}

TEST(TrafficRegistry, CountersAreSharedByNameAndForgottenWhenRemoved) {
  traffic_registry r(2);
  auto a = r.user(8388, "alice");
  EXPECT_EQ(r.user(8388, "alice"), a);
  EXPECT_NE(r.user(8389, "alice"), a);
  r.port(8388)->add(tcp_replay, 1);
  EXPECT_EQ(r.users().size(), 2u);
  r.retain({{8388, "alice"}}, {8388});
  EXPECT_EQ(r.users().size(), 1u);
  EXPECT_EQ(r.ports().at(8388)->total(tcp_replay), 1u);
  r.retain({}, {});
  EXPECT_TRUE(r.users().empty());
  a->add(tcp_bytes_down, 5);  // an open connection still holds it
  EXPECT_EQ(a->total(tcp_bytes_down), 5u);
}

}  // namespace
}  // namespace ss
