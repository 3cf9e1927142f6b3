// The Prometheus text of the counters (the endpoint itself, promtool and a real Prometheus
// server are in tests/integration/test_metrics.py).
#include "shadowsocks/ops/metrics.hpp"

#include <gtest/gtest.h>

namespace ss {
namespace {

TEST(RenderMetrics, CountersByPortAndUserWithLabelValuesEscaped) {
  process_state state(1000, 2);
  state.traffic.user(8388, "alice")->add(tcp_bytes_up, 1234);
  state.traffic.user(8388, "a \"quoted\\\" name\n")->add(udp_packets_down, 2);
  state.traffic.port(8388)->add(tcp_replay, 3);
  auto text = render_metrics(state, 1700000000.5);
  EXPECT_NE(text.find("shadowsocks_tcp_bytes_total{port=\"8388\",user=\"alice\","
                      "direction=\"up\"} 1234\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("shadowsocks_udp_packets_total{port=\"8388\",user=\"a \\\"quoted\\\\\\\" "
                      "name\\n\",direction=\"down\"} 2\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("shadowsocks_refused_total{port=\"8388\",proto=\"tcp\",reason=\"replay\"} "
                      "3\n"),
            std::string::npos);
  EXPECT_NE(text.find("process_start_time_seconds 1700000000.5\n"), std::string::npos);
  EXPECT_NE(text.find("# TYPE shadowsocks_tcp_connections_total counter\n"), std::string::npos);
  EXPECT_NE(text.find("shadowsocks_replay_filter_capacity 1000\n"), std::string::npos);
}

}  // namespace
}  // namespace ss
