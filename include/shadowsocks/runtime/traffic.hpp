#pragma once
/// \file Traffic accounting: counters per server port and user, each worker thread writing
/// only its own slot (a relaxed load and store, no lock and no atomic read-modify-write on
/// the data path); a reader sums the slots.

#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace ss {

/// Tells the calling thread it is worker `i` (0-based); its counter slot is then `i`.
void set_worker_index(unsigned i) noexcept;
/// The calling thread's worker index; a large value for a thread that is no worker.
unsigned worker_index() noexcept;

/// `N` counters, one slot per worker (and one shared, atomic, for other threads).
template <std::size_t N>
class per_worker_counters {
 public:
  /// For `workers` worker threads.
  explicit per_worker_counters(unsigned workers) : slots_(workers + 1) {}
  /// Adds `n` to counter `field`.
  void add(std::size_t field, std::uint64_t n) noexcept {
    unsigned w = worker_index();
    if (w + 1 < slots_.size()) {
      auto& c = slots_[w].value[field];
      c.store(c.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
    } else {
      slots_.back().value[field].fetch_add(n, std::memory_order_relaxed);
    }
  }
  /// The sum of counter `field` over the slots.
  std::uint64_t total(std::size_t field) const noexcept {
    std::uint64_t sum = 0;
    for (const auto& s : slots_)
      sum += s.value[field].load(std::memory_order_relaxed);
    return sum;
  }

 private:
  struct alignas(64) slot {
    std::array<std::atomic<std::uint64_t>, N> value{};
  };
  std::vector<slot> slots_;
};

/// What a user's connections and datagrams moved (payload bytes, after decryption).
enum traffic_field : std::size_t {
  tcp_bytes_up,         ///< Client to target.
  tcp_bytes_down,       ///< Target to client.
  tcp_connections,      ///< Connections whose request was read and whose target answered.
  udp_bytes_up,         ///< Datagram payloads client to target.
  udp_bytes_down,       ///< Target to client.
  udp_packets_up,       ///< Datagrams client to target.
  udp_packets_down,     ///< Target to client.
  traffic_field_count,  ///< How many.
};
/// One user's counters.
using traffic_counters = per_worker_counters<traffic_field_count>;

/// Requests a port refused before any user was known.
enum failure_field : std::size_t {
  tcp_bad_data,         ///< A tag that fails, a bad length or address (a probe).
  tcp_replay,           ///< A salt seen before.
  tcp_unknown_key,      ///< No key of the port opens it (several keys, or a 2022 user).
  tcp_timeout,          ///< No complete request within the timeout.
  udp_bad_data,         ///< A datagram that does not open or has a bad header.
  udp_replay,           ///< A datagram's salt or packet ID seen before.
  udp_unknown_key,      ///< No key of the port opens it.
  failure_field_count,  ///< How many.
};
/// One port's refusals.
using failure_counters = per_worker_counters<failure_field_count>;

/// Every port's and user's counters of a process; they outlive reloads. Thread-safe.
class traffic_registry {
 public:
  /// For `workers` worker threads.
  explicit traffic_registry(unsigned workers) : workers_(workers) {}
  /// The counters of `user` on `port`, made the first time.
  std::shared_ptr<traffic_counters> user(std::uint16_t port, const std::string& user);
  /// The refusals of `port`, made the first time.
  std::shared_ptr<failure_counters> port(std::uint16_t port);
  /// Forgets every user and port not in `users` / `ports` (a reload removed them); counters
  /// still held by open connections count on but are no longer listed.
  void retain(const std::set<std::pair<std::uint16_t, std::string>>& users,
              const std::set<std::uint16_t>& ports);
  /// The users' counters, by port and name.
  std::map<std::pair<std::uint16_t, std::string>, std::shared_ptr<traffic_counters>> users() const;
  /// The ports' refusals.
  std::map<std::uint16_t, std::shared_ptr<failure_counters>> ports() const;

 private:
  unsigned workers_;
  mutable std::mutex mu_;
  std::map<std::pair<std::uint16_t, std::string>, std::shared_ptr<traffic_counters>> users_;
  std::map<std::uint16_t, std::shared_ptr<failure_counters>> ports_;
};

}  // namespace ss
