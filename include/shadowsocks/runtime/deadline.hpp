#pragma once
/// \file Phase deadlines and the relay's shared idle deadline: callbacks that close (or
/// cancel) what a phase waits on, which ends the pending operation with an error. They run
/// on a timer wheel per event loop (one Asio timer for all of a loop's deadlines), not on an
/// Asio timer each.

#include <chrono>
#include <cstdint>
#include <functional>

#include "shadowsocks/runtime/asio.hpp"

namespace ss {

class timer_wheel;

namespace detail {
/// A deadline's place in its wheel slot's list (circular, with a sentinel per slot).
struct wheel_link {
  wheel_link* prev = nullptr;
  wheel_link* next = nullptr;
};
}  // namespace detail

/// A phase deadline: when it passes, `on_expiry` runs (it closes or cancels whatever the phase
/// is waiting on, which ends the pending operation). Measured cheaper per connection than
/// racing each phase with `op || sleep_for(d)` (two coroutines and a parallel group), and than
/// an Asio timer per deadline (each arm of the earliest Asio timer is a `timerfd_settime` and
/// a lock of the reactor's mutex; docs/performance.md). Deadlines of one event loop share a
/// wheel of 10 ms slots driven by one Asio timer that sleeps until the earliest slot with a
/// deadline in it: an expiry runs up to 10 ms late, never early. Single-threaded, like the
/// connection that owns it and the loop it runs on; `on_expiry` never runs after `cancel`, a
/// new `arm`, or destruction. Not movable while armed.
class deadline : private detail::wheel_link {
 public:
  /// A deadline on `ex`'s event loop that is not armed.
  explicit deadline(const net::any_io_executor& ex);
  ~deadline() { cancel(); }
  deadline(const deadline&) = delete;
  deadline& operator=(const deadline&) = delete;

  /// Runs `on_expiry` at `when` unless cancelled or re-armed first.
  void arm(steady_clock::time_point when, std::function<void()> on_expiry);
  /// Runs `on_expiry` after `d`.
  void arm(steady_clock::duration d, std::function<void()> on_expiry) {
    arm(steady_clock::now() + d, std::move(on_expiry));
  }
  /// Disarms.
  void cancel() noexcept;
  /// True when the last armed deadline passed (and its action ran).
  bool expired() const noexcept { return expired_; }

 private:
  friend class timer_wheel;
  timer_wheel* wheel_;
  std::int64_t slot_tick_ = 0;  ///< The wheel tick it runs at.
  std::function<void()> on_expiry_;
  bool expired_ = false;
};

/// The shared idle deadline of one relay: any read in either direction pushes it forward.
/// When it passes, `on_idle` runs (the relay closes its sockets). Re-armed lazily, when it
/// fires early, not on every read.
class idle_deadline {
 public:
  /// Not started yet.
  idle_deadline(const net::any_io_executor& ex, steady_clock::duration timeout)
      : timer_(ex), timeout_(timeout) {}
  /// Starts watching.
  void start(std::function<void()> on_idle);
  /// Activity seen: the deadline moves to now + timeout.
  void touch() noexcept { at_ = steady_clock::now() + timeout_; }
  /// True when the connection went idle and `on_idle` ran.
  bool fired() const noexcept { return timer_.expired(); }

 private:
  void wait();
  deadline timer_;
  steady_clock::duration timeout_;
  steady_clock::time_point at_{};
  std::function<void()> on_idle_;
};

}  // namespace ss
