#include "shadowsocks/runtime/deadline.hpp"

#include <memory>
#include <optional>

namespace ss {

/// The deadlines of one event loop (an Asio service of its execution context): slots of
/// 10 ms in a ring of 2048 (20 s); a deadline further out waits in its slot for the later
/// turns of the ring. One Asio timer sleeps until the first slot holding a deadline due in
/// the current turn, so an idle loop, or one whose deadlines are far off, is not woken every
/// tick; while connections come and go it is re-armed at most once per tick instead of once
/// or twice per connection.
class timer_wheel final : public net::execution_context::service {
 public:
  static net::execution_context::id id;

  explicit timer_wheel(net::execution_context& ctx) : net::execution_context::service(ctx) {}

  // The loop's one Asio timer, made when its first deadline is: deadlines need not keep an
  // executor each for it.
  void adopt(const net::any_io_executor& ex) {
    if (!timer_ && !shut_down_) timer_.emplace(ex);
  }

  void insert(deadline& d, steady_clock::time_point when) {
    if (shut_down_ || !timer_) return;
    if (!slots_) {
      slots_ = std::make_unique<detail::wheel_link[]>(slot_count);
      for (std::size_t i = 0; i < slot_count; ++i)
        slots_[i].prev = slots_[i].next = &slots_[i];
    }
    if (count_ == 0) done_ = tick_floor(steady_clock::now());
    d.slot_tick_ = std::max(tick_ceil(when), done_ + 1);
    link_before(slot(d.slot_tick_), d);
    ++count_;
    if (!armed_ || d.slot_tick_ < armed_tick_) arm(d.slot_tick_);
  }

  void remove(deadline& d) noexcept {
    unlink(d);
    --count_;
  }

 private:
  static constexpr std::size_t slot_count = 2048;
  static constexpr steady_clock::duration tick = 10ms;

  static std::int64_t tick_floor(steady_clock::time_point t) { return t.time_since_epoch() / tick; }
  static std::int64_t tick_ceil(steady_clock::time_point t) {
    auto since = t.time_since_epoch();
    auto n = since / tick;
    return since % tick == steady_clock::duration::zero() ? n : n + 1;
  }
  detail::wheel_link& slot(std::int64_t t) {
    return slots_[static_cast<std::size_t>(t) % slot_count];
  }
  static void link_before(detail::wheel_link& pos, detail::wheel_link& l) noexcept {
    l.next = &pos;
    l.prev = pos.prev;
    pos.prev->next = &l;
    pos.prev = &l;
  }
  static void unlink(detail::wheel_link& l) noexcept {
    l.prev->next = l.next;
    l.next->prev = l.prev;
    l.prev = l.next = nullptr;
  }

  void arm(std::int64_t t) {
    armed_ = true;
    armed_tick_ = t;
    timer_->expires_at(steady_clock::time_point(t * tick));
    timer_->async_wait([this, generation = ++generation_](boost::system::error_code ec) {
      if (!ec && generation == generation_) on_tick();
    });
  }

  void on_tick() {
    armed_ = false;
    auto now = tick_floor(steady_clock::now());
    auto from = done_ + 1;
    if (now - from >= static_cast<std::int64_t>(slot_count))
      from = now - static_cast<std::int64_t>(slot_count) + 1;
    // Deadlines armed by the expiry actions below land after `now`.
    done_ = now;
    for (auto t = from; t <= now && count_ > 0; ++t)
      expire_slot(slot(t), now);
    if (count_ == 0) return;
    // An action may have armed the timer already, for a deadline later than one still here.
    auto t = next_due();
    if (!armed_ || t < armed_tick_) arm(t);
  }

  // Runs the deadlines of `s` due by tick `now`. An action may cancel, re-arm or destroy any
  // deadline, its own too: each is unlinked before its action runs, and the rest wait in a
  // list of their own, from which a cancel unlinks them as from the slot.
  void expire_slot(detail::wheel_link& s, std::int64_t now) {
    if (s.next == &s) return;
    detail::wheel_link pending;
    pending.next = s.next;
    pending.prev = s.prev;
    pending.next->prev = &pending;
    pending.prev->next = &pending;
    s.prev = s.next = &s;
    while (pending.next != &pending) {
      auto& d = static_cast<deadline&>(*pending.next);
      unlink(d);
      if (d.slot_tick_ > now) {
        link_before(s, d);  // a later turn of the ring
        continue;
      }
      --count_;
      d.expired_ = true;
      auto action = std::move(d.on_expiry_);
      d.on_expiry_ = nullptr;
      action();
    }
  }

  // The first tick after `done_` whose slot holds a deadline due in this turn of the ring;
  // with none (every deadline further out than the ring), the tick after the ring's turn.
  std::int64_t next_due() const {
    for (auto t = done_ + 1; t <= done_ + static_cast<std::int64_t>(slot_count); ++t) {
      const auto& s = slots_[static_cast<std::size_t>(t) % slot_count];
      for (auto* l = s.next; l != &s; l = l->next)
        if (static_cast<const deadline*>(l)->slot_tick_ == t) return t;
    }
    return done_ + static_cast<std::int64_t>(slot_count);
  }

  void shutdown() override {
    shut_down_ = true;
    timer_.reset();
  }

  std::unique_ptr<detail::wheel_link[]> slots_;
  std::size_t count_ = 0;
  std::int64_t done_ = 0;  ///< Every tick up to this one has run.
  bool armed_ = false;
  std::int64_t armed_tick_ = 0;
  std::uint64_t generation_ = 0;
  std::optional<net::steady_timer> timer_;
  bool shut_down_ = false;
};

net::execution_context::id timer_wheel::id;

deadline::deadline(const net::any_io_executor& ex)
    : wheel_(&net::use_service<timer_wheel>(net::query(ex, net::execution::context))) {
  wheel_->adopt(ex);
}

void deadline::arm(steady_clock::time_point when, std::function<void()> on_expiry) {
  cancel();
  expired_ = false;
  on_expiry_ = std::move(on_expiry);
  wheel_->insert(*this, when);
}

void deadline::cancel() noexcept {
  if (next != nullptr) wheel_->remove(*this);
  on_expiry_ = nullptr;
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
