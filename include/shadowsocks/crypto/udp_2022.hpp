#pragma once
/// \file The 2022 edition's UDP packets and sessions (SIP022 3.2 and 4.1).
///
/// AES methods:
///
///     +---------------------------------+---------------------------------------------+
///     | separate header, AES-ECB (PSK)  | AEAD(session subkey, nonce = header[4..16]) |
///     | session ID (8) | packet ID (8)  | main header | address | data | tag (16)    |
///     +---------------------------------+---------------------------------------------+
///
/// 2022-blake3-chacha20-poly1305: XChaCha20-Poly1305 under the PSK itself:
///
///     +-----------+----------------------------------------------------------------------+
///     | nonce (24)| XChaCha20-Poly1305(PSK): session ID | packet ID | main header | ...  |
///     +-----------+----------------------------------------------------------------------+
///
/// Main header: type (0 client, 1 server), timestamp (u64 BE), [client session ID (8), in
/// server packets], padding length (u16 BE), padding, then ATYP + address + port and the data.
/// The session subkey is BLAKE3 derive_key over PSK || session ID.

#include <array>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include "shadowsocks/codec/bytes.hpp"
#include "shadowsocks/codec/errc.hpp"
#include "shadowsocks/crypto/aead.hpp"
#include "shadowsocks/crypto/aead_stream.hpp"
#include "shadowsocks/crypto/cipher.hpp"
#include "shadowsocks/crypto/identity.hpp"

namespace ss::detail {
class aes_block;
}

namespace ss::sip022 {

/// A point on the monotonic clock (how long ago a server session was heard from).
using steady_clock_point = std::chrono::steady_clock::time_point;
/// The monotonic clock's now.
inline steady_clock_point steady_clock_now() noexcept {
  return std::chrono::steady_clock::now();
}
/// A UDP session ID.
using session_id = std::array<std::uint8_t, 8>;
/// The type byte of a client-to-server packet.
inline constexpr std::uint8_t client_packet = 0;
/// The type byte of a server-to-client packet.
inline constexpr std::uint8_t server_packet = 1;
/// Size of the separate header (session ID and packet ID).
inline constexpr std::size_t separate_header_size = 16;
/// How long a session is kept at least (SIP022 3.2.4), and how long a client keeps refusing a
/// third server session while the old one is active.
inline constexpr std::chrono::seconds min_session_life{60};

/// A fresh random session ID.
session_id random_session_id();
/// The session ID as a number, for hash tables.
std::uint64_t session_key(const session_id& id) noexcept;

/// The sliding-window filter of packet IDs of one session (SIP022 3.2.4; the window of
/// RFC 6479, as WireGuard keeps it): IDs seen before or more than `window_bits` behind the
/// highest are refused. `check` never changes the state; `accept` is called only once the
/// packet has been authenticated and its header validated.
class packet_window {
 public:
  /// Packet IDs this far behind the highest one are refused as too old.
  static constexpr std::uint64_t window_bits = 2048;
  /// True when `id` is new and not too old.
  bool check(std::uint64_t id) const noexcept;
  /// Records `id` (after `check` and validation).
  void accept(std::uint64_t id) noexcept;

 private:
  bool bit(std::uint64_t id) const noexcept;
  std::array<std::uint64_t, window_bits / 64> bits_{};
  std::uint64_t highest_ = 0;
  bool any_ = false;
};

/// What the first step of opening a packet tells: the sender's session and packet IDs and, on
/// a multi-user server, the user its identity header named.
struct packet_ids {
  session_id session{};          ///< The sender's session.
  std::uint64_t packet_id = 0;   ///< The sender's packet counter.
  const user* sender = nullptr;  ///< Multi-user servers: the user (SIP023).
};

/// The main header of an opened packet (its session and packet IDs are the `packet_ids` it was
/// opened with); `payload` (address + data) points into the packet.
struct message {
  std::uint64_t timestamp = 0;  ///< Unix seconds.
  session_id client_session{};  ///< Server packets: the client session they answer.
  mutable_bytes payload;        ///< ATYP + address + port + data.
};

/// The main header of a packet to seal (SIP022 3.2.1): what the packet is, when it was sent
/// and, in a server packet, the client session it answers.
struct main_header {
  std::uint8_t type = 0;        ///< `client_packet` or `server_packet`.
  std::uint64_t timestamp = 0;  ///< Unix seconds.
  session_id client_session{};  ///< Server packets only.
};

struct own_session;

/// What every session of one PSK shares: the separate-header block ciphers (AES methods) or
/// the XChaCha20-Poly1305 contexts (ChaCha), and the identity headers (SIP023). Not
/// thread-safe: one per socket's thread.
class udp_codec {
 public:
  /// For `psk` (a 2022 method's key, which must outlive the codec). A client key with identity
  /// keys puts identity headers in what it seals; a server with `users` (which must outlive
  /// the codec) reads one in every packet and finds its user.
  explicit udp_codec(const master_key& psk, const user_table* users = nullptr);
  ~udp_codec();
  udp_codec(const udp_codec&) = delete;
  udp_codec& operator=(const udp_codec&) = delete;

