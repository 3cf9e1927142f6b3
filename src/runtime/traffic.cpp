#include "shadowsocks/runtime/traffic.hpp"

#include <limits>

namespace ss {

namespace {
thread_local unsigned this_worker = std::numeric_limits<unsigned>::max() - 1;
}  // namespace

void set_worker_index(unsigned i) noexcept {
  this_worker = i;
}

unsigned worker_index() noexcept {
  return this_worker;
}

std::shared_ptr<traffic_counters> traffic_registry::user(std::uint16_t port,
                                                         const std::string& user) {
  std::lock_guard lock(mu_);
  auto& c = users_[{port, user}];
  if (!c) c = std::make_shared<traffic_counters>(workers_);
  return c;
}

std::shared_ptr<failure_counters> traffic_registry::port(std::uint16_t port) {
  std::lock_guard lock(mu_);
  auto& c = ports_[port];
  if (!c) c = std::make_shared<failure_counters>(workers_);
  return c;
}

void traffic_registry::retain(const std::set<std::pair<std::uint16_t, std::string>>& users,
                              const std::set<std::uint16_t>& ports) {
  std::lock_guard lock(mu_);
  std::erase_if(users_, [&](const auto& kv) { return !users.contains(kv.first); });
  std::erase_if(ports_, [&](const auto& kv) { return !ports.contains(kv.first); });
}

std::map<std::pair<std::uint16_t, std::string>, std::shared_ptr<traffic_counters>>
traffic_registry::users() const {
  std::lock_guard lock(mu_);
  return users_;
}

std::map<std::uint16_t, std::shared_ptr<failure_counters>> traffic_registry::ports() const {
  std::lock_guard lock(mu_);
  return ports_;
}

}  // namespace ss
