#pragma once
/// \file A rate limit for warnings that a remote peer can trigger at will.

#include <chrono>
#include <cstdint>
#include <mutex>

namespace ss {

/// Lets through at most `per_second` log lines a second and counts the rest, so that a flood
/// of bad connections cannot flood the log (or the disk). Thread-safe.
class log_limiter {
 public:
  /// At most `per_second` lines a second.
  explicit log_limiter(unsigned per_second = 10) : per_second_(per_second) {}
  /// True if a line may be logged now; `suppressed` is then the number held back since the
  /// last line that was let through (to be mentioned in it).
  bool allow(std::uint64_t& suppressed);

 private:
  std::mutex mutex_;
  unsigned per_second_;
  std::chrono::steady_clock::time_point window_{};
  unsigned in_window_ = 0;
  std::uint64_t suppressed_ = 0;
};

}  // namespace ss
