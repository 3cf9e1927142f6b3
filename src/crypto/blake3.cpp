// BLAKE3 as its specification describes it: 1 KiB chunks of 64-byte blocks, each chunk's
// chaining value merged into a binary tree of parent nodes, the root compressed again per 64
// bytes of output. Checked against the official test vectors and b3sum (tests).

#include "shadowsocks/crypto/blake3.hpp"

#include <algorithm>
#include <cstring>

namespace ss {

namespace {

constexpr std::size_t block_len = 64;
constexpr std::size_t chunk_len = 1024;

constexpr std::uint32_t chunk_start = 1 << 0;
constexpr std::uint32_t chunk_end = 1 << 1;
constexpr std::uint32_t parent = 1 << 2;
constexpr std::uint32_t root = 1 << 3;
constexpr std::uint32_t keyed_hash = 1 << 4;
constexpr std::uint32_t derive_key_context = 1 << 5;
constexpr std::uint32_t derive_key_material = 1 << 6;

// The IV is SHA-256's.
constexpr std::array<std::uint32_t, 8> iv = {0x6A09E667, 0xBB67AE85, 0x3C6EF372, 0xA54FF53A,
                                             0x510E527F, 0x9B05688C, 0x1F83D9AB, 0x5BE0CD19};
constexpr std::array<std::size_t, 16> permutation = {2, 6,  3,  10, 7, 0,  4,  13,
                                                     1, 11, 12, 5,  9, 14, 15, 8};

using words8 = std::array<std::uint32_t, 8>;
using words16 = std::array<std::uint32_t, 16>;

constexpr std::uint32_t rotr(std::uint32_t x, int n) {
  return (x >> n) | (x << (32 - n));
}

std::uint32_t load_le32(const std::uint8_t* p) {
  return std::uint32_t{p[0]} | std::uint32_t{p[1]} << 8 | std::uint32_t{p[2]} << 16 |
         std::uint32_t{p[3]} << 24;
}

void store_le32(std::uint8_t* p, std::uint32_t v) {
  for (int i = 0; i < 4; ++i)
    p[i] = static_cast<std::uint8_t>(v >> (8 * i));
}

words16 load_block(const std::uint8_t* block) {
  words16 m;
  for (std::size_t i = 0; i < 16; ++i)
    m[i] = load_le32(block + 4 * i);
  return m;
}

void g(words16& s, std::size_t a, std::size_t b, std::size_t c, std::size_t d, std::uint32_t x,
       std::uint32_t y) {
  s[a] = s[a] + s[b] + x;
  s[d] = rotr(s[d] ^ s[a], 16);
  s[c] = s[c] + s[d];
  s[b] = rotr(s[b] ^ s[c], 12);
  s[a] = s[a] + s[b] + y;
  s[d] = rotr(s[d] ^ s[a], 8);
  s[c] = s[c] + s[d];
  s[b] = rotr(s[b] ^ s[c], 7);
}

void round_fn(words16& s, const words16& m) {
  // Columns, then diagonals.
  g(s, 0, 4, 8, 12, m[0], m[1]);
  g(s, 1, 5, 9, 13, m[2], m[3]);
  g(s, 2, 6, 10, 14, m[4], m[5]);
  g(s, 3, 7, 11, 15, m[6], m[7]);
  g(s, 0, 5, 10, 15, m[8], m[9]);
  g(s, 1, 6, 11, 12, m[10], m[11]);
  g(s, 2, 7, 8, 13, m[12], m[13]);
  g(s, 3, 4, 9, 14, m[14], m[15]);
}

// The compression function: all 16 output words (the first 8 are a chaining value).
words16 compress(const words8& cv, words16 m, std::uint64_t counter, std::uint32_t len,
                 std::uint32_t flags) {
  words16 s = {cv[0],
               cv[1],
               cv[2],
               cv[3],
               cv[4],
               cv[5],
               cv[6],
               cv[7],
               iv[0],
               iv[1],
               iv[2],
               iv[3],
               static_cast<std::uint32_t>(counter),
               static_cast<std::uint32_t>(counter >> 32),
               len,
               flags};
  for (int r = 0; r < 7; ++r) {
    round_fn(s, m);
    if (r == 6) break;
    words16 permuted;
    for (std::size_t i = 0; i < 16; ++i)
      permuted[i] = m[permutation[i]];
    m = permuted;
  }
  for (std::size_t i = 0; i < 8; ++i) {
    s[i] ^= s[i + 8];
    s[i + 8] ^= cv[i];
  }
  return s;
}

words8 first8(const words16& w) {
  words8 out;
  std::copy_n(w.begin(), 8, out.begin());
  return out;
}

// A node waiting to be compressed: a chunk's last block or a parent. Its chaining value, or
// as the root, any number of output bytes.
struct node {
  words8 cv;
  words16 block;
  std::uint64_t counter;
  std::uint32_t len;
  std::uint32_t flags;

