#include "shadowsocks/codec/buffer_pool.hpp"

#include <vector>

#include "shadowsocks/codec/per_thread.hpp"

namespace ss {

namespace {

struct free_list {
  free_list() { blocks.reserve(pooled_block::max_pooled); }
  std::vector<std::uint8_t*> blocks;
  ~free_list() {
    for (auto* b : blocks)
      delete[] b;
  }
};

free_list& pool() {
  thread_local per_thread<free_list> list;
  return *list;
}

}  // namespace

pooled_block pooled_block::take() {
  auto& blocks = pool().blocks;
  if (!blocks.empty()) {
    auto* p = blocks.back();
    blocks.pop_back();
    return pooled_block(p);
  }
  return pooled_block(new std::uint8_t[pool_block_size]);
}

void pooled_block::reset() noexcept {
  if (p_ == nullptr) return;
  auto& blocks = pool().blocks;
  if (blocks.size() < max_pooled) {
    blocks.push_back(p_);  // reserve()d in free_list(), so this does not allocate
  } else {
    delete[] p_;
  }
  p_ = nullptr;
}

}  // namespace ss
