#include "shadowsocks/crypto/key_ring.hpp"

#include <openssl/crypto.h>

#include <algorithm>
#include <array>
#include <memory>

#include "shadowsocks/codec/per_thread.hpp"
#include "shadowsocks/crypto/aead.hpp"

namespace ss {

namespace {

// Per-client memory of the last key found: bounded, forgotten as a whole when full (it is a
// hint; a miss only costs a longer search).
constexpr std::size_t max_remembered_clients = 65536;

// One opening context per method on this thread, reused by every search.
aead_cipher& context_for(const cipher_info& cipher) {
  thread_local per_thread<std::vector<std::pair<const cipher_info*, std::unique_ptr<aead_cipher>>>>
      owned;
  auto& contexts = *owned;
  for (auto& [c, ctx] : contexts) {
    if (c == &cipher) return *ctx;
  }
  contexts.emplace_back(&cipher, std::make_unique<aead_cipher>(cipher, aead_direction::open));
  return *contexts.back().second;
}

constexpr std::uint8_t zero_nonce[max_nonce_size] = {};

}  // namespace

key_ring::key_ring(const key_ring& other) : members_(other.members_) {
  std::lock_guard lock(other.mu_);
  order_ = other.order_;
}

bool key_ring::add(std::string name, const master_key& key) {
  if (key.cipher().is_2022()) return false;
  for (const auto& m : members_) {
    if (&m.key.cipher() == &key.cipher() && std::ranges::equal(m.key.bytes(), key.bytes())) {
      return false;
    }
  }
  members_.push_back({std::move(name), key});
  order_.push_back(static_cast<std::uint32_t>(members_.size() - 1));
  return true;
}

void key_ring::found(std::size_t index, std::string_view client) const {
  std::lock_guard lock(mu_);
  auto at = std::ranges::find(order_, static_cast<std::uint32_t>(index));
  std::rotate(order_.begin(), at, at + 1);  // to the front; the others keep their order
  if (last_by_client_.size() >= max_remembered_clients) last_by_client_.clear();
  last_by_client_[std::string(client)] = static_cast<std::uint32_t>(index);
}

// Tries the client's last key, then the others most recently found first. `attempt(member)`
// answers 1 (it opens), 0 (it does not) or -1 (too few bytes to tell).
template <class Try>
key_ring::outcome key_ring::search(std::string_view client, Try&& attempt) const {
  std::vector<std::uint32_t> order;
  std::optional<std::uint32_t> first;
  {
    std::lock_guard lock(mu_);
    order = order_;
    if (auto it = last_by_client_.find(std::string(client)); it != last_by_client_.end()) {
      first = it->second;
    }
  }
  outcome out;
  auto one = [&](std::uint32_t i) {
    int r = attempt(members_[i]);
    if (r < 0) {
      out.need_more = true;
      return false;
    }
    ++out.tried;
    return r > 0;
  };
  if (first && one(*first)) {
    out.index = *first;
  } else {
    for (auto i : order) {
      if (first && i == *first) continue;
      if (one(i)) {
        out.index = i;
        break;
      }
    }
  }
  if (out.index) {
    out.need_more = false;
    found(*out.index, client);
  }
  return out;
}

key_ring::outcome key_ring::find_stream_key(bytes_view start, std::string_view client) const {
  return search(client, [start](const member& m) {
    const auto& c = m.key.cipher();
    if (start.size() < c.salt_size + 2 + tag_size) return -1;
    auto& ctx = context_for(c);
    set_session_key(ctx, m.key, start.first(c.salt_size));
    std::array<std::uint8_t, 2> length{};
    bool ok =
        ctx.open({zero_nonce, c.nonce_size}, {}, start.subspan(c.salt_size, 2 + tag_size), length);
    return ok ? 1 : 0;
  });
}

key_ring::outcome key_ring::find_packet_key(bytes_view packet, std::string_view client,
                                            mutable_bytes out, bytes_view& payload) const {
  return search(client, [&](const member& m) {
    const auto& c = m.key.cipher();
    if (packet.size() < c.salt_size + tag_size) return 0;  // too short for this key
    auto& ctx = context_for(c);
    set_session_key(ctx, m.key, packet.first(c.salt_size));
    auto sealed = packet.subspan(c.salt_size);
    auto plain = out.first(sealed.size() - tag_size);
    if (!ctx.open({zero_nonce, c.nonce_size}, {}, sealed, plain)) {
      OPENSSL_cleanse(plain.data(), plain.size());
      return 0;
    }
    payload = plain;
    return 1;
  });
}

}  // namespace ss