  words8 chaining_value() const { return first8(compress(cv, block, counter, len, flags)); }

  void root_output(mutable_bytes out) const {
    std::uint64_t output_block = 0;
    for (std::size_t at = 0; at < out.size(); at += block_len, ++output_block) {
      auto w = compress(cv, block, output_block, len, flags | root);
      std::array<std::uint8_t, block_len> bytes;
      for (std::size_t i = 0; i < 16; ++i)
        store_le32(bytes.data() + 4 * i, w[i]);
      std::memcpy(out.data() + at, bytes.data(), std::min(block_len, out.size() - at));
    }
  }
};

node parent_node(const words8& left, const words8& right, const words8& key, std::uint32_t flags) {
  words16 block;
  std::copy(left.begin(), left.end(), block.begin());
  std::copy(right.begin(), right.end(), block.begin() + 8);
  return {key, block, 0, static_cast<std::uint32_t>(block_len), parent | flags};
}

}  // namespace

blake3_hasher::blake3_hasher(const words& key, std::uint32_t flags) noexcept
    : key_(key), flags_(flags), cv_(key) {}

blake3_hasher blake3_hasher::hash() noexcept {
  return blake3_hasher(iv, 0);
}

blake3_hasher blake3_hasher::keyed(const std::array<std::uint8_t, 32>& key) noexcept {
  words k;
  for (std::size_t i = 0; i < 8; ++i)
    k[i] = load_le32(key.data() + 4 * i);
  return blake3_hasher(k, keyed_hash);
}

blake3_hasher blake3_hasher::derive_key(std::string_view context) noexcept {
  blake3_hasher context_hasher(iv, derive_key_context);
  context_hasher.update({reinterpret_cast<const std::uint8_t*>(context.data()), context.size()});
  std::array<std::uint8_t, 32> context_key;
  context_hasher.finalize(context_key);
  words k;
  for (std::size_t i = 0; i < 8; ++i)
    k[i] = load_le32(context_key.data() + 4 * i);
  return blake3_hasher(k, derive_key_material);
}

void blake3_hasher::start_chunk(std::uint64_t counter) noexcept {
  cv_ = key_;
  chunk_counter_ = counter;
  block_.fill(0);
  block_len_ = 0;
  blocks_compressed_ = 0;
}

// Adds a completed chunk's chaining value; merges completed subtrees (one per trailing zero bit
// of the number of chunks so far).
void blake3_hasher::push_chunk(const words& cv, std::uint64_t total_chunks) noexcept {
  words merged = cv;
  while ((total_chunks & 1) == 0) {
    merged = parent_node(stack_[--stack_len_], merged, key_, flags_).chaining_value();
    total_chunks >>= 1;
  }
  stack_[stack_len_++] = merged;
}

void blake3_hasher::update(bytes_view input) noexcept {
  while (!input.empty()) {
    // A full chunk is finished only when more input comes: the last chunk is the root's.
    if (blocks_compressed_ * block_len + block_len_ == chunk_len) {
      node last{cv_, load_block(block_.data()), chunk_counter_,
                static_cast<std::uint32_t>(block_len_), flags_ | chunk_end};
      push_chunk(last.chaining_value(), chunk_counter_ + 1);
      start_chunk(chunk_counter_ + 1);
    }
    // Likewise a full block is compressed only when more input comes.
    if (block_len_ == block_len) {
      std::uint32_t start = blocks_compressed_ == 0 ? chunk_start : 0u;
      cv_ = first8(compress(cv_, load_block(block_.data()), chunk_counter_,
                            static_cast<std::uint32_t>(block_len), flags_ | start));
      ++blocks_compressed_;
      block_.fill(0);
      block_len_ = 0;
    }
    std::size_t take = std::min(block_len - block_len_, input.size());
    std::memcpy(block_.data() + block_len_, input.data(), take);
    block_len_ += take;
    input = input.subspan(take);
  }
}

void blake3_hasher::finalize(mutable_bytes out) const noexcept {
  std::uint32_t start = blocks_compressed_ == 0 ? chunk_start : 0u;
  node n{cv_, load_block(block_.data()), chunk_counter_, static_cast<std::uint32_t>(block_len_),
         flags_ | start | chunk_end};
  for (std::size_t i = stack_len_; i > 0; --i)
    n = parent_node(stack_[i - 1], n.chaining_value(), key_, flags_);
  n.root_output(out);
}

std::array<std::uint8_t, 32> blake3(bytes_view input) noexcept {
  auto h = blake3_hasher::hash();
  h.update(input);
  std::array<std::uint8_t, 32> out;
  h.finalize(out);
  return out;
}

void blake3_derive_key(std::string_view context, bytes_view material, mutable_bytes out) noexcept {
  auto h = blake3_hasher::derive_key(context);
  h.update(material);
  h.finalize(out);
}

}  // namespace ss
