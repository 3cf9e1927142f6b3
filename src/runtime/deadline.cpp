#include "shadowsocks/runtime/deadline.hpp"

namespace ss {

void deadline::arm(steady_clock::time_point when, std::function<void()> on_expiry) {
  auto generation = ++state_->generation;
  state_->expired = false;
  timer_.expires_at(when);
  // cancel(), re-arming and destruction all move the generation on first, so a handler that
  // was already queued (its wait completed before the cancel) does nothing; it holds the state
  // block, never `this`, and calls `f` only while the owner is alive.
  timer_.async_wait(
      [st = state_, generation, f = std::move(on_expiry)](boost::system::error_code ec) {
        if (ec || generation != st->generation) return;
        st->expired = true;
        f();
      });
}

void deadline::cancel() noexcept {
  ++state_->generation;
  timer_.cancel();
}

void idle_deadline::start(std::function<void()> on_idle) {
  on_idle_ = std::move(on_idle);
  touch();
  wait();
}

void idle_deadline::wait() {
  timer_.arm(at_, [this] {
    // Activity moved the deadline on since the timer was set: wait for the new one.
    if (at_ > steady_clock::now()) {
      wait();
      return;
    }
    on_idle_();
  });
}

}  // namespace ss
