#pragma once
/// \file The Shadowsocks AEAD TCP stream (SIP004, shadowsocks-org aead.md):
///
///     +--------+-------------------+------------+-------------------+------------+---
///     | salt   | encrypted length  | length tag | encrypted payload | payload tag | ...
///     +--------+-------------------+------------+-------------------+------------+---
///     | 16..32 |        2          |     16     |   1..0x3FFF       |     16      |
///
/// The session subkey is HKDF-SHA1(master key, salt, "ss-subkey"); the nonce counts from zero
/// and is incremented after every seal/open, so each chunk uses two nonces. The length is
/// big-endian and its two high bits are reserved (zero).
///
/// The 2022 edition (SIP022 3.1) keeps the length/payload chunks (up to 0xFFFF bytes each,
/// subkeys from BLAKE3) and adds header chunks, each one AEAD seal without a length chunk:
///
///     request:  salt | fixed header (11) | variable header | length | payload | ...
///     response: salt | fixed header (11 + salt, its length field the first length) | payload
///               | length | payload | ...
///
/// (the headers' contents: codec/sip022_header.hpp).

#include <cstdint>
#include <vector>

#include "shadowsocks/codec/address.hpp"
#include "shadowsocks/codec/buffer_pool.hpp"
#include "shadowsocks/codec/bytes.hpp"
#include "shadowsocks/crypto/aead.hpp"
#include "shadowsocks/crypto/cipher.hpp"
#include "shadowsocks/crypto/identity.hpp"

namespace ss {

/// Largest payload of one chunk.
inline constexpr std::size_t max_payload_size = 0x3FFF;
/// Largest payload of one chunk in the 2022 edition.
inline constexpr std::size_t max_payload_size_2022 = 0xFFFF;
/// Where the 2022 headers' timestamps come from: Unix seconds.
using unix_clock = std::uint64_t (*)();
/// The system clock in Unix seconds (the default `unix_clock`).
std::uint64_t unix_now() noexcept;
/// Bytes a chunk adds to its payload: length (2) and two tags.
inline constexpr std::size_t chunk_overhead = 2 + 2 * tag_size;
/// Largest encoded chunk.
inline constexpr std::size_t max_chunk_size = max_payload_size + chunk_overhead;

/// The fewest random bytes a request salt keeps after a client's `prefix` (Outline's salt
/// prefix): 12 bytes, 96 bits. Salts must not repeat under one key (a repeat reuses the subkey
/// and its nonces); with 96 random bits, 2^32 connections under one key collide with
/// probability below 2^-33, and a fresh salt matches one of the replay filter's two million
/// remembered salts with probability below 2^-75 (docs/security.md).
inline constexpr std::size_t min_random_salt = 12;
/// The longest prefix a salt of `cipher` takes: 4 bytes for 16-byte salts, 20 for 32-byte.
constexpr std::size_t max_salt_prefix(const cipher_info& cipher) noexcept {
  return cipher.salt_size - min_random_salt;
}

/// Encrypts one direction of a TCP stream. Not thread-safe; one per connection direction.
class aead_stream_encoder {
 public:
  /// An encoder with a fresh random salt.
  explicit aead_stream_encoder(const master_key& key);
  /// An encoder with the given salt (tests and vectors only: a salt must never repeat).
  aead_stream_encoder(const master_key& key, bytes_view salt);
  /// A client's request encoder whose fresh salt starts with `prefix` (at most
  /// `max_salt_prefix` bytes, checked by the configuration), the rest random.
  static aead_stream_encoder with_prefix(const master_key& key, bytes_view prefix);

  /// The salt, sent in front of the first output.
  bytes_view salt() const noexcept { return {salt_.data(), salt_size_}; }
  /// True once the salt has been emitted.
  bool salt_sent() const noexcept { return salt_sent_; }
  /// Largest payload of one chunk: 0x3FFF, or 0xFFFF for the 2022 methods.
  std::size_t max_payload() const noexcept { return max_payload_; }
  /// Makes this a 2022 response stream answering the request whose salt is `request_salt`:
  /// its first chunk then carries the response header (type 1, the time of that seal, the
  /// request's salt). Call before the first seal; nothing changes for the 2017 methods.
  void answer(bytes_view request_salt);
  /// Replaces the clock of the 2022 headers (tests).
  void set_clock(unix_clock clock) noexcept { clock_ = clock; }

  /// The start of a request stream, appended to `out` for one write: salt and address header
  /// with `payload`. 2017: the address header and payload as ordinary chunks. 2022: an identity
  /// header per identity key of the key (SIP023), then the fixed and variable header chunks,
  /// with 1 to 900 bytes of random padding when `payload` is empty (SIP022 3.1.4). Must come
  /// before any other seal.
  void seal_request(const target_address& target, bytes_view payload,
                    std::vector<std::uint8_t>& out);

  /// Output size for `n` plaintext bytes (including the salt if it is still to be sent, and a
  /// pending response header).
  std::size_t output_size(std::size_t n) const noexcept;
  /// Seals `in` as ceil(n / max_payload()) chunks into `out`, which must hold
  /// `output_size(in.size())` bytes; the first call also writes the salt. Empty input writes
  /// only a pending salt. Returns the bytes written.
  std::size_t seal(bytes_view in, mutable_bytes out);
  /// Appends the sealed form of `in` to `out`.
  void seal(bytes_view in, std::vector<std::uint8_t>& out);

