#include "shadowsocks/crypto/replay_filter.hpp"

#include <openssl/evp.h>
#include <openssl/sha.h>

#ifdef _WIN32
// clang-format off
#include <winsock2.h>
#include <windows.h>
// clang-format on
#else
#include <sys/mman.h>
#include <unistd.h>
#endif

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <new>

#include "shadowsocks/codec/errc.hpp"
#include "shadowsocks/codec/per_thread.hpp"
#include "shadowsocks/crypto/cipher.hpp"
#include "shadowsocks/crypto/kdf.hpp"

namespace ss {

namespace {

// Version 2: page-blocked filters (version 1's unblocked bits cannot be carried over).
constexpr char magic[8] = {'S', 'S', 'C', 'P', 'P', 'R', 'F', '2'};
// The 2022 salt store's file: each salt with the wall-clock time it was accepted.
constexpr char salts_magic[8] = {'S', 'S', 'C', 'P', 'P', 'S', '2', '2'};

void put64(std::vector<std::uint8_t>& out, std::uint64_t v) {
  for (int i = 0; i < 8; ++i)
    out.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
}

std::uint64_t get64(const std::uint8_t* p) {
  std::uint64_t v = 0;
  for (int i = 7; i >= 0; --i)
    v = v << 8 | p[i];
  return v;
}

std::array<std::uint8_t, 32> sha256(bytes_view a, bytes_view b) {
  std::array<std::uint8_t, 32> out{};
  // Fetched once (EVP_sha256() would be looked up again on every call), and one context per
  // thread: every UDP packet is hashed here, and creating a context each time showed.
  static EVP_MD* md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  thread_local per_thread<std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)>> owned(
      EVP_MD_CTX_new(), EVP_MD_CTX_free);
  auto& ctx = *owned;
  unsigned n = 0;
  bool ok = ctx && md && EVP_DigestInit_ex2(ctx.get(), md, nullptr) == 1 &&
            EVP_DigestUpdate(ctx.get(), a.data(), a.size()) == 1 &&
            EVP_DigestUpdate(ctx.get(), b.data(), b.size()) == 1 &&
            EVP_DigestFinal_ex(ctx.get(), out.data(), &n) == 1;
  if (!ok) std::abort();  // hashing memory cannot fail
  return out;
}

// Writes `content` and its SHA-256 to `path`, atomically (a temporary file renamed over it).
std::error_code write_checked(const std::string& path, std::vector<std::uint8_t> content) {
  auto digest = sha256(content, {});
  content.insert(content.end(), digest.begin(), digest.end());
  std::string tmp = path + ".tmp";
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    f.write(reinterpret_cast<const char*>(content.data()),
            static_cast<std::streamsize>(content.size()));
    f.flush();
    if (!f) return std::error_code(errno ? errno : EIO, std::generic_category());
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    return std::error_code(errno, std::generic_category());
  }
  return {};
}

// What `write_checked` wrote at `path`, its checksum verified and taken off; `magic` first.
result<std::vector<std::uint8_t>> read_checked(const std::string& path, const char (&magic)[8]) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return std::error_code(errno ? errno : ENOENT, std::generic_category());
  std::vector<std::uint8_t> in((std::istreambuf_iterator<char>(f)),
                               std::istreambuf_iterator<char>());
  if (in.size() < 8 + 32 || std::memcmp(in.data(), magic, 8) != 0) {
    return make_error_code(std::errc::invalid_argument);
  }
  auto digest = sha256({in.data(), in.size() - 32}, {});
  if (std::memcmp(digest.data(), in.data() + in.size() - 32, 32) != 0) {
    return make_error_code(std::errc::invalid_argument);
  }
  in.resize(in.size() - 32);
  return in;
}

}  // namespace

double replay_filter::false_positive_rate(std::size_t n, std::size_t blocks, unsigned k) {
  // A block holding j salts answers "seen" for a new salt with probability
  // (1 - (1 - 1/B)^(jk))^k; j is Poisson-distributed with mean n / blocks (binomial, really,
  // whose tail the Poisson one bounds from above). Summed over j within 14 standard
  // deviations of the mean, where all of the probability is.
  double lambda = static_cast<double>(n) / static_cast<double>(blocks);
  double sd = std::sqrt(lambda);
  auto lo = static_cast<std::size_t>(std::max(0.0, lambda - 14 * sd - 10));
  auto hi = static_cast<std::size_t>(lambda + 14 * sd + 30);
  double miss = std::log1p(-1.0 / static_cast<double>(block_bits));
  double rate = 0;
  for (std::size_t j = lo; j <= hi; ++j) {
    double jd = static_cast<double>(j);
    double poisson = std::exp(-lambda + jd * std::log(lambda) - std::lgamma(jd + 1));
    rate += poisson * std::pow(-std::expm1(jd * k * miss), k);
  }
  return rate;
}