  /// True for the AES methods (separate header, per-session subkeys).
  bool per_session_keys() const noexcept { return !xchacha_; }
  /// The PSK.
  const master_key& psk() const noexcept { return *psk_; }
  /// Bytes a packet adds to a payload of address + data, without padding: the separate header
  /// or nonce, identity headers, the main header, the tag.
  std::size_t overhead(bool from_server) const noexcept;

  /// Seals the next packet of session `from` (its ID, its next packet ID, which it counts,
  /// and for AES methods its sealer) with `header` and `payload` into `out`, which holds
  /// `payload.size() + overhead(...)`. Returns the bytes written.
  std::size_t seal(own_session& from, const main_header& header, bytes_view payload,
                   mutable_bytes out);

  /// First step of opening `packet` in place: the session and packet IDs. AES methods: the
  /// separate header decrypted (not authenticated until `open`), and on a multi-user server
  /// the identity header's user (`sip022_unknown_user` if none). ChaCha: the whole packet
  /// opened and authenticated here (`aead_auth_failed` otherwise).
  result<packet_ids> open_header(mutable_bytes packet);
  /// Second step: authenticates the body with `session_aead` (AES methods: the opener keyed
  /// for the session `open_header` gave) and checks the main header: the `expected_type`,
  /// the timestamp (`sip022_stale_timestamp`), the padding and the address being there.
  result<message> open(mutable_bytes packet, const packet_ids& ids, std::uint8_t expected_type,
                       aead_cipher* session_aead, std::uint64_t now);

 private:
  std::size_t identity_bytes() const noexcept;
  const master_key* psk_;
  const user_table* users_;
  bool xchacha_;
  std::unique_ptr<detail::aes_block> header_out_;  // outgoing separate headers
  std::unique_ptr<detail::aes_block> header_in_;   // incoming separate and identity headers
  std::vector<detail::aes_block> identity_out_;    // one per identity key (SIP023 clients)
  std::optional<aead_cipher> xchacha_seal_;
  std::optional<aead_cipher> xchacha_open_;
};

/// Keys `c` with the subkey of `session` under the PSK (SIP022 3.2.1).
void set_session_key(aead_cipher& c, const master_key& psk, const session_id& session);

/// One session as its receiving end sees it: the peer's session ID, its packet window and
/// (AES methods) the opener keyed for it.
struct peer_session {
  /// For `id` under `codec`'s PSK.
  peer_session(const udp_codec& codec, const session_id& id);
  session_id id;                      ///< The peer's session ID.
  packet_window window;               ///< Its packet IDs.
  std::optional<aead_cipher> opener;  ///< AES methods only.
};

/// One session as its sending end sees it: our session ID, our packet counter and (AES
/// methods) the sealer keyed for it.
struct own_session {
  /// A fresh random session under `codec`'s PSK.
  explicit own_session(const udp_codec& codec);
  session_id id;                      ///< Our session ID.
  std::uint64_t next_packet_id = 0;   ///< The next packet's ID.
  std::optional<aead_cipher> sealer;  ///< AES methods only.
};

/// A client session (ss-local, ss-tunnel): seals requests, opens answers. Follows at most
/// two server sessions (SIP022 3.2.4: the current one and the one before, so that a server
/// restart does not drop the association), and refuses a third while the older one was heard
/// from in the last minute.
class client_session {
 public:
  /// A fresh session under `codec`'s PSK.
  explicit client_session(const udp_codec& codec) : own_(codec) {}
  /// Seals `payload` (address + data) into `out`; returns the bytes written.
  std::size_t seal(udp_codec& codec, bytes_view payload, mutable_bytes out);
  /// Opens a server packet in place: the address + data it carries, or why it was dropped.
  result<mutable_bytes> open(udp_codec& codec, mutable_bytes packet,
                             steady_clock_point now = steady_clock_now(),
                             std::uint64_t unix_time = unix_now());
  /// Our session ID.
  const session_id& id() const noexcept { return own_.id; }

 private:
  struct server_side {
    peer_session session;
    steady_clock_point last_heard;
  };
  own_session own_;
  std::optional<server_side> current_;
  std::optional<server_side> previous_;
};

/// A client session as the server keeps it: opens its packets (window, timestamp) and seals
/// the answers under a server session of our own. On a multi-user server, both directions
/// are under the user's key (the answers carry no identity header).
class server_session {
 public:
  /// For the client session (and user) of `ids` under `codec`'s PSK.
  server_session(const udp_codec& codec, const packet_ids& ids);
  ~server_session();
  /// Opens a packet of this client session (`ids` from `open_header`).
  result<message> open(udp_codec& codec, mutable_bytes packet, const packet_ids& ids,
                       std::uint64_t now = unix_now());
  /// Seals an answer (address + data) into `out`; returns the bytes written.
  std::size_t seal(udp_codec& codec, bytes_view payload, mutable_bytes out);
  /// The client's session ID.
  const session_id& client_id() const noexcept { return client_.id; }
  /// The user (multi-user servers), else null.
  const user* sender() const noexcept { return user_.get(); }

 private:
  // Multi-user: a copy of the user (a reload may replace the table while the session lives)
  // and a codec under the user's key for the answers.
  std::unique_ptr<const user> user_;
  std::unique_ptr<udp_codec> user_codec_;
  peer_session client_;
  std::optional<own_session> own_;  // made at the first answer
};

}  // namespace ss::sip022
