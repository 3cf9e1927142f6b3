#include "shadowsocks/crypto/replay_filter.hpp"

#include <openssl/evp.h>
#include <openssl/sha.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>

#include "shadowsocks/codec/errc.hpp"
#include "shadowsocks/crypto/kdf.hpp"

namespace ss {

namespace {

constexpr char magic[8] = {'S', 'S', 'C', 'P', 'P', 'R', 'F', '1'};

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
  thread_local std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(),
                                                                           EVP_MD_CTX_free);
  unsigned n = 0;
  bool ok = ctx && md && EVP_DigestInit_ex2(ctx.get(), md, nullptr) == 1 &&
            EVP_DigestUpdate(ctx.get(), a.data(), a.size()) == 1 &&
            EVP_DigestUpdate(ctx.get(), b.data(), b.size()) == 1 &&
            EVP_DigestFinal_ex(ctx.get(), out.data(), &n) == 1;
  if (!ok) std::abort();  // hashing memory cannot fail
  return out;
}

}  // namespace

replay_filter::replay_filter(std::size_t capacity, double fp_rate)
    : capacity_(capacity == 0 ? 1 : capacity) {
  // Standard Bloom sizing for n = capacity and p = fp_rate / 2 per filter:
  // m = -n ln p / (ln 2)^2 bits, k = (m / n) ln 2 hashes.
  double p = fp_rate / 2;
  double ln2 = std::log(2.0);
  double m = std::ceil(-static_cast<double>(capacity_) * std::log(p) / (ln2 * ln2));
  bits_ = (static_cast<std::size_t>(m) + 63) / 64 * 64;
  hashes_ = static_cast<unsigned>(
      std::max(1.0, std::round(static_cast<double>(bits_) / static_cast<double>(capacity_) * ln2)));
  // k had to be rounded, which moves the rate off its optimum: grow m until the Bloom formula
  // (1 - e^(-kn/m))^k really meets p.
  auto rate = [this] {
    double k = hashes_;
    return std::pow(1 - std::exp(-k * static_cast<double>(capacity_) / static_cast<double>(bits_)),
                    k);
  };
  while (rate() > p)
    bits_ += 64 * ((bits_ / 1000 + 63) / 64);
  for (auto& f : filters_)
    f.assign(bits_ / 64, 0);
  random_bytes(key_);
}

replay_filter::probe replay_filter::hash(bytes_view salt) const {
  auto d = sha256(key_, salt);
  // Kirsch-Mitzenmacher double hashing: index_i = h1 + i * h2 (h2 odd, so all differ).
  return {get64(d.data()), get64(d.data() + 8) | 1};
}

bool replay_filter::test(const std::vector<std::uint64_t>& f, const probe& p) const {
  for (unsigned i = 0; i < hashes_; ++i) {
    std::uint64_t bit = (p.h1 + i * p.h2) % bits_;
    if ((f[bit / 64] >> (bit % 64) & 1) == 0) return false;
  }
  return true;
}

void replay_filter::set(std::vector<std::uint64_t>& f, const probe& p) {
  for (unsigned i = 0; i < hashes_; ++i) {
    std::uint64_t bit = (p.h1 + i * p.h2) % bits_;
    f[bit / 64] |= std::uint64_t{1} << (bit % 64);
  }
}

void replay_filter::insert_locked(const probe& p) {
  if (count_ >= capacity_) {
    // The current generation is full: forget the older one and start filling it.
    current_ ^= 1;
    std::fill(filters_[current_].begin(), filters_[current_].end(), 0);
    count_ = 0;
  }
  set(filters_[current_], p);
  ++count_;
  dirty_ = true;
}

bool replay_filter::check_and_insert(bytes_view salt) {
  auto p = hash(salt);
  std::lock_guard lock(mutex_);
  if (test(filters_[0], p) || test(filters_[1], p)) return true;
  insert_locked(p);
  return false;
}

void replay_filter::insert(bytes_view salt) {
  auto p = hash(salt);
  std::lock_guard lock(mutex_);
  insert_locked(p);
}

bool replay_filter::contains(bytes_view salt) const {
  auto p = hash(salt);
  std::lock_guard lock(mutex_);
  return test(filters_[0], p) || test(filters_[1], p);
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
      for (auto w : f)
        put64(out, w);
    }
    dirty_ = false;
  }
  auto digest = sha256(out, {});
  out.insert(out.end(), digest.begin(), digest.end());
  std::string tmp = path + ".tmp";
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    f.write(reinterpret_cast<const char*>(out.data()), static_cast<std::streamsize>(out.size()));
    f.flush();
    if (!f) return std::error_code(errno ? errno : EIO, std::generic_category());
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    return std::error_code(errno, std::generic_category());
  }
  return {};
}

std::error_code replay_filter::load(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return std::error_code(errno ? errno : ENOENT, std::generic_category());
  std::vector<std::uint8_t> in((std::istreambuf_iterator<char>(f)),
                               std::istreambuf_iterator<char>());
  std::size_t expected = 8 + 5 * 8 + 32 + 2 * bits_ / 8 + 32;
  if (in.size() != expected || std::memcmp(in.data(), magic, 8) != 0) {
    return make_error_code(std::errc::invalid_argument);
  }
  auto digest = sha256({in.data(), in.size() - 32}, {});
  if (std::memcmp(digest.data(), in.data() + in.size() - 32, 32) != 0) {
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
  for (auto& flt : filters_) {
    for (auto& w : flt) {
      w = get64(p);
      p += 8;
    }
  }
  dirty_ = false;
  return {};
}

bool recent_salts::check_and_insert(bytes_view salt, time_point now) {
  std::string key(reinterpret_cast<const char*>(salt.data()), salt.size());
  std::lock_guard lock(mutex_);
  while (!order_.empty() && now - order_.front().first > keep_) {
    salts_.erase(order_.front().second);
    order_.pop_front();
  }
  if (!salts_.insert(key).second) return true;
  order_.emplace_back(now, std::move(key));
  return false;
}

std::size_t recent_salts::size() const {
  std::lock_guard lock(mutex_);
  return salts_.size();
}

}  // namespace ss