replay_filter::replay_filter(std::size_t capacity, double fp_rate)
    : capacity_(capacity == 0 ? 1 : capacity) {
  // Each filter at p = fp_rate / 2. Start from the unblocked Bloom sizing
  // (m = -n ln p / (ln 2)^2 bits, k = (m / n) ln 2) and add blocks until the blocked formula
  // meets p, choosing k for the bits per salt each time.
  double p = fp_rate / 2;
  double ln2 = std::log(2.0);
  double m = std::ceil(-static_cast<double>(capacity_) * std::log(p) / (ln2 * ln2));
  blocks_ = std::max<std::size_t>(1, static_cast<std::size_t>(m) / block_bits);
  auto choose_k = [&] {
    double per_salt = static_cast<double>(blocks_ * block_bits) / static_cast<double>(capacity_);
    hashes_ = static_cast<unsigned>(std::clamp(std::round(per_salt * ln2), 1.0, 64.0));
  };
  choose_k();
  while (false_positive_rate(capacity_, blocks_, hashes_) > p) {
    blocks_ += std::max<std::size_t>(1, blocks_ / 200);
    choose_k();
  }
  bits_ = blocks_ * block_bits;
  for (auto& f : filters_)
    f = std::make_unique<pages>(bits_ / 64);
  random_bytes(key_);
}

#ifndef _WIN32

replay_filter::pages::pages(std::size_t words) : size_(words) {
  void* p = ::mmap(nullptr, words * 8, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) throw std::bad_alloc();
  words_ = static_cast<std::uint64_t*>(p);
}

replay_filter::pages::~pages() {
  ::munmap(words_, size_ * 8);
}

void replay_filter::pages::clear() {
  // The kernel drops the pages; the next read sees zeros, the next write gets a fresh page.
  if (::madvise(words_, size_ * 8, MADV_DONTNEED) != 0) std::fill(words_, words_ + size_, 0);
}

std::size_t replay_filter::pages::resident_bytes() const {
  std::size_t page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  std::size_t n = (size_ * 8 + page - 1) / page;
  std::vector<unsigned char> in(n);
  if (::mincore(words_, size_ * 8, in.data()) != 0) return size_ * 8;
  return static_cast<std::size_t>(
             std::count_if(in.begin(), in.end(), [](unsigned char c) { return (c & 1) != 0; })) *
         page;
}

#else  // Windows: committed pages are zero and take memory only once written, as with mmap

replay_filter::pages::pages(std::size_t words) : size_(words) {
  void* p = ::VirtualAlloc(nullptr, words * 8, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE);
  if (p == nullptr) throw std::bad_alloc();
  words_ = static_cast<std::uint64_t*>(p);
}

replay_filter::pages::~pages() {
  ::VirtualFree(words_, 0, MEM_RELEASE);
}

void replay_filter::pages::clear() {
  // Decommitted and committed again: the next read sees zeros, as after MADV_DONTNEED.
  if (!::VirtualFree(words_, size_ * 8, MEM_DECOMMIT) ||
      ::VirtualAlloc(words_, size_ * 8, MEM_COMMIT, PAGE_READWRITE) == nullptr) {
    std::fill(words_, words_ + size_, 0);
  }
}

std::size_t replay_filter::pages::resident_bytes() const {
  return size_ * 8;  // no cheap per-page residency query: the committed size, an upper bound
}

#endif

replay_filter::probe replay_filter::hash(bytes_view salt) const {
  auto d = sha256(key_, salt);
  return {static_cast<std::size_t>(get64(d.data()) % blocks_), get64(d.data() + 8),
          get64(d.data() + 16)};
}

