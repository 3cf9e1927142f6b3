#include "shadowsocks/runtime/connection_count.hpp"

namespace ss {

void connection_count::when_zero(net::any_io_executor ex, std::function<void()> on_zero) {
  {
    std::lock_guard lock(mutex_);
    waiter_executor_ = std::move(ex);
    waiter_ = std::move(on_zero);
    waiting_.store(true, std::memory_order_release);
  }
  // The last connection may have ended before the flag was up: then nobody else will look.
  if (value() == 0) notify_if_zero();
}

void connection_count::notify_if_zero() {
  if (!waiting_.load(std::memory_order_acquire)) return;
  std::lock_guard lock(mutex_);
  if (!waiter_ || value() != 0) return;
  net::post(waiter_executor_, std::move(waiter_));
  waiter_ = nullptr;
  waiting_.store(false, std::memory_order_release);
}

}  // namespace ss
