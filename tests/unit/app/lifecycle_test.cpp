// The pieces of a daemon's life, driven one at a time: binding, the drain on SIGTERM, reload on
// SIGHUP, and the replay filter's state file. Sockets only on 127.0.0.1, ports from the kernel.
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <unistd.h>

#include <csignal>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "lifecycle.hpp"
#include "listeners.hpp"

namespace ss {
namespace {

namespace fs = std::filesystem;

// A scratch directory, removed with everything in it at the end of the test.
struct scratch_dir {
  scratch_dir() {
    std::string tmpl = (fs::temp_directory_path() / "ss-lifecycle-XXXXXX").string();
    path = ::mkdtemp(tmpl.data());
  }
  ~scratch_dir() { fs::remove_all(path); }
  fs::path path;
};

config server_config(std::int64_t port, std::string mode = "tcp_and_udp") {
  raw_config raw;
  raw["server"].set(std::vector<std::string>{"127.0.0.1"}, "-s");
  raw["server_port"].set(port, "-p");
  raw["password"].set(std::string("pw"), "-k");
  raw["mode"].set(std::move(mode), "-u");
  return validate(raw, program::server, 2).value();
}

TEST(FileLimit, AMaxConnectionsTheLimitCannotHoldIsNamed) {
  rlimit saved{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &saved), 0);
  rlimit low = saved;
  low.rlim_cur = 1000;
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &low), 0);
  auto problem = file_limit_shortfall(8000);
  EXPECT_FALSE(file_limit_shortfall(400)) << "2 x 400 + 64 fits in 1000";
  EXPECT_FALSE(file_limit_shortfall(0)) << "not given: the cap follows the limit";
  ::setrlimit(RLIMIT_NOFILE, &saved);
  ASSERT_TRUE(problem);
  EXPECT_EQ(*problem,
            "max_connections: 8000 connections need about 16064 open files, but the open-file "
            "limit is 1000; raise it (nofile, or LimitNOFILE= under systemd)");
}

TEST(WorkerPool, PortZeroGivesTcpAndUdpTheSamePort) {
  worker_pool pool(2);
  auto bound = pool.bind(profile_of(program::server), server_config(0));
  ASSERT_TRUE(bound.has_value());
  const auto* sockets = &*bound;
  ASSERT_EQ(sockets->addresses.size(), 1u);
  auto port = static_cast<std::uint16_t>(std::stoi(sockets->addresses.front().substr(10)));
  ASSERT_NE(port, 0);
  EXPECT_EQ(sockets->port, port);
  EXPECT_EQ(sockets->acceptors.size(), 2u);  // one per worker
  EXPECT_EQ(sockets->datagram.size(), 1u);
  // Both are ours now: binding either again fails.
  net::io_context ioc;
  boost::system::error_code ec;
  udp::socket u(ioc, udp::v4());
  u.bind({net::ip::make_address("127.0.0.1"), port}, ec);
  EXPECT_EQ(ec, net::error::address_in_use);
  tcp::acceptor t(ioc, tcp::v4());
  t.bind({net::ip::make_address("127.0.0.1"), port}, ec);
  EXPECT_EQ(ec, net::error::address_in_use);
}

TEST(WorkerPool, ABusyPortIsAFailureNamingTheAddress) {
  net::io_context ioc;
  tcp::acceptor busy(ioc, {net::ip::make_address("127.0.0.1"), 0});
  auto port = busy.local_endpoint().port();
  worker_pool pool(2);
  auto bound = pool.bind(profile_of(program::server), server_config(port, "tcp_only"));
  ASSERT_FALSE(bound.has_value());
  const auto* failed = &bound.error();
  EXPECT_EQ(failed->host, "127.0.0.1");
  EXPECT_EQ(failed->port, port);
  EXPECT_EQ(failed->error, net::error::address_in_use);
}

