#include "shadowsocks/crypto/udp_2022.hpp"

#include <openssl/crypto.h>

#include <cassert>
#include <cstdlib>
#include <cstring>

#include "aes_block.hpp"
#include "shadowsocks/codec/address.hpp"
#include "shadowsocks/codec/sip022_header.hpp"
#include "shadowsocks/crypto/kdf.hpp"

namespace ss::sip022 {

namespace {

constexpr std::size_t xchacha_nonce_size = 24;

// Type, timestamp, [client session ID], padding length.
std::size_t main_header_size(bool from_server) {
  return 1 + 8 + (from_server ? 8 : 0) + 2;
}

const cipher_info& xchacha_info() {
  static const cipher_info* info = *find_cipher("xchacha20-ietf-poly1305");
  return *info;
}

}  // namespace

session_id random_session_id() {
  session_id id{};
  random_bytes(id);
  return id;
}

std::uint64_t session_key(const session_id& id) noexcept {
  return load_be64(id.data());
}

// --- packet_window ---------------------------------------------------------------------------

bool packet_window::bit(std::uint64_t id) const noexcept {
  return (bits_[(id / 64) % bits_.size()] >> (id % 64) & 1) != 0;
}

bool packet_window::check(std::uint64_t id) const noexcept {
  if (!any_ || id > highest_) return true;
  if (highest_ - id >= window_bits) return false;  // too old to tell: refused
  return !bit(id);
}

void packet_window::accept(std::uint64_t id) noexcept {
  if (!any_ || id > highest_) {
    // Clear the bits of the IDs skipped over (all of them after a jump of a whole window).
    std::uint64_t from = any_ ? highest_ + 1 : 0;
    if (!any_ || id - from >= window_bits) {
      bits_.fill(0);
    } else {
      for (std::uint64_t i = from; i < id; ++i)
        bits_[(i / 64) % bits_.size()] &= ~(std::uint64_t{1} << (i % 64));
    }
    bits_[(id / 64) % bits_.size()] &= ~(std::uint64_t{1} << (id % 64));
    highest_ = id;
    any_ = true;
  }
  bits_[(id / 64) % bits_.size()] |= std::uint64_t{1} << (id % 64);
}

// --- udp_codec -------------------------------------------------------------------------------

udp_codec::udp_codec(const master_key& psk, const user_table* users)
    : psk_(&psk), users_(users), xchacha_(psk.cipher().kind == aead_kind::chacha20_poly1305) {
  assert(psk.cipher().is_2022());
  if (xchacha_) {
    // SIP022 4.1: XChaCha20-Poly1305 under the PSK itself, a random nonce per packet.
    xchacha_seal_.emplace(xchacha_info(), aead_direction::seal);
    xchacha_seal_->set_key(psk.bytes());
    xchacha_open_.emplace(xchacha_info(), aead_direction::open);
    xchacha_open_->set_key(psk.bytes());
    users_ = nullptr;  // SIP023 is for the AES methods
    return;
  }
  // SIP023: with identity keys the separate header goes out under the first of them, and
  // each identity header under its own key; what comes back is under our (the user's) key.
  const auto& ids = psk.identities();
  header_out_ = std::make_unique<detail::aes_block>(
      ids.empty() ? psk.bytes() : bytes_view(ids.front().key), true);
  header_in_ = std::make_unique<detail::aes_block>(psk.bytes(), false);
  for (const auto& id : ids)
    identity_out_.emplace_back(id.key, true);
}

udp_codec::~udp_codec() = default;

std::size_t udp_codec::identity_bytes() const noexcept {
  return identity_out_.size() * identity_header_size;
}

std::size_t udp_codec::overhead(bool from_server) const noexcept {
  std::size_t front = xchacha_ ? xchacha_nonce_size + separate_header_size : separate_header_size;
  return front + (from_server ? 0 : identity_bytes()) + main_header_size(from_server) + tag_size;
}

std::size_t udp_codec::seal(own_session& from, const main_header& header, bytes_view payload,
                            mutable_bytes out) {
  const bool from_server = header.type == server_packet;
  std::size_t total = payload.size() + overhead(from_server);
  assert(out.size() >= total);
  std::uint8_t* separate = out.data() + (xchacha_ ? xchacha_nonce_size : 0);
  std::memcpy(separate, from.id.data(), from.id.size());
  store_be64(separate + 8, from.next_packet_id++);
  std::uint8_t* p = separate + separate_header_size;
  if (!from_server) {
    // SIP023 UDP: AES(iPSK, hash of the next key XOR the plaintext separate header).
    for (std::size_t i = 0; i < identity_out_.size(); ++i) {
      const auto& next = psk_->identities()[i].next_hash;
      for (std::size_t b = 0; b < identity_header_size; ++b)
        p[b] = next[b] ^ separate[b];
      identity_out_[i].apply(p);
      p += identity_header_size;
    }
  }
  std::uint8_t* body = p;
  *p++ = header.type;
  store_be64(p, header.timestamp);
  p += 8;
  if (from_server) {
    std::memcpy(p, header.client_session.data(), header.client_session.size());
    p += 8;
  }
  *p++ = 0;  // no padding
  *p++ = 0;
  std::memmove(p, payload.data(), payload.size());
  p += payload.size();
  bool ok = false;
  if (xchacha_) {
    random_bytes({out.data(), xchacha_nonce_size});
    bytes_view plain(separate, static_cast<std::size_t>(p - separate));
    ok = xchacha_seal_->seal({out.data(), xchacha_nonce_size}, {}, plain,
                             {separate, plain.size() + tag_size});
  } else {
    assert(from.sealer);
    bytes_view plain(body, static_cast<std::size_t>(p - body));
    ok = from.sealer->seal({separate + 4, 12}, {}, plain, {body, plain.size() + tag_size});
    header_out_->apply(separate);
  }
  if (!ok) std::abort();  // sealing valid input cannot fail
  return total;
}

result<packet_ids> udp_codec::open_header(mutable_bytes packet) {
  std::size_t front = xchacha_ ? xchacha_nonce_size + separate_header_size : separate_header_size;
  std::size_t identity = users_ != nullptr ? identity_header_size : 0;
  if (packet.size() < front + identity + main_header_size(false) + tag_size) {
    return errc::aead_short_packet;
  }
  std::uint8_t* separate = packet.data() + (xchacha_ ? xchacha_nonce_size : 0);
  if (xchacha_) {
    auto sealed = packet.subspan(xchacha_nonce_size);
    auto plain = sealed.first(sealed.size() - tag_size);
    if (!xchacha_open_->open(packet.first(xchacha_nonce_size), {}, sealed, plain)) {
      OPENSSL_cleanse(plain.data(), plain.size());
      return errc::aead_auth_failed;
    }
  } else {
    header_in_->apply(separate);
  }
  packet_ids ids;
  std::memcpy(ids.session.data(), separate, 8);
  ids.packet_id = load_be64(separate + 8);
  if (users_ != nullptr) {
    // SIP023: one block after the separate header names the user, one lookup.
    std::uint8_t* block = separate + separate_header_size;
    header_in_->apply(block);
    psk_hash h{};
    for (std::size_t b = 0; b < h.size(); ++b)
      h[b] = block[b] ^ separate[b];
    ids.sender = users_->find(h);
    if (ids.sender == nullptr) return errc::sip022_unknown_user;
  }
  return ids;
}

result<message> udp_codec::open(mutable_bytes packet, const packet_ids& ids,
                                std::uint8_t expected_type, aead_cipher* session_aead,
                                std::uint64_t now) {
  mutable_bytes body;
  if (xchacha_) {
    // Opened by open_header already.
    body = packet.subspan(xchacha_nonce_size + separate_header_size);
    body = body.first(body.size() - tag_size);
  } else {
    assert(session_aead != nullptr);
    std::size_t identity = ids.sender != nullptr ? identity_header_size : 0;
    auto sealed = packet.subspan(separate_header_size + identity);
    body = sealed.first(sealed.size() - tag_size);
    if (!session_aead->open({packet.data() + 4, 12}, {}, sealed, body)) {
      OPENSSL_cleanse(body.data(), body.size());
      return errc::aead_auth_failed;
    }
  }
  const bool from_server = expected_type == server_packet;
  if (body.size() < main_header_size(from_server)) return errc::sip022_truncated_header;
  // A packet of the other direction (ours reflected back) is refused by its type.
  if (body[0] != expected_type) return errc::sip022_bad_type;
  message m;
  m.timestamp = load_be64(body.data() + 1);
  if (!timestamp_fresh(m.timestamp, now)) return errc::sip022_stale_timestamp;
  std::size_t at = 9;
  if (from_server) {
    std::memcpy(m.client_session.data(), body.data() + at, 8);
    at += 8;
  }
  std::size_t padding = load_be16(body.data() + at);
  at += 2;
  if (body.size() - at < padding) return errc::sip022_truncated_header;
  m.payload = body.subspan(at + padding);
  auto address = decode_address(m.payload);
  if (address.is_error()) return address.error;
  if (!address.is_done()) return errc::sip022_truncated_header;
  return m;
}

// --- sessions --------------------------------------------------------------------------------

void set_session_key(aead_cipher& c, const master_key& psk, const session_id& session) {
  std::array<std::uint8_t, max_key_size> subkey{};
  auto sub = mutable_bytes(subkey).first(psk.cipher().key_size);
  derive_subkey_2022(psk.bytes(), session, sub);
  c.set_key(sub);
  OPENSSL_cleanse(subkey.data(), subkey.size());
}

peer_session::peer_session(const udp_codec& codec, const session_id& peer) : id(peer) {
  if (!codec.per_session_keys()) return;
  opener.emplace(codec.psk().cipher(), aead_direction::open);
  set_session_key(*opener, codec.psk(), id);
}

own_session::own_session(const udp_codec& codec) : id(random_session_id()) {
  if (!codec.per_session_keys()) return;
  sealer.emplace(codec.psk().cipher(), aead_direction::seal);
  set_session_key(*sealer, codec.psk(), id);
}

std::size_t client_session::seal(udp_codec& codec, bytes_view payload, mutable_bytes out) {
  return codec.seal(own_, {client_packet, unix_now(), {}}, payload, out);
}

result<mutable_bytes> client_session::open(udp_codec& codec, mutable_bytes packet,
                                           steady_clock_point now, std::uint64_t unix_time) {
  auto ids = codec.open_header(packet);
  if (!ids) return ids.error();
  server_side* known = nullptr;
  if (current_ && current_->session.id == ids->session) known = &*current_;
  if (previous_ && previous_->session.id == ids->session) known = &*previous_;
  std::optional<server_side> fresh;
  if (known == nullptr) {
    // A third server session while the older of two was heard from within the minute: not
    // the restart of a server, so refused (SIP022 3.2.4's "one old and one current").
    if (previous_ && now - previous_->last_heard < min_session_life) {
      return errc::sip022_bad_session;
    }
    fresh.emplace(server_side{peer_session(codec, ids->session), now});
    known = &*fresh;
  }
  if (!known->session.window.check(ids->packet_id)) return errc::sip022_replayed_packet;
  auto* opener = known->session.opener ? &*known->session.opener : nullptr;
  auto m = codec.open(packet, *ids, server_packet, opener, unix_time);
  if (!m) return m.error();
  if (m->client_session != own_.id) return errc::sip022_bad_session;
  // Only now, authenticated and valid, does the packet count (SIP022 3.2.4).
  known->session.window.accept(ids->packet_id);
  known->last_heard = now;
  if (fresh) {
    if (current_) previous_ = std::move(current_);
    current_ = std::move(fresh);
  }
  return m->payload;
}

server_session::server_session(const udp_codec& codec, const packet_ids& ids)
    : user_(ids.sender != nullptr ? std::make_unique<const user>(*ids.sender) : nullptr),
      user_codec_(user_ != nullptr ? std::make_unique<udp_codec>(user_->key) : nullptr),
      client_(user_codec_ ? *user_codec_ : codec, ids.session) {}

server_session::~server_session() = default;

result<message> server_session::open(udp_codec& codec, mutable_bytes packet, const packet_ids& ids,
                                     std::uint64_t now) {
  // A packet naming this session under another user's identity is not this client's.
  if ((ids.sender == nullptr) != (user_ == nullptr) ||
      (user_ != nullptr && ids.sender->hash != user_->hash)) {
    return errc::sip022_bad_session;
  }
  if (!client_.window.check(ids.packet_id)) return errc::sip022_replayed_packet;
  auto* opener = client_.opener ? &*client_.opener : nullptr;
  auto m = codec.open(packet, ids, client_packet, opener, now);
  if (!m) return m.error();
  client_.window.accept(ids.packet_id);
  return m;
}

std::size_t server_session::seal(udp_codec& codec, bytes_view payload, mutable_bytes out) {
  auto& answers = user_codec_ ? *user_codec_ : codec;
  if (!own_) {
    // Made at the first answer, not with the session: a packet that fails to authenticate
    // then costs one key derivation, not two.
    own_.emplace(answers);
    // SIP022 3.2.2: a server session ID is never the client's.
    while (own_->id == client_.id)
      own_.emplace(answers);
  }
  return answers.seal(*own_, {server_packet, unix_now(), client_.id}, payload, out);
}

}  // namespace ss::sip022
