#pragma once
/// \file Phase deadlines and the relay's shared idle deadline: timers whose callback closes
/// (or cancels) what a phase waits on, which ends the pending operation with an error.

#include <cstdint>
#include <functional>
#include <memory>

#include "shadowsocks/runtime/asio.hpp"

namespace ss {

/// A phase deadline: when it passes, `on_expiry` runs (it closes or cancels whatever the phase
/// is waiting on, which ends the pending operation). A plain timer with a callback: measured
/// cheaper per connection than racing each phase with `op || sleep_for(d)`, which spawns two
/// coroutines and a parallel group (docs/architecture.md). Single-threaded, like the
/// connection that owns it; the callback never runs after `cancel`, a new `arm`, or
/// destruction.
class deadline {
 public:
  /// A deadline on `ex` that is not armed.
  explicit deadline(const net::any_io_executor& ex) : timer_(ex) {}
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
  bool expired() const noexcept { return state_->expired; }

 private:
  // Shared with the pending handler, which may run after this object is gone (its wait had
  // already completed when the cancel came): it then sees a newer generation and does nothing.
  struct state {
    std::uint64_t generation = 0;
    bool expired = false;
  };
  net::steady_timer timer_;
  std::shared_ptr<state> state_ = std::make_shared<state>();
};

/// The shared idle deadline of one relay: any read in either direction pushes it forward.
/// When it passes, `on_idle` runs (the relay closes its sockets). Timer callbacks only, no
/// coroutine; the timer is re-armed lazily, when it fires early, not on every read.
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
