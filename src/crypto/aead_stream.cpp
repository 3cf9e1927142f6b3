#include "shadowsocks/crypto/aead_stream.hpp"

#include <openssl/crypto.h>

#include <algorithm>
#include <array>
#include <cassert>
#include <chrono>
#include <cstdlib>
#include <cstring>

#include "shadowsocks/codec/sip022_header.hpp"
#include "shadowsocks/crypto/kdf.hpp"

namespace ss {

namespace {

std::size_t max_payload_of(const master_key& key) {
  return key.cipher().is_2022() ? max_payload_size_2022 : max_payload_size;
}

// The response header's size beyond the length chunk it stands for: type, timestamp, salt.
std::size_t response_header_extra(std::size_t salt_size) {
  return 1 + 8 + salt_size;
}

// 1 to 900 bytes (SIP022 3.1.4: a request without payload carries non-zero random padding).
std::size_t random_padding_length() {
  std::uint8_t r[2];
  random_bytes(r);
  return 1 + load_be16(r) % sip022::max_padding;
}

}  // namespace

std::uint64_t unix_now() noexcept {
  using namespace std::chrono;
  return static_cast<std::uint64_t>(
      duration_cast<seconds>(system_clock::now().time_since_epoch()).count());
}

aead_stream_encoder::aead_stream_encoder(const master_key& key)
    : key_(&key),
      cipher_(key.cipher(), aead_direction::seal),
      nonce_(key.cipher().nonce_size),
      salt_size_(key.cipher().salt_size),
      max_payload_(max_payload_of(key)) {
  random_salt(mutable_bytes(salt_).first(salt_size_));
  set_session_key(cipher_, key, salt());
}

aead_stream_encoder::aead_stream_encoder(const master_key& key, bytes_view salt)
    : key_(&key),
      cipher_(key.cipher(), aead_direction::seal),
      nonce_(key.cipher().nonce_size),
      salt_size_(key.cipher().salt_size),
      max_payload_(max_payload_of(key)) {
  assert(salt.size() == salt_size_);
  std::memcpy(salt_.data(), salt.data(), salt_size_);
  set_session_key(cipher_, key, this->salt());
}

aead_stream_encoder aead_stream_encoder::with_prefix(const master_key& key, bytes_view prefix) {
  const std::size_t size = key.cipher().salt_size;
  if (prefix.size() > max_salt_prefix(key.cipher())) std::abort();  // validated before
  std::array<std::uint8_t, max_salt_size> salt{};
  std::memcpy(salt.data(), prefix.data(), prefix.size());
  random_salt(mutable_bytes(salt).subspan(prefix.size(), size - prefix.size()));
  return aead_stream_encoder(key, bytes_view(salt).first(size));
}

void aead_stream_encoder::answer(bytes_view request_salt) {
  if (!cipher_.cipher().is_2022()) return;
  assert(request_salt.size() == salt_size_ && !salt_sent_);
  std::memcpy(request_salt_.data(), request_salt.data(), salt_size_);
  response_header_pending_ = true;
}

std::size_t aead_stream_encoder::output_size(std::size_t n) const noexcept {
  std::size_t chunks = (n + max_payload_ - 1) / max_payload_;
  std::size_t header = response_header_pending_ && n > 0 ? response_header_extra(salt_size_) : 0;
  return (salt_sent_ ? 0 : salt_size_) + header + n + chunks * chunk_overhead;
}

std::size_t aead_stream_encoder::seal_header(bytes_view in, std::uint8_t* out) {
  bool ok = cipher_.seal(nonce_.bytes(), {}, in, {out, in.size() + tag_size});
  nonce_.increment();
  if (!ok) std::abort();  // sealing valid input cannot fail
  return in.size() + tag_size;
}

// The response header stands in for the first length chunk (SIP022 3.1.2).
std::size_t aead_stream_encoder::seal_response_header(bytes_view first, std::uint8_t* out) {
  std::vector<std::uint8_t> header;
  header.reserve(1 + 8 + max_salt_size + 2);
  sip022::encode_response_fixed(clock_(), {request_salt_.data(), salt_size_},
                                static_cast<std::uint16_t>(first.size()), header);
  std::size_t n = seal_header(header, out);
  n += seal_header(first, out + n);
  response_header_pending_ = false;
  return n;
}

void aead_stream_encoder::seal_request(const target_address& target, bytes_view payload,
                                       std::vector<std::uint8_t>& out) {
  assert(!salt_sent_);
  if (!cipher_.cipher().is_2022()) {
    std::vector<std::uint8_t> first;
    first.reserve(target.encoded_size() + payload.size());
    encode_address(target, first);
    first.insert(first.end(), payload.begin(), payload.end());
    seal(first, out);
    return;
  }
  // The variable header takes what fits of the payload (an address is at most 259 bytes).
  auto initial = payload.first(std::min(payload.size(), max_payload_ - 2 - 259));
  std::vector<std::uint8_t> padding(initial.empty() ? random_padding_length() : 0);
  std::vector<std::uint8_t> variable;
  sip022::encode_request_variable(target, padding, initial, variable);
  std::vector<std::uint8_t> fixed;
  sip022::encode_request_fixed({clock_(), static_cast<std::uint16_t>(variable.size())}, fixed);
  const auto& identities = key_->identities();
  auto old = out.size();
  out.resize(old + salt_size_ + identities.size() * sip022::identity_header_size + fixed.size() +
             variable.size() + 2 * tag_size);
  std::uint8_t* p = out.data() + old;
  std::memcpy(p, salt_.data(), salt_size_);
  salt_sent_ = true;
  p += salt_size_;
  for (const auto& id : identities) {
    sip022::seal_tcp_identity(id.key, salt(), id.next_hash, p);
    p += sip022::identity_header_size;
  }
  p += seal_header(fixed, p);
  seal_header(variable, p);
  if (initial.size() < payload.size()) seal(payload.subspan(initial.size()), out);
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
  if (response_header_pending_ && !in.empty()) {
    auto first = in.first(std::min(in.size(), max_payload_));
    p += seal_response_header(first, p);
    in = in.subspan(first.size());
  }
  while (!in.empty()) {
    auto piece = in.first(std::min(in.size(), max_payload_));
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

aead_stream_decoder::aead_stream_decoder(const master_key& key, bytes_view request_salt)
    : aead_stream_decoder(key) {
  if (!key.cipher().is_2022()) return;
  assert(request_salt.size() == salt_size_);
  std::memcpy(request_salt_.data(), request_salt.data(), salt_size_);
  response_ = true;
}

aead_stream_decoder::aead_stream_decoder(const master_key& key, const sip022::user_table* users)
    : aead_stream_decoder(key) {
  if (key.cipher().is_2022()) users_ = users;
}

std::size_t aead_stream_decoder::fixed_header_size() const noexcept {
  return (response_ ? 1 + 8 + salt_size_ + 2 : sip022::request_fixed_size) + tag_size;
}

// Opens the 2022 fixed-length header at `p` and checks it; on success the next chunk is a
// payload chunk of the length it gives (in a request: the variable-length header).
errc aead_stream_decoder::open_fixed_header(std::uint8_t* p, std::size_t size) {
  if (!cipher_.open(nonce_.bytes(), {}, {p, size}, {p, size - tag_size})) {
    return errc::aead_auth_failed;
  }
  nonce_.increment();
  bytes_view plain(p, size - tag_size);
  std::uint64_t timestamp = 0;
  if (response_) {
    auto h = sip022::decode_response_fixed(plain, salt_size_);
    if (!h.is_done()) return h.is_error() ? h.error : errc::sip022_truncated_header;
    // SIP022 3.1.3: the client checks that the response answers its own request.
    if (CRYPTO_memcmp(h.value.request_salt.data(), request_salt_.data(), salt_size_) != 0) {
      return errc::sip022_wrong_salt;
    }
    timestamp = h.value.timestamp;
    payload_size_ = h.value.length;
  } else {
    auto h = sip022::decode_request_fixed(plain);
    if (!h.is_done()) return h.is_error() ? h.error : errc::sip022_truncated_header;
    timestamp = h.value.timestamp;
    payload_size_ = h.value.length;
  }
  // SIP022 3.1.3: over 30 seconds of difference is a replay.
  if (!sip022::timestamp_fresh(timestamp, clock_())) return errc::sip022_stale_timestamp;
  return errc::ok;
}

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
        begin_ += salt_size_;
        if (users_ != nullptr) {
          state_ = state::identity;
          break;
        }
        set_session_key(cipher_, *key_, salt());
        state_ = key_->cipher().is_2022() ? state::fixed_header : state::length;
        break;
      case state::identity: {
        // SIP023: the user is one lookup away; from here on the stream is under its key.
        if (avail < sip022::identity_header_size) return result_t::more();
        user_ = users_->find(sip022::open_tcp_identity(key_->bytes(), salt(), p));
        if (user_ == nullptr) return fail(errc::sip022_unknown_user);
        key_ = &user_->key;
        set_session_key(cipher_, *key_, salt());
        begin_ += sip022::identity_header_size;
        state_ = state::fixed_header;
        break;
      }
      case state::fixed_header: {
        std::size_t size = fixed_header_size();
        if (avail < size) return result_t::more();
        if (auto e = open_fixed_header(p, size); e != errc::ok) return fail(e);
        begin_ += size;
        state_ = state::payload;
        break;
      }
      case state::length: {
        if (avail < 2 + tag_size) return result_t::more();
        bool ok = cipher_.open(nonce_.bytes(), {}, {p, 2 + tag_size}, {p, 2});
        if (!ok) return fail(errc::aead_auth_failed);
        nonce_.increment();
        payload_size_ = load_be16(p);
        // aead.md: the two high bits are reserved and the payload is capped at 0x3FFF (the
        // 2022 edition allows every 16-bit length).
        if (payload_size_ > max_payload_size && !key_->cipher().is_2022()) {
          return fail(errc::aead_bad_length);
        }
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