namespace {

// The k bit positions of a salt within its block: 15-bit pieces of a SplitMix64 sequence seeded
// from the salt's hash, four per step. Independent-looking positions matter here: double
// hashing (h1 + i h2) in a block this small makes shifted copies of one salt's pattern likely
// enough to show at a rate of 1e-10.
template <typename F>
void for_each_position(std::uint64_t seed, std::uint64_t salt2, unsigned k, F&& f) {
  std::uint64_t state = seed ^ (salt2 << 1);
  for (unsigned i = 0; i < k;) {
    state += 0x9e3779b97f4a7c15ULL;
    std::uint64_t z = state;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    z ^= z >> 31;
    for (unsigned piece = 0; piece < 4 && i < k; ++piece, ++i)
      f(static_cast<std::size_t>(z >> (16 * piece)) & (replay_filter::block_bits - 1));
  }
}

}  // namespace

bool replay_filter::test(const pages& f, const probe& p) const {
  const std::uint64_t* block = f.data() + p.block * (block_bits / 64);
  bool all = true;
  for_each_position(p.h1, p.h2, hashes_, [&](std::size_t bit) {
    all = all && (block[bit / 64] >> (bit % 64) & 1) != 0;
  });
  return all;
}

void replay_filter::set(pages& f, const probe& p) {
  std::uint64_t* block = f.data() + p.block * (block_bits / 64);
  for_each_position(p.h1, p.h2, hashes_,
                    [&](std::size_t bit) { block[bit / 64] |= std::uint64_t{1} << (bit % 64); });
}

void replay_filter::insert_locked(const probe& p) {
  if (count_ >= capacity_) {
    // The current generation is full: forget the older one and start filling it.
    current_ ^= 1;
    filters_[current_]->clear();
    count_ = 0;
  }
  set(*filters_[current_], p);
  ++count_;
  dirty_ = true;
}

std::size_t replay_filter::resident_bytes() const {
  return filters_[0]->resident_bytes() + filters_[1]->resident_bytes();
}

bool replay_filter::check_and_insert(bytes_view salt) {
  auto p = hash(salt);
  std::lock_guard lock(mutex_);
  if (test(*filters_[0], p) || test(*filters_[1], p)) return true;
  insert_locked(p);
  if (journal_) journal_(salt);
  return false;
}

void replay_filter::insert(bytes_view salt) {
  auto p = hash(salt);
  std::lock_guard lock(mutex_);
  insert_locked(p);
  if (journal_) journal_(salt);
}

void replay_filter::learn(bytes_view salt) {
  auto p = hash(salt);
  std::lock_guard lock(mutex_);
  insert_locked(p);
}

void replay_filter::set_journal(journal j) {
  std::lock_guard lock(mutex_);
  journal_ = std::move(j);
}

bool replay_filter::contains(bytes_view salt) const {
  auto p = hash(salt);
  std::lock_guard lock(mutex_);
  return test(*filters_[0], p) || test(*filters_[1], p);
}

bool replay_filter::dirty() const {
  std::lock_guard lock(mutex_);
  return dirty_;
}

std::size_t replay_filter::size() const {
  std::lock_guard lock(mutex_);
  return count_;
}

// File layout (little-endian): magic[8], capacity u64, bits u64, hashes u64, current u64,
// count u64, key[32], filter 0, filter 1 (bits / 8 bytes each), SHA-256 of all before it.
std::error_code replay_filter::save(const std::string& path) {
  std::vector<std::uint8_t> out;
  {
    std::lock_guard lock(mutex_);
    out.reserve(8 + 5 * 8 + 32 + 2 * bits_ / 8 + 32);
    out.insert(out.end(), magic, magic + 8);
    put64(out, capacity_);
    put64(out, bits_);
    put64(out, hashes_);
    put64(out, current_);
    put64(out, count_);
    out.insert(out.end(), key_.begin(), key_.end());
    for (const auto& f : filters_) {
      for (std::size_t i = 0; i < f->size(); ++i)
        put64(out, f->data()[i]);
    }
    dirty_ = false;
  }
  return write_checked(path, std::move(out));
}

