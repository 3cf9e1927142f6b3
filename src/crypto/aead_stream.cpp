#include "shadowsocks/crypto/aead_stream.hpp"

#include <openssl/crypto.h>
#include <algorithm>

#include <cassert>
#include <cstring>

#include "shadowsocks/crypto/kdf.hpp"

namespace ss {

aead_stream_encoder::aead_stream_encoder(const master_key& key)
    : cipher_(key.cipher(), aead_direction::seal),
      nonce_(key.cipher().nonce_size),
      salt_size_(key.cipher().salt_size) {
  random_salt(mutable_bytes(salt_).first(salt_size_));
  set_session_key(cipher_, key, salt());
}

aead_stream_encoder::aead_stream_encoder(const master_key& key, bytes_view salt)
    : cipher_(key.cipher(), aead_direction::seal),
      nonce_(key.cipher().nonce_size),
      salt_size_(key.cipher().salt_size) {
  assert(salt.size() == salt_size_);
  std::memcpy(salt_.data(), salt.data(), salt_size_);
  set_session_key(cipher_, key, this->salt());
}

std::size_t aead_stream_encoder::output_size(std::size_t n) const noexcept {
  std::size_t chunks = (n + max_payload_size - 1) / max_payload_size;
  return (salt_sent_ ? 0 : salt_size_) + n + chunks * chunk_overhead;
}

void aead_stream_encoder::seal_chunk(bytes_view in, std::uint8_t* out) {
  std::uint8_t len[2];
  store_be16(len, static_cast<std::uint16_t>(in.size()));
  bool ok = cipher_.seal(nonce_.bytes(), {}, len, {out, 2 + tag_size});
  nonce_.increment();
  ok = ok && cipher_.seal(nonce_.bytes(), {}, in, {out + 2 + tag_size, in.size() + tag_size});
  nonce_.increment();
  if (!ok) std::abort();  // sealing valid input cannot fail
}

std::size_t aead_stream_encoder::seal(bytes_view in, mutable_bytes out) {
  assert(out.size() >= output_size(in.size()));
  std::uint8_t* p = out.data();
  if (!salt_sent_) {
    std::memcpy(p, salt_.data(), salt_size_);
    p += salt_size_;
    salt_sent_ = true;
  }
  while (!in.empty()) {
    auto piece = in.first(std::min(in.size(), max_payload_size));
    seal_chunk(piece, p);
    p += piece.size() + chunk_overhead;
    in = in.subspan(piece.size());
  }
  return static_cast<std::size_t>(p - out.data());
}

void aead_stream_encoder::seal(bytes_view in, std::vector<std::uint8_t>& out) {
  auto old = out.size();
  out.resize(old + output_size(in.size()));
  auto n = seal(in, mutable_bytes(out).subspan(old));
  out.resize(old + n);
}

static_assert(pool_block_size >= 2 * (max_chunk_size + max_salt_size),
              "a pooled block must hold a chunk and the start of the next");

aead_stream_decoder::aead_stream_decoder(const master_key& key)
    : key_(&key),
      cipher_(key.cipher(), aead_direction::open),
      nonce_(key.cipher().nonce_size),
      salt_size_(key.cipher().salt_size) {}

void aead_stream_decoder::release() noexcept {
  if (begin_ != end_) return;
  block_.reset();
  grown_ = {};
  buf_ = nullptr;
  capacity_ = 0;
  begin_ = end_ = 0;
}

mutable_bytes aead_stream_decoder::prepare() {
  // The buffer is taken on first use, so a connection that never sends holds none.
  if (buf_ == nullptr) {
    block_ = pooled_block::take();
    buf_ = block_.data();
    capacity_ = pool_block_size;
  }
  if (begin_ == end_) {
    begin_ = end_ = 0;
  } else if (capacity_ - end_ < max_chunk_size && begin_ > 0) {
    // Move the undecoded tail (less than one chunk when the caller drains `next`) to the front
    // so that the next read can take a whole chunk.
    std::memmove(buf_, buf_ + begin_, end_ - begin_);
    end_ -= begin_;
    begin_ = 0;
  }
  if (end_ == capacity_) {
    // Only a caller that commits without draining `next` gets here; keep every byte it gave.
    std::vector<std::uint8_t> bigger(capacity_ * 2);
    std::memcpy(bigger.data(), buf_, end_);
    grown_ = std::move(bigger);
    block_.reset();
    buf_ = grown_.data();
    capacity_ = grown_.size();
  }
  return {buf_ + end_, capacity_ - end_};
}

void aead_stream_decoder::commit(std::size_t n) {
  assert(n <= capacity_ - end_);
  end_ += n;
}

void aead_stream_decoder::feed(bytes_view in) {
  while (!in.empty()) {
    auto space = prepare();
    auto n = std::min(space.size(), in.size());
    std::memcpy(space.data(), in.data(), n);
    commit(n);
    in = in.subspan(n);
  }
}

decoded<bytes_view> aead_stream_decoder::fail(errc e) {
  state_ = state::failed;
  error_ = e;
  // Whatever was decrypted in place without a valid tag is wiped, never handed out.
  if (buf_ != nullptr) OPENSSL_cleanse(buf_, capacity_);
  begin_ = end_ = 0;
  release();
  return decoded<bytes_view>::fail(e);
}

decoded<bytes_view> aead_stream_decoder::next() {
  using result_t = decoded<bytes_view>;
  for (;;) {
    std::size_t avail = end_ - begin_;
    std::uint8_t* p = buf_ + begin_;
    switch (state_) {
      case state::failed:
        return result_t::fail(error_);
      case state::salt:
        if (avail < salt_size_) return result_t::more();
        std::memcpy(salt_.data(), p, salt_size_);
        set_session_key(cipher_, *key_, salt());
        begin_ += salt_size_;
        state_ = state::length;
        break;
      case state::length: {
        if (avail < 2 + tag_size) return result_t::more();
        bool ok = cipher_.open(nonce_.bytes(), {}, {p, 2 + tag_size}, {p, 2});
        if (!ok) return fail(errc::aead_auth_failed);
        nonce_.increment();
        payload_size_ = load_be16(p);
        // aead.md: the two high bits are reserved and the payload is capped at 0x3FFF.
        if (payload_size_ > max_payload_size) return fail(errc::aead_bad_length);
        begin_ += 2 + tag_size;
        state_ = state::payload;
        break;
      }
      case state::payload: {
        if (avail < payload_size_ + tag_size) return result_t::more();
        bool ok =
            cipher_.open(nonce_.bytes(), {}, {p, payload_size_ + tag_size}, {p, payload_size_});
        if (!ok) return fail(errc::aead_auth_failed);
        nonce_.increment();
        begin_ += payload_size_ + tag_size;
        state_ = state::length;
        ++chunks_;
        return result_t::ok(bytes_view(p, payload_size_), payload_size_);
      }
    }
  }
}

}  // namespace ss
