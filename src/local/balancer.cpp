// A client's servers: health, the choice of a server, and the health checks.

#include "shadowsocks/local/balancer.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <random>

#include "outbound.hpp"
#include "shadowsocks/codec/text.hpp"
#include "shadowsocks/service/context.hpp"

namespace ss {

namespace {

using std::chrono::microseconds;

// The band of scores that count as good as the best: best * 1.5 + 20 ms. Round trips to
// servers a few milliseconds apart are noise; a server twice as far away is not.
constexpr double band_factor = 1.5;
constexpr microseconds band_margin{20'000};
// A failed check weighs on the score as much as doubling the round trip (in the share of the
// window that failed).
constexpr double failure_penalty = 2.0;

std::string host_port(const server_entry& c) {
  std::string hosts = join(c.server_hosts);
  bool v6 = hosts.find(':') != std::string::npos;
  return (v6 ? "[" + hosts + "]" : hosts) + ":" + std::to_string(c.server_port);
}

}  // namespace

std::vector<std::optional<microseconds>> server_health::checks() const {
  std::lock_guard lock(m_);
  return {window_.begin(), window_.end()};
}

server_health::change server_health::record_check(std::optional<microseconds> rtt) {
  std::lock_guard lock(m_);
  window_.push_back(rtt);
  if (window_.size() > window) window_.pop_front();
  std::vector<microseconds> good;
  for (const auto& r : window_) {
    if (r) good.push_back(*r);
  }
  if (good.empty()) {
    score_us_.store(-1);
  } else {
    std::nth_element(good.begin(), good.begin() + static_cast<std::ptrdiff_t>(good.size() / 2),
                     good.end());
    double median = static_cast<double>(good[good.size() / 2].count());
    double failed =
        static_cast<double>(window_.size() - good.size()) / static_cast<double>(window_.size());
    score_us_.store(static_cast<std::int64_t>(median * (1.0 + failure_penalty * failed)));
  }
  if (rtt) {
    checks_ok.fetch_add(1, std::memory_order_relaxed);
    last_rtt_us_.store(rtt->count());
  } else {
    checks_failed.fetch_add(1, std::memory_order_relaxed);
  }
  bool was_up = up_.exchange(rtt.has_value());
  if (was_up == rtt.has_value()) return change::none;
  return rtt ? change::came_back : change::went_down;
}

server_health::change server_health::record_connect_failure() {
  connect_failures.fetch_add(1, std::memory_order_relaxed);
  return up_.exchange(false) ? change::went_down : change::none;
}

std::optional<microseconds> server_health::score() const noexcept {
  auto us = score_us_.load(std::memory_order_relaxed);
  if (us < 0) return std::nullopt;
  return microseconds(us);
}

std::optional<microseconds> server_health::last_rtt() const noexcept {
  auto us = last_rtt_us_.load(std::memory_order_relaxed);
  if (us < 0) return std::nullopt;
  return microseconds(us);
}

std::string upstream::label() const {
  auto at = address();
  return cfg.name.empty() ? at : cfg.name + " (" + at + ")";
}

std::string upstream::address() const {
  return host_port(cfg);
}

std::string upstream::identity() const {
  // The key by a fingerprint (FNV-1a): two entries for one address with different keys are
  // two servers, and the identity never holds the key itself.
  std::string id = host_port(cfg) + " " + std::string(cfg.key->cipher().name) + " " +
                   fmt::format("{:016x}", fnv1a_64(cfg.key->bytes()));
  if (!cfg.plugin.empty()) {
    id += " " + cfg.plugin + ";" + cfg.plugin_opts + ";" + join(cfg.plugin_args, " ");
  }
  return id;
}

const upstream* choose_upstream(const upstream_list& list, bool udp,
                                std::span<const upstream* const> tried, double random01) {
  // In passes over the list, without allocating (it runs for every new connection).
  auto left = [&](const upstream& u) {
    return u.carries(udp) && u.weight(udp) > 0 && std::ranges::find(tried, &u) == tried.end();
  };
  bool any_left = false;
  bool any_up = false;
  for (const auto& u : list) {
    if (!left(*u)) continue;
    any_left = true;
    any_up = any_up || u->health->up();
  }
  if (!any_left) return nullptr;
  // The up ones; when every one is down, all of them (a down mark may be out of date).
  auto in_pool = [&](const upstream& u) { return left(u) && (!any_up || u.health->up()); };
  std::optional<microseconds> best;
  for (const auto& u : list) {
    if (!in_pool(*u)) continue;
    if (auto sc = u->health->score(); sc && (!best || *sc < *best)) best = sc;
  }
  // Those within the band of the best score (not checked yet: as good as the best).
  const double limit = best ? static_cast<double>(best->count()) * band_factor +
                                  static_cast<double>(band_margin.count())
                            : 0.0;
  auto in_band = [&](const upstream& u) {
    if (!in_pool(u)) return false;
    auto sc = u.health->score();
    return !best || !sc || static_cast<double>(sc->count()) <= limit;
  };
  // At random, in proportion to the weights.
  double total = 0;
  const upstream* last = nullptr;
  for (const auto& u : list) {
    if (!in_band(*u)) continue;
    total += u->weight(udp);
    last = u.get();
  }
  double at = random01 * total;
  for (const auto& u : list) {
    if (!in_band(*u)) continue;
    at -= u->weight(udp);
    if (at < 0) return u.get();
  }
  return last;
}

const upstream* choose_upstream(const upstream_list& list, bool udp,
                                std::span<const upstream* const> tried) {
  if (list.size() == 1) {  // nothing to choose (the common case): no random number
    return tried.empty() && list.front()->carries(udp) ? list.front().get() : nullptr;
  }
  thread_local std::minstd_rand random(std::random_device{}());
  std::uniform_real_distribution<double> uniform(0.0, 1.0);
  return choose_upstream(list, udp, tried, uniform(random));
}

void log_health_change(const upstream& u, server_health::change c, std::string_view why) {
  if (c == server_health::change::went_down) {
    spdlog::warn("server {} is down: {}; new connections go to the others", u.label(), why);
  } else if (c == server_health::change::came_back) {
    spdlog::info("server {} is back ({})", u.label(), why);
  }
}

// --- Health checks ----------------------------------------------------------------------

namespace {

// What a check's answer must start with: any HTTP response shows the way through the server
// to the check URL works.
constexpr std::string_view http_version = "HTTP/";

// One check of `u` under `ctx`: the round trip from the connect to the first bytes of an HTTP
// answer, or why it failed.
awaitable<std::pair<std::optional<microseconds>, std::string>> check_once(
    std::shared_ptr<service_context> ctx, std::shared_ptr<const upstream> u) {
  const auto& b = ctx->cfg.balancer;
  auto started = steady_clock::now();
  auto ex = co_await net::this_coro::executor;
  server_stream s(ex, ctx);
  deadline limit(ex);
  limit.arm(b.max_server_rtt, [&s] { s.close(); });
  auto fail = [&](std::string why) {
    if (limit.expired())
      why = "no answer within " + std::to_string(b.max_server_rtt.count()) + " ms";
    return std::pair{std::optional<microseconds>(), std::move(why)};
  };
  if (auto ec = co_await s.connect_to(*u, limit)) co_return fail("cannot connect: " + ec.message());
  auto target = target_address::from_host(b.check_host, b.check_port);
  bool default_port = b.check_port == 80;
  std::string host = target->type() == address_type::ipv6 ? "[" + b.check_host + "]" : b.check_host;
  if (!default_port) host += ":" + std::to_string(b.check_port);
  std::string request =
      "GET " + b.check_path + " HTTP/1.1\r\nHost: " + host +
      "\r\nUser-Agent: shadowsocks-cpp\r\nAccept: */*\r\nConnection: close\r\n\r\n";
  if (auto ec = co_await s.open(
          *target, {reinterpret_cast<const std::uint8_t*>(request.data()), request.size()})) {
    co_return fail("cannot send: " + ec.message());
  }
  std::string answer;
  while (answer.size() < http_version.size()) {
    auto [ec, data] = co_await s.read_some();
    if (ec) {
      co_return fail(ec == net::error::eof ? "closed without an answer (wrong password or method, "
                                             "or the check URL is out of its reach)"
                                           : "no answer: " + ec.message());
    }
    answer.append(reinterpret_cast<const char*>(data.data()), data.size());
  }
  limit.cancel();
  s.close();
  if (!answer.starts_with(http_version)) co_return fail("its answer is not HTTP");
  co_return std::pair{
      std::optional(std::chrono::duration_cast<microseconds>(steady_clock::now() - started)),
      std::string()};
}

std::string describe_rtt(microseconds rtt) {
  return fmt::format("{:.1f} ms", static_cast<double>(rtt.count()) / 1000.0);
}

}  // namespace

struct health_checker::state {
  explicit state(net::any_io_executor ex) : timer(ex) {}
  net::steady_timer timer;
  std::shared_ptr<context_slot> slot;
  bool stopped = false;
};

namespace {

awaitable<void> check_and_record(std::shared_ptr<service_context> ctx,
                                 std::shared_ptr<const upstream> u) {
  auto [rtt, why] = co_await check_once(ctx, u);
  auto change = u->health->record_check(rtt);
  u->health->end_check();
  if (rtt) {
    spdlog::debug("check of server {}: {}", u->label(), describe_rtt(*rtt));
    log_health_change(*u, change, "checked in " + describe_rtt(*rtt));
  } else {
    spdlog::debug("check of server {} failed: {}", u->label(), why);
    log_health_change(*u, change, "its check failed: " + why);
  }
}

awaitable<void> check_rounds(std::shared_ptr<health_checker::state> st) {
  auto ex = co_await net::this_coro::executor;
  while (!st->stopped) {
    auto ctx = st->slot->load();
    const auto& list = *ctx->upstreams;
    if (list.size() > 1) {
      for (const auto& u : list) {
        if (u->health->begin_check()) net::co_spawn(ex, check_and_record(ctx, u), log_exception);
      }
    }
    st->timer.expires_after(ctx->cfg.balancer.check_interval);
    co_await st->timer.async_wait(use_nothrow);
  }
}

}  // namespace

health_checker::health_checker(net::any_io_executor ex, std::shared_ptr<context_slot> slot)
    : st_(std::make_shared<state>(ex)) {
  st_->slot = std::move(slot);
}

health_checker::~health_checker() {
  stop();
}

void health_checker::start() {
  net::co_spawn(st_->timer.get_executor(), check_rounds(st_), log_exception);
}

void health_checker::stop() {
  st_->stopped = true;
  st_->timer.cancel();
}

}  // namespace ss
