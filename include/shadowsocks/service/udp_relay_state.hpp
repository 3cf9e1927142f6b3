#pragma once
/// \file What a UDP relay socket of either side (ss-server's, ss-tunnel's, ss-redir's) shares
/// with its tasks, and the loop that forgets silent associations.

#include <spdlog/spdlog.h>

#include <algorithm>
#include <memory>

#include "shadowsocks/codec/address.hpp"
#include "shadowsocks/runtime/nat_table.hpp"
#include "shadowsocks/service/context.hpp"

namespace ss {

/// Room kept in front of received data so an address header (at most 259 bytes) or the SOCKS5
/// UDP header can be put in front of it without copying.
inline constexpr std::size_t headroom = max_address_size + 3;

/// Puts the wire encoding of `t` just in front of `data` (which has `headroom` before it) and
/// returns the span covering both.
inline mutable_bytes prepend_address(const target_address& t, std::uint8_t* data, std::size_t n) {
  std::uint8_t* start = data - t.encoded_size();
  encode_address(t, {start, t.encoded_size()});
  return {start, t.encoded_size() + n};
}

/// The socket, the context, and the association table (client addresses, or senders, to their
/// entries) of one UDP relay socket. Lives on the first worker's event loop: no lock.
template <class Entry, class Key = udp::endpoint, class Hash = std::hash<Key>>
struct udp_relay_state {
  /// For `s` under `c`, with a table sized by `c`; entries live at least `min_life`.
  udp_relay_state(std::shared_ptr<udp::socket> s, std::shared_ptr<service_context> c,
                  steady_clock::duration min_life = {})
      : sock(std::move(s)),
        ctx(std::move(c)),
        table(ctx->cfg.udp_max_associations,
              std::max<steady_clock::duration>(ctx->cfg.udp_timeout, min_life)) {}
  std::shared_ptr<udp::socket> sock;     ///< The listening socket.
  std::shared_ptr<service_context> ctx;  ///< The context of the newest datagram.
  nat_table<Key, Entry, Hash> table;     ///< Associations.
  int resolving = 0;                     ///< DNS look-ups in flight (ss-server).
  std::size_t counted = 0;               ///< What the process-wide gauge has of `table`.
  /// Brings the process's count of UDP associations up to date with `table`.
  void note_size() {
    auto now = table.size();
    ctx->state->udp_associations.fetch_add(
        static_cast<std::int64_t>(now) - static_cast<std::int64_t>(counted),
        std::memory_order_relaxed);
    counted = now;
  }
};

/// Forgets silent associations (and what `State::expire_more`, if it has one, forgets) every
/// second or half the UDP timeout, until the socket closes; then all of them.
template <class State>
awaitable<void> expire_loop(std::shared_ptr<State> st) {
  auto period = std::min<steady_clock::duration>(1s, st->table.timeout() / 2);
  net::steady_timer t(st->sock->get_executor());
  while (st->sock->is_open()) {
    t.expires_after(period);
    co_await t.async_wait(use_nothrow);
    if (auto n = st->table.expire()) spdlog::debug("{} UDP association(s) expired", n);
    // State that keeps more than the table (ss-redir's answering sockets) expires it here.
    if constexpr (requires { st->expire_more(); }) st->expire_more();
    st->note_size();
  }
  st->table.clear();
  st->note_size();
}

}  // namespace ss
