#pragma once
// Private: the UDP association table of ss-server (one entry per client address) and ss-tunnel
// (one per sender): bounded, least recently used first out, expiring after a silence.
// Single-threaded by design (one table per event loop); pure logic, no sockets.

#include <chrono>
#include <cstddef>
#include <list>
#include <memory>
#include <unordered_map>
#include <utility>

namespace ss {

/// `Entry` needs `void close()`; it is called when the entry is evicted or expires, and the
/// entry leaves the table. `Key` needs std::hash and ==.
template <class Key, class Entry, class Hash = std::hash<Key>>
class nat_table {
 public:
  using clock = std::chrono::steady_clock;

  /// A table of at most `capacity` entries that expire after `timeout` of silence.
  nat_table(std::size_t capacity, clock::duration timeout)
      : capacity_(capacity), timeout_(timeout) {}

  /// The entry for `key`, marked as just used; null if there is none.
  std::shared_ptr<Entry> find(const Key& key, clock::time_point now = clock::now()) {
    auto it = index_.find(key);
    if (it == index_.end()) return nullptr;
    it->second->last_used = now;
    order_.splice(order_.end(), order_, it->second);  // most recently used at the back
    return it->second->entry;
  }

  /// Marks `key` as used (a packet went the other way).
  void touch(const Key& key, clock::time_point now = clock::now()) { (void)find(key, now); }

  /// Adds `entry` for `key` (which must not be present), evicting the least recently used
  /// entry if the table is full. Returns the number of entries evicted (0 or 1).
  std::size_t insert(const Key& key, std::shared_ptr<Entry> entry,
                     clock::time_point now = clock::now()) {
    std::size_t evicted = 0;
    while (order_.size() >= capacity_ && !order_.empty()) {
      remove(order_.begin());
      ++evicted;
    }
    order_.push_back({key, std::move(entry), now});
    index_[key] = std::prev(order_.end());
    return evicted;
  }

  /// Closes and removes every entry silent for longer than the timeout; returns how many.
  std::size_t expire(clock::time_point now = clock::now()) {
    std::size_t n = 0;
    while (!order_.empty() && now - order_.front().last_used > timeout_) {
      remove(order_.begin());
      ++n;
    }
    return n;
  }

  /// Closes and removes every entry for which `drop(entry)` is true (it may change the
  /// others); returns how many.
  template <class Drop>
  std::size_t erase_if(Drop&& drop) {
    std::size_t n = 0;
    for (auto it = order_.begin(); it != order_.end();) {
      auto next = std::next(it);
      if (drop(*it->entry)) {
        remove(it);
        ++n;
      }
      it = next;
    }
    return n;
  }

  /// Closes and removes every entry.
  void clear() {
    while (!order_.empty())
      remove(order_.begin());
  }

  /// Number of entries.
  std::size_t size() const noexcept { return order_.size(); }
  /// The expiry timeout.
  clock::duration timeout() const noexcept { return timeout_; }

 private:
  struct slot {
    Key key;
    std::shared_ptr<Entry> entry;
    clock::time_point last_used;
  };
  using iterator = typename std::list<slot>::iterator;

  void remove(iterator it) {
    auto entry = std::move(it->entry);
    index_.erase(it->key);
    order_.erase(it);
    entry->close();
  }

  std::size_t capacity_;
  clock::duration timeout_;
  std::list<slot> order_;  // least recently used first
  std::unordered_map<Key, iterator, Hash> index_;
};

}  // namespace ss