 private:
  void seal_chunk(bytes_view in, std::uint8_t* out);
  std::size_t seal_header(bytes_view in, std::uint8_t* out);
  std::size_t seal_response_header(bytes_view first, std::uint8_t* out);
  const master_key* key_;
  aead_cipher cipher_;
  nonce_counter nonce_;
  std::array<std::uint8_t, max_salt_size> salt_{};
  std::size_t salt_size_;
  std::size_t max_payload_;
  // 2022 response streams: the request's salt, until the header that carries it is sealed.
  std::array<std::uint8_t, max_salt_size> request_salt_{};
  bool response_header_pending_ = false;
  bool salt_sent_ = false;
  unix_clock clock_ = unix_now;
};

/// Decrypts one direction of a TCP stream, incrementally: salt -> length -> payload.
/// Ciphertext goes in through `prepare`/`commit` (read a socket straight into it) or `feed`;
/// plaintext comes out of `next`, decrypted in place. Never yields unauthenticated bytes; after
/// an error every call answers the same error.
///
/// For the 2022 methods the decoder also opens and checks the fixed-length header: its type
/// (`sip022_bad_type`), its timestamp (`sip022_stale_timestamp`) and, in a response, the
/// request salt (`sip022_wrong_salt`). In a request stream the first payload `next` yields is
/// the variable-length header chunk (sip022::decode_request_variable reads it).
class aead_stream_decoder {
 public:
  /// A decoder for streams under `key`: the request stream of the 2022 methods, either
  /// direction of the 2017 ones. Its buffer (one pooled block, 64 KiB) is taken by the first
  /// `prepare` and given back by `release` once everything in it has been decoded.
  explicit aead_stream_decoder(const master_key& key);
  /// A decoder of the response to the request whose salt is `request_salt` (checked by the
  /// 2022 methods, ignored by the 2017 ones).
  aead_stream_decoder(const master_key& key, bytes_view request_salt);
  /// A decoder of 2022 request streams to a multi-user server (SIP023): `key` is the server's
  /// identity key; the identity header after the salt names the user whose key decodes the
  /// rest (`sip022_unknown_user` when none does). `users` must outlive the decoder.
  aead_stream_decoder(const master_key& key, const sip022::user_table* users);
  /// The user the identity header named (multi-user servers, once past it), else null.
  const sip022::user* user() const noexcept { return user_; }
  /// Replaces the clock the 2022 timestamps are checked against (tests).
  void set_clock(unix_clock clock) noexcept { clock_ = clock; }

  /// Free space to receive ciphertext into; never empty. Invalidates spans from `next`.
  mutable_bytes prepare();
  /// Gives the buffer back to the pool if no undecoded byte is in it (call before waiting for
  /// more data, so that an idle connection holds no buffer). Invalidates spans from `next`.
  void release() noexcept;
  /// Marks `n` bytes of the span from `prepare` as received.
  void commit(std::size_t n);
  /// Copies `in` in (calls prepare/commit as needed) and decodes nothing yet. Spans from
  /// `next` are invalidated. The buffer grows only when fed more than one buffer without
  /// draining `next`.
  void feed(bytes_view in);

  /// The next authenticated payload: `done` with the plaintext (valid until the next call of
  /// any member), `need_more`, or `error` (`aead_auth_failed`, `aead_bad_length`).
  decoded<bytes_view> next();

  /// True once the whole salt has arrived.
  bool has_salt() const noexcept { return state_ != state::salt; }
  /// The salt (valid once `has_salt()`).
  bytes_view salt() const noexcept { return {salt_.data(), salt_size_}; }
  /// Number of chunks authenticated so far (the replay filter records a salt at the first).
  std::uint64_t chunks() const noexcept { return chunks_; }
  /// Ciphertext bytes buffered and not yet decoded.
  std::size_t buffered() const noexcept { return end_ - begin_; }

 private:
  enum class state : std::uint8_t { salt, identity, fixed_header, length, payload, failed };
  decoded<bytes_view> fail(errc e);
  errc open_fixed_header(std::uint8_t* p, std::size_t size);
  std::size_t fixed_header_size() const noexcept;

  const master_key* key_;
  aead_cipher cipher_;
  nonce_counter nonce_;
  pooled_block block_;               // the usual storage
  std::vector<std::uint8_t> grown_;  // only when fed more than a block without draining
  std::uint8_t* buf_ = nullptr;      // block_ or grown_, or none
  std::size_t capacity_ = 0;
  std::size_t begin_ = 0;  // first undecoded byte
  std::size_t end_ = 0;    // one past the last received byte
  std::array<std::uint8_t, max_salt_size> salt_{};
  std::size_t salt_size_;
  std::size_t payload_size_ = 0;  // of the chunk whose length was read
  std::uint64_t chunks_ = 0;
  // 2022 response streams: the salt of the request they answer.
  std::array<std::uint8_t, max_salt_size> request_salt_{};
  bool response_ = false;
  const sip022::user_table* users_ = nullptr;  // multi-user servers
  const sip022::user* user_ = nullptr;
  state state_ = state::salt;
  errc error_ = errc::ok;
  unix_clock clock_ = unix_now;
};

}  // namespace ss
