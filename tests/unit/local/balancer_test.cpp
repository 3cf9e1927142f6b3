// The choice of a client's server and the health it is made from: pure logic, with the
// random number given.
#include "shadowsocks/local/balancer.hpp"

#include <gtest/gtest.h>

#include <map>

namespace ss {
namespace {

using std::chrono::microseconds;
using std::chrono::milliseconds;

std::shared_ptr<upstream> server(const std::string& host, double tcp_weight = 1.0,
                                 double udp_weight = 1.0) {
  auto u = std::make_shared<upstream>();
  u->cfg.server_hosts = {host};
  u->cfg.server_port = 8388;
  u->cfg.key = std::make_shared<const master_key>(
      *master_key::from_password("aes-256-gcm", "a password for the tests"));
  u->cfg.tcp_weight = tcp_weight;
  u->cfg.udp_weight = udp_weight;
  u->cfg.mode = relay_mode::tcp_and_udp;
  u->health = std::make_shared<server_health>();
  return u;
}

// How often each server is chosen for `n` evenly spread random numbers.
std::map<std::string, int> shares(const upstream_list& list, bool udp, int n = 1000) {
  std::map<std::string, int> out;
  for (int i = 0; i < n; ++i) {
    double r = (i + 0.5) / n;
    const auto* u = choose_upstream(list, udp, {}, r);
    if (u != nullptr) ++out[u->cfg.server_hosts[0]];
  }
  return out;
}

TEST(ServerHealth, AFailedCheckTakesItDownAndASuccessfulOneBringsItBack) {
  server_health h;
  EXPECT_TRUE(h.up());
  EXPECT_FALSE(h.score());
  EXPECT_EQ(h.record_check(microseconds(2000)), server_health::change::none);
  EXPECT_EQ(h.score(), microseconds(2000));
  EXPECT_EQ(h.record_check(std::nullopt), server_health::change::went_down);
  EXPECT_FALSE(h.up());
  EXPECT_EQ(h.record_check(std::nullopt), server_health::change::none);
  EXPECT_EQ(h.record_check(microseconds(2000)), server_health::change::came_back);
  EXPECT_TRUE(h.up());
  EXPECT_EQ(h.checks_ok.load(), 2u);
  EXPECT_EQ(h.checks_failed.load(), 2u);
}

TEST(ServerHealth, AConnectFailureTakesItDownUntilACheckSucceeds) {
  server_health h;
  EXPECT_EQ(h.record_connect_failure(), server_health::change::went_down);
  EXPECT_EQ(h.record_connect_failure(), server_health::change::none);
  EXPECT_FALSE(h.up());
  EXPECT_EQ(h.connect_failures.load(), 2u);
  EXPECT_EQ(h.record_check(microseconds(100)), server_health::change::came_back);
}

TEST(ServerHealth, TheScoreIsTheMedianWeighedByFailuresInTheWindow) {
  server_health h;
  for (int ms : {1, 9, 3, 5, 7})
    h.record_check(milliseconds(ms));
  EXPECT_EQ(h.score(), milliseconds(5));
  // One failure in six: 5 ms * (1 + 2/6)... of the median of the five successes.
  h.record_check(std::nullopt);
  EXPECT_NEAR(static_cast<double>(h.score()->count()), 5000.0 * (1.0 + 2.0 / 6.0), 1.0);
  // The window is the last ten: old failures leave it.
  for (int i = 0; i < 10; ++i)
    h.record_check(milliseconds(4));
  EXPECT_EQ(h.score(), milliseconds(4));
  EXPECT_EQ(h.last_rtt(), milliseconds(4));
}

TEST(ChooseUpstream, OneServerIsChosenWithoutARandomNumber) {
  upstream_list list{server("a")};
  const upstream* none[] = {list[0].get()};
  EXPECT_EQ(choose_upstream(list, false, {}), list[0].get());
  EXPECT_EQ(choose_upstream(list, false, none), nullptr);
}

TEST(ChooseUpstream, WeightsShareTheConnections) {
  upstream_list list{server("a", 1), server("b", 3)};
  auto s = shares(list, false);
  EXPECT_EQ(s["a"], 250);
  EXPECT_EQ(s["b"], 750);
  // UDP has weights of its own.
  upstream_list udp{server("a", 1, 4), server("b", 3, 1)};
  auto u = shares(udp, true);
  EXPECT_EQ(u["a"], 800);
  EXPECT_EQ(u["b"], 200);
}

TEST(ChooseUpstream, ADownServerGetsNothingWhileOthersAreUp) {
  upstream_list list{server("a"), server("b"), server("c")};
  list[1]->health->record_connect_failure();
  auto s = shares(list, false);
  EXPECT_EQ(s["b"], 0);
  EXPECT_EQ(s["a"] + s["c"], 1000);
  EXPECT_GT(s["a"], 400);
  EXPECT_GT(s["c"], 400);
}

TEST(ChooseUpstream, WhenAllAreDownAllAreTried) {
  upstream_list list{server("a"), server("b")};
  for (auto& u : list)
    u->health->record_connect_failure();
  auto s = shares(list, false);
  EXPECT_EQ(s["a"], 500);
  EXPECT_EQ(s["b"], 500);
}

TEST(ChooseUpstream, ASlowServerIsLeftOutOfTheBand) {
  upstream_list list{server("fast"), server("near"), server("slow")};
  list[0]->health->record_check(milliseconds(10));
  list[1]->health->record_check(milliseconds(30));  // <= 10 * 1.5 + 20
  list[2]->health->record_check(milliseconds(300));
  auto s = shares(list, false);
  EXPECT_EQ(s["slow"], 0);
  EXPECT_EQ(s["fast"], 500);
  EXPECT_EQ(s["near"], 500);
}

TEST(ChooseUpstream, AServerNotCheckedYetCountsAsTheBest) {
  upstream_list list{server("checked"), server("new")};
  list[0]->health->record_check(milliseconds(500));
  auto s = shares(list, false);
  EXPECT_EQ(s["checked"], 500);
  EXPECT_EQ(s["new"], 500);
}

TEST(ChooseUpstream, TriedServersAreNotChosenAgain) {
  upstream_list list{server("a"), server("b"), server("c")};
  std::vector<const upstream*> tried;
  for (int i = 0; i < 3; ++i) {
    const auto* u = choose_upstream(list, false, tried, 0.5);
    ASSERT_NE(u, nullptr);
    EXPECT_EQ(std::ranges::find(tried, u), tried.end());
    tried.push_back(u);
  }
  EXPECT_EQ(choose_upstream(list, false, tried, 0.5), nullptr);
}

TEST(ChooseUpstream, AServerThatDoesNotCarryTheProtocolIsNotChosen) {
  auto tcp = server("tcp");
  tcp->cfg.mode = relay_mode::tcp_only;
  upstream_list list{tcp, server("both")};
  auto s = shares(list, true);
  EXPECT_EQ(s["tcp"], 0);
  EXPECT_EQ(s["both"], 1000);
}

TEST(Upstream, LabelAndIdentityNameTheServer) {
  auto u = server("2001:db8::1");
  EXPECT_EQ(u->label(), "[2001:db8::1]:8388");
  u->cfg.name = "tokyo";
  EXPECT_EQ(u->label(), "tokyo ([2001:db8::1]:8388)");
  auto v = server("2001:db8::1");
  EXPECT_EQ(u->identity(), v->identity());
  v->cfg.server_port = 8389;
  EXPECT_NE(u->identity(), v->identity());
  auto w = server("2001:db8::1");
  w->cfg.key = std::make_shared<const master_key>(
      *master_key::from_password("aes-256-gcm", "another password for the tests"));
  EXPECT_NE(u->identity(), w->identity());
}

}  // namespace
}  // namespace ss