std::error_code replay_filter::load(const std::string& path) {
  auto read = read_checked(path, magic);
  if (!read) return read.error();
  const auto& in = *read;
  if (in.size() != 8 + 5 * 8 + 32 + 2 * bits_ / 8) {
    return make_error_code(std::errc::invalid_argument);
  }
  const std::uint8_t* p = in.data() + 8;
  if (get64(p) != capacity_ || get64(p + 8) != bits_ || get64(p + 16) != hashes_) {
    return make_error_code(std::errc::invalid_argument);
  }
  std::lock_guard lock(mutex_);
  current_ = static_cast<unsigned>(get64(p + 24) & 1);
  count_ = static_cast<std::size_t>(get64(p + 32));
  p += 40;
  std::memcpy(key_.data(), p, 32);
  p += 32;
  // Only the blocks holding bits are written, so that a filter loaded from a file takes no
  // more memory than the one saved.
  constexpr std::size_t block_bytes = block_bits / 8;
  for (auto& flt : filters_) {
    flt->clear();
    for (std::size_t b = 0; b < blocks_; ++b, p += block_bytes) {
      if (std::all_of(p, p + block_bytes, [](std::uint8_t c) { return c == 0; })) continue;
      std::uint64_t* words = flt->data() + b * (block_bytes / 8);
      for (std::size_t i = 0; i < block_bytes / 8; ++i)
        words[i] = get64(p + 8 * i);
    }
  }
  dirty_ = false;
  return {};
}

bool recent_salts::store(bytes_view salt, time_point now) {
  std::string key(reinterpret_cast<const char*>(salt.data()), salt.size());
  while (!order_.empty() && now - order_.front().first > keep_) {
    salts_.erase(order_.front().second);
    order_.pop_front();
  }
  if (!salts_.insert(key).second) return false;
  order_.emplace_back(now, std::move(key));
  return true;
}

bool recent_salts::check_and_insert(bytes_view salt, time_point now) {
  std::lock_guard lock(mutex_);
  if (!store(salt, now)) return true;
  if (journal_) journal_(salt);
  return false;
}

void recent_salts::learn(bytes_view salt, time_point now) {
  std::lock_guard lock(mutex_);
  store(salt, now);
}

void recent_salts::set_journal(replay_filter::journal j) {
  std::lock_guard lock(mutex_);
  journal_ = std::move(j);
}

std::error_code recent_salts::save(const std::string& path, time_point now,
                                   std::chrono::system_clock::time_point wall_now) const {
  std::vector<std::uint8_t> out(salts_magic, salts_magic + 8);
  {
    std::lock_guard lock(mutex_);
    for (const auto& [accepted, salt] : order_) {
      if (now - accepted > keep_) continue;
      auto wall = wall_now -
                  std::chrono::duration_cast<std::chrono::system_clock::duration>(now - accepted);
      auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(wall.time_since_epoch());
      put64(out, static_cast<std::uint64_t>(ms.count()));
      out.push_back(static_cast<std::uint8_t>(salt.size()));
      out.insert(out.end(), salt.begin(), salt.end());
    }
  }
  return write_checked(path, std::move(out));
}

std::error_code recent_salts::load(const std::string& path, time_point now,
                                   std::chrono::system_clock::time_point wall_now) {
  auto read = read_checked(path, salts_magic);
  if (!read) return read.error();
  const auto& in = *read;
  std::vector<std::pair<time_point, std::string>> found;
  for (std::size_t i = 8; i < in.size();) {
    if (in.size() - i < 9 || in.size() - i - 9 < in[i + 8] || in[i + 8] > max_salt_size) {
      return make_error_code(std::errc::invalid_argument);
    }
    auto wall = std::chrono::system_clock::time_point(
        std::chrono::duration_cast<std::chrono::system_clock::duration>(
            std::chrono::milliseconds(static_cast<std::int64_t>(get64(in.data() + i)))));
    std::string salt(reinterpret_cast<const char*>(in.data() + i + 9), in[i + 8]);
    i += 9 + salt.size();
    auto age = wall_now - wall;
    // Expired, or from the future (a clock set back): not kept.
    if (age < std::chrono::system_clock::duration::zero() || age > keep_) continue;
    found.emplace_back(now - std::chrono::duration_cast<time_point::duration>(age),
                       std::move(salt));
  }
  std::lock_guard lock(mutex_);
  for (auto& [accepted, salt] : found) {
    if (salts_.insert(salt).second) order_.emplace_back(accepted, std::move(salt));
  }
  // Oldest first, as check_and_insert expires them.
  std::stable_sort(order_.begin(), order_.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  return {};
}

std::size_t recent_salts::size() const {
  std::lock_guard lock(mutex_);
  return salts_.size();
}

}  // namespace ss
