#pragma once
/// \file The replay filter: remembers the salts of recent sessions so that a recorded stream
/// (or our own data reflected back at us) is refused. Two Bloom filters in ping-pong: new
/// salts go into the current one; when it holds `capacity` salts the older one is cleared and
/// becomes current, so between `capacity` and 2 x `capacity` recent salts are remembered.
///
/// Each filter is page-blocked: all bits of a salt lie in one 4 KiB block, and the filters are
/// mapped pages that the kernel provides (zeroed) only when first written. So a filter costs
/// memory as salts arrive (at most one page per salt until every page is in use), not at
/// start, and a cleared generation gives its pages back. Sized by the blocked filter's own
/// false-positive formula, which needs about 2 % more bits than an unblocked one.

#include <array>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <system_error>
#include <unordered_set>
#include <vector>

#include "shadowsocks/codec/bytes.hpp"

namespace ss {

/// Thread-safe; one lock per check, taken once per connection (never per byte).
class replay_filter {
 public:
  /// Sized so that a salt never seen is reported as seen with probability at most `fp_rate`
  /// while both filters are full (each is sized for `fp_rate / 2`).
  explicit replay_filter(std::size_t capacity, double fp_rate = 1e-10);

  /// True if `salt` was recorded before (a replay); otherwise records it. Atomic.
  bool check_and_insert(bytes_view salt);
  /// Records `salt` (the salts we send ourselves).
  void insert(bytes_view salt);
  /// True if `salt` was recorded (or is a false positive).
  bool contains(bytes_view salt) const;

  /// What is told of each salt recorded (an upgrade passes them on to the other process).
  /// Called with the filter's lock held: it must not use the filter.
  using journal = std::function<void(bytes_view salt)>;
  /// Tells `j` of every salt recorded from now on (empty: no longer).
  void set_journal(journal j);
  /// Records `salt` without telling the journal: a salt the other process recorded.
  void learn(bytes_view salt);

  /// Salts per generation.
  std::size_t capacity() const noexcept { return capacity_; }
  /// Bits in each of the two filters (a multiple of `block_bits`).
  std::size_t bits() const noexcept { return bits_; }
  /// Hash functions per salt.
  unsigned hashes() const noexcept { return hashes_; }
  /// Bits per block: all bits of one salt are in one block (a 4 KiB page).
  static constexpr std::size_t block_bits = 4096 * 8;
  /// The probability that a salt never seen is reported as seen by one filter holding `n`
  /// salts in `blocks` blocks with `k` bits per salt (the blocked Bloom filter's formula: the
  /// salts per block are Poisson-distributed).
  static double false_positive_rate(std::size_t n, std::size_t blocks, unsigned k);

  /// Bytes of the filters' pages the kernel has given us (grows with the salts recorded).
  std::size_t resident_bytes() const;
  /// True when something was recorded since the last `save`.
  bool dirty() const;
  /// Salts in the current generation (it starts over at `capacity`).
  std::size_t size() const;

  /// Writes the whole state to `path` atomically (a temporary file, then rename).
  std::error_code save(const std::string& path);
  /// Replaces the state with the one saved at `path` by a filter of the same capacity and
  /// size. An error (and no change) if the file is missing, truncated, corrupt or of another
  /// size.
  std::error_code load(const std::string& path);

 private:
  struct probe {
    std::size_t block;
    std::uint64_t h1, h2;
  };
  /// Zero-filled anonymous pages, given by the kernel on first write.
  class pages {
   public:
    explicit pages(std::size_t words);
    ~pages();
    pages(const pages&) = delete;
    pages& operator=(const pages&) = delete;
    std::uint64_t* data() const noexcept { return words_; }
    std::size_t size() const noexcept { return size_; }
    /// Back to all zeros, giving the pages back.
    void clear();
    std::size_t resident_bytes() const;

   private:
    std::uint64_t* words_;
    std::size_t size_;
  };
  probe hash(bytes_view salt) const;
  bool test(const pages& f, const probe& p) const;
  void set(pages& f, const probe& p);
  void insert_locked(const probe& p);

  std::size_t capacity_;
  std::size_t blocks_;
  std::size_t bits_;
  unsigned hashes_;
  std::array<std::uint8_t, 32> key_{};  // keyed hashing: an attacker cannot aim at bits
  mutable std::mutex mutex_;
  std::array<std::unique_ptr<pages>, 2> filters_;
  unsigned current_ = 0;
  std::size_t count_ = 0;  // salts in the current filter
  bool dirty_ = false;
  journal journal_;
};

/// The 2022 edition's salt pool (SIP022 3.1.5): every salt accepted in the last `keep` (60 s),
/// exactly. No Bloom filter: SIP022 forbids anything with false positives, and 60 s of salts
/// is small (only salts whose header authenticated and whose timestamp is fresh are stored, so
/// the store grows with genuine connections, never with an attacker's garbage).
/// Thread-safe; one lock per new connection.
class recent_salts {
 public:
  /// Seconds on a monotonic clock (tests pass their own).
  using time_point = std::chrono::steady_clock::time_point;
  /// Keeps salts for `keep`.
  explicit recent_salts(std::chrono::seconds keep = std::chrono::seconds(60)) : keep_(keep) {}
  /// True if `salt` was stored within the last `keep` before `now`; otherwise stores it.
  bool check_and_insert(bytes_view salt, time_point now = std::chrono::steady_clock::now());
  /// Salts held now.
  std::size_t size() const;
  /// Tells `j` of every salt stored from now on (empty: no longer); called with the lock held.
  void set_journal(replay_filter::journal j);
  /// Stores `salt` as accepted at `now` without telling the journal (the other process's).
  void learn(bytes_view salt, time_point now = std::chrono::steady_clock::now());
  /// Writes the salts held at `now` to `path`, each with the wall-clock time it was accepted
  /// (atomically, with a checksum), so that a restarted server still refuses their replays.
  std::error_code save(
      const std::string& path, time_point now = std::chrono::steady_clock::now(),
      std::chrono::system_clock::time_point wall_now = std::chrono::system_clock::now()) const;
  /// Adds the salts of a file `save` wrote that are not older than `keep` at `wall_now`.
  std::error_code load(
      const std::string& path, time_point now = std::chrono::steady_clock::now(),
      std::chrono::system_clock::time_point wall_now = std::chrono::system_clock::now());

 private:
  std::chrono::seconds keep_;
  mutable std::mutex mutex_;
  std::unordered_set<std::string> salts_;
  std::deque<std::pair<time_point, std::string>> order_;  // oldest first, to expire
  replay_filter::journal journal_;
  bool store(bytes_view salt, time_point now);  // with the lock held; false: there already
};

}  // namespace ss
