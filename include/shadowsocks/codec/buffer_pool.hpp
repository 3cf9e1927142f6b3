#pragma once
/// \file Payload buffers of one size, recycled per thread: a connection takes one when data is
/// ready and gives it back when it has passed the data on, so an idle connection holds none and
/// a busy thread does not allocate per read.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <utility>

namespace ss {

/// Size of every pooled block: three full AEAD chunks with their salt (3 x 16,417 + 32 =
/// 49,283 bytes, what the relay seals from one read) or a decoder's ciphertext, with room.
inline constexpr std::size_t pool_block_size = 64 * 1024;

/// A block from this thread's pool; goes back to the pool of the thread that releases it
/// (every connection lives on one thread, so that is the same pool). Move-only.
class pooled_block {
 public:
  /// No block.
  pooled_block() = default;
  /// Takes a block (from the pool, or newly allocated).
  static pooled_block take();
  ~pooled_block() { reset(); }
  /// Moves the block.
  pooled_block(pooled_block&& o) noexcept : p_(std::exchange(o.p_, nullptr)) {}
  /// Moves the block.
  pooled_block& operator=(pooled_block&& o) noexcept {
    if (this != &o) {
      reset();
      p_ = std::exchange(o.p_, nullptr);
    }
    return *this;
  }
  pooled_block(const pooled_block&) = delete;
  pooled_block& operator=(const pooled_block&) = delete;

  /// Returns the block to the pool (at most `max_pooled` stay; the rest are freed).
  void reset() noexcept;
  /// True when a block is held.
  explicit operator bool() const noexcept { return p_ != nullptr; }
  /// The block's bytes (`pool_block_size` of them).
  std::uint8_t* data() const noexcept { return p_; }
  /// The block as a span.
  std::span<std::uint8_t> span() const noexcept { return {p_, p_ ? pool_block_size : 0}; }

  /// Blocks kept per thread when released; more are freed.
  static constexpr std::size_t max_pooled = 16;

 private:
  explicit pooled_block(std::uint8_t* p) : p_(p) {}
  std::uint8_t* p_ = nullptr;
};

}  // namespace ss
