#pragma once
/// \file The number of open connections of a process, and a wait for it to reach zero (the
/// drain at shutdown waits on that event, not on a poll).

#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>
#include <utility>

#include "shadowsocks/runtime/asio.hpp"

namespace ss {

/// Open connections, counted by the worker threads; `when_zero` tells another thread when
/// the last one ends. Adding and removing are one atomic operation each (plus a look at a flag
/// while nobody waits).
class connection_count {
 public:
  /// One more open connection.
  void add() noexcept { n_.fetch_add(1, std::memory_order_relaxed); }
  /// One fewer; the last one out wakes a waiter.
  void remove() noexcept {
    if (n_.fetch_sub(1, std::memory_order_acq_rel) == 1) notify_if_zero();
  }
  /// The number now.
  std::int64_t value() const noexcept { return n_.load(std::memory_order_acquire); }
  /// Posts `on_zero` to `ex` once the count is zero: at once if it is zero now, else when the
  /// last connection ends. One waiter at a time; `on_zero` runs at most once.
  void when_zero(net::any_io_executor ex, std::function<void()> on_zero);

 private:
  void notify_if_zero();
  std::atomic<std::int64_t> n_{0};
  std::atomic<bool> waiting_{false};
  std::mutex mutex_;  // guards the waiter
  net::any_io_executor waiter_executor_;
  std::function<void()> waiter_;
};

/// Counts a connection as open for as long as it lives. Handed on by moving (from the
/// connection's start to its relay), so that a connection is counted once, without a gap.
class active_guard {
 public:
  /// Counts nothing.
  active_guard() = default;
  /// Counts one more.
  explicit active_guard(connection_count& n) : n_(&n) { n_->add(); }
  ~active_guard() {
    if (n_ != nullptr) n_->remove();
  }
  active_guard(active_guard&& o) noexcept : n_(std::exchange(o.n_, nullptr)) {}
  active_guard& operator=(active_guard&& o) noexcept {
    if (this != &o) {
      if (n_ != nullptr) n_->remove();
      n_ = std::exchange(o.n_, nullptr);
    }
    return *this;
  }

 private:
  connection_count* n_ = nullptr;
};

}  // namespace ss