TEST(SignalHandling, SigtermStopsAcceptingAndTheDrainEndsWithTheLastConnection) {
  ::unsetenv("NOTIFY_SOCKET");
  net::io_context control;
  signal_handling signals(control);
  connection_count open;
  open.add();  // one connection still open when the signal comes
  bool stopped_accepting = false;
  int reloads = 0;
  // The grace period is an hour: only the end of the last connection can stop the loop in time.
  signals.start(
      [&] {
        stopped_accepting = true;
        open.remove();  // ... and then that connection ends
      },
      open, [&] { ++reloads; }, std::chrono::hours(1));
  bool bound_hit = false;
  net::steady_timer bound(control, std::chrono::seconds(60));
  bound.async_wait([&](const boost::system::error_code& ec) {
    if (ec) return;
    bound_hit = true;
    control.stop();
  });
  ASSERT_EQ(::raise(SIGHUP), 0);
  while (reloads == 0 && !bound_hit)
    control.run_one();
  EXPECT_EQ(reloads, 1);
  ASSERT_EQ(::raise(SIGTERM), 0);
  control.run();
  EXPECT_TRUE(stopped_accepting);
  EXPECT_FALSE(bound_hit) << "the drain did not end when the last connection did";
  EXPECT_EQ(open.value(), 0);
}

TEST(Reloader, AppliesChangesKeepsFixedKeysAndRefusesABadFile) {
  ::unsetenv("NOTIFY_SOCKET");
  scratch_dir dir;
  auto path = dir.path / "server.json";
  auto write = [&](const std::string& text) { std::ofstream(path) << text; };
  write(R"({"server": "127.0.0.1", "server_port": 8388, "password": "a", "timeout": 30})");
  command_line cl;
  cl.config_path = path.string();
  auto first = load_config(program::server, cl);
  ASSERT_TRUE(first.cfg);
  std::optional<config> applied;
  reloader reloads(profile_of(program::server), cl, first.raw, [&](const config& c) {
    applied = c;
    return std::string("applied");
  });

  // The timeout applies; the port waits for a restart.
  write(R"({"server": "127.0.0.1", "server_port": 9999, "password": "a", "timeout": 90})");
  ASSERT_TRUE(reloads.reload());
  ASSERT_TRUE(applied);
  EXPECT_EQ(applied->timeout, std::chrono::seconds(90));
  EXPECT_EQ(applied->server_port, 8388);
  ASSERT_EQ(applied->servers.size(), 1u);
  EXPECT_EQ(applied->servers[0].server_port, 8388);
  EXPECT_EQ(applied->servers[0].timeout, std::chrono::seconds(90));
  // The process's cap, filled in, for the port too.
  EXPECT_NE(serving(*applied, applied->servers[0]).max_connections, 0u);

  // A broken file changes nothing.
  applied.reset();
  write(R"({"server_port": 8388, "password": "a", "method": "rc4-md5"})");
  EXPECT_FALSE(reloads.reload());
  write("{not json");
  EXPECT_FALSE(reloads.reload());
  EXPECT_FALSE(applied);
}

TEST(ReplayPersistence, WhatIsSavedIsRestoredByTheNextProcess) {
  scratch_dir dir;
  auto path = (dir.path / "replay.state").string();
  std::array<std::uint8_t, 32> salt{};
  salt.fill(0x5a);
  net::io_context control;
  {
    auto state = std::make_shared<process_state>(1000);
    replay_persistence p(control, state, path, std::chrono::hours(1));
    p.restore();  // no file yet: starts empty, and checks it can write one
    EXPECT_TRUE(fs::exists(path));
    state->replay.insert(salt);
    p.save_if_changed();
  }
  auto next = std::make_shared<process_state>(1000);
  replay_persistence p(control, next, path, std::chrono::hours(1));
  EXPECT_FALSE(next->replay.contains(salt));
  p.restore();
  EXPECT_TRUE(next->replay.contains(salt));
}

}  // namespace
}  // namespace ss
