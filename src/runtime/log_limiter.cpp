#include "shadowsocks/runtime/log_limiter.hpp"

#include <utility>

namespace ss {

bool log_limiter::allow(std::uint64_t& suppressed) {
  std::lock_guard lock(mutex_);
  auto now = std::chrono::steady_clock::now();
  if (now - window_ >= std::chrono::seconds(1)) {
    window_ = now;
    in_window_ = 0;
  }
  if (in_window_ >= per_second_) {
    ++suppressed_;
    return false;
  }
  ++in_window_;
  suppressed = std::exchange(suppressed_, 0);
  return true;
}

}  // namespace ss
