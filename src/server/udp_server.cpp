// ss-server's UDP relay: one association per client address (SIP004 packets) or per client
// session (SIP022 3.2.4: routed by session ID, answered at the last address that sent an
// authentic packet), an outbound socket per address family, answers sealed back with their
// source address in front. Every buffer is one datagram, allocated once per socket; nothing is
// queued: a datagram that cannot go out now is dropped, as UDP allows.

#include <spdlog/spdlog.h>

#include <algorithm>

#include "shadowsocks/crypto/udp_2022.hpp"
#include "shadowsocks/crypto/udp_packet.hpp"
#include "shadowsocks/runtime/resolve.hpp"
#include "shadowsocks/server/fronts.hpp"
#include "shadowsocks/service/udp_relay_state.hpp"

namespace ss {

namespace {

// Concurrent DNS look-ups the UDP relay of one server may have in flight; beyond, drop.
constexpr int max_pending_resolves = 64;

// Room a sealed answer needs beyond its payload (2017: salt and tag; 2022: separate header or
// nonce, main header and tag).
constexpr std::size_t max_udp_overhead = 128;

// What an association is found by: the client's address (2017) or its session ID (2022).
struct association_key {
  udp::endpoint client;
  std::uint64_t session = 0;
  bool operator==(const association_key&) const = default;
};
struct association_hash {
  std::size_t operator()(const association_key& k) const noexcept {
    return std::hash<udp::endpoint>()(k.client) ^ std::hash<std::uint64_t>()(k.session);
  }
};

// One association: an outbound socket per address family, opened on first use.
struct client_entry {
  association_key key;
  udp::endpoint client;  // where answers go: for 2022, the last address of an authentic packet
  std::unique_ptr<sip022::server_session> session;  // 2022 methods only
  // A port with several keys: the client's, and the ring that holds it (else the port's key).
  const master_key* user_key = nullptr;
  std::shared_ptr<const key_ring> ring;
  std::shared_ptr<traffic_counters> traffic;  // its user's counters (ss-server accounting)
  std::optional<udp::socket> v4, v6;
  std::string cached_host;  // the last domain target and what it resolved to
  std::uint16_t cached_port = 0;
  udp::endpoint cached_endpoint;
  void close() {
    boost::system::error_code ignored;
    if (v4) v4->close(ignored);
    if (v6) v6->close(ignored);
  }
};

using udp_server_state = udp_relay_state<client_entry, association_key, association_hash>;

// Answers from targets back to the client, each sealed with its source address in front.
awaitable<void> reply_loop(std::shared_ptr<udp_server_state> st, std::shared_ptr<client_entry> e,
                           udp::socket& out) {
  // The key of the context the association was made under (kept alive here: a reload that
  // changes the key drops the association, which ends this loop).
  auto ctx = st->ctx;
  const master_key* key = e->user_key != nullptr ? e->user_key : ctx->cfg.key.get();
  auto holder = e->ring;  // keeps `key` alive while the sealer uses it
  udp_packet_cipher sealer(*key);
  std::unique_ptr<sip022::udp_codec> codec;
  if (e->session) codec = std::make_unique<sip022::udp_codec>(*ctx->cfg.key);
  std::vector<std::uint8_t> buf(headroom + datagram_buffer);
  std::vector<std::uint8_t> sealed(headroom + datagram_buffer + max_udp_overhead);
  for (;;) {
    udp::endpoint from;
    auto [ec, n] = co_await receive_datagram(out, {buf.data() + headroom, datagram_buffer}, from);
    if (ec == net::error::operation_aborted || !out.is_open()) co_return;
    if (ec) continue;
    st->table.touch(e->key);
    auto payload = prepend_address(to_target(from), buf.data() + headroom, n);
    std::size_t m = 0;
    if (e->session) {
      m = e->session->seal(*codec, payload, mutable_bytes(sealed));
    } else {
      if (e->user_key != nullptr && e->user_key != key) {
        // Another key of the port now (the client changed it, or a reload re-made the ring).
        key = e->user_key;
        holder = e->ring;
        sealer = udp_packet_cipher(*key);
      }
      m = sealer.seal(payload, mutable_bytes(sealed));
      ctx->state->replay.insert({sealed.data(), sealer.overhead() - tag_size});
    }
    send_now(*st->sock, {sealed.data(), m}, e->client, "to the client");
    if (e->traffic) {
      e->traffic->add(udp_packets_down, 1);
      e->traffic->add(udp_bytes_down, n);
    }
  }
}

void send_to_target(const std::shared_ptr<udp_server_state>& st,
                    const std::shared_ptr<client_entry>& e, udp::endpoint target, bytes_view data) {
  target = udp::endpoint(plain_address(target.address()), target.port());
  // A name's address may be in the ACL's [outbound_block_list] too.
  if (const auto& list = st->ctx->cfg.access_list;
      list && list->outbound_blocked(to_target(target))) {
    spdlog::debug("UDP datagram to {} refused by the ACL's [outbound_block_list]",
                  to_string(target));
    return;
  }
  if (const char* why = outbound_refusal(target.address(), st->ctx->cfg.outbound_allow_private)) {
    std::uint64_t suppressed = 0;
    if (st->ctx->state->refused_targets.allow(suppressed)) {
      spdlog::warn("UDP datagram to {} refused: {} (outbound_allow_private allows it)",
                   target.address().to_string(), why);
    }
    return;
  }
  auto& slot = target.address().is_v4() ? e->v4 : e->v6;
  if (!slot) {
    slot.emplace(st->sock->get_executor());
    boost::system::error_code ec;
    slot->open(target.protocol(), ec);
    if (ec) {
      spdlog::debug("UDP socket for {} failed: {}", to_string(udp::endpoint(target.address(), 0)),
                    ec.message());
      slot.reset();
      return;
    }
    net::co_spawn(st->sock->get_executor(), reply_loop(st, e, *slot), log_exception);
  }
  send_now(*slot, data, target, "to the target");
}

awaitable<void> resolve_and_send(std::shared_ptr<udp_server_state> st,
                                 std::shared_ptr<client_entry> e, target_address target,
                                 std::vector<std::uint8_t> data) {
  const auto& c = st->ctx->cfg;
  auto [ec, endpoints] =
      co_await resolve_within(target.name(), target.port(), c.ipv6_first, c.timeout, c.nameserver);
  --st->resolving;
  if (ec || endpoints.empty()) {
    spdlog::debug("UDP target {} does not resolve", target);
    co_return;
  }
  auto ep = endpoints.front();
  e->cached_host = target.name();
  e->cached_port = target.port();
  e->cached_endpoint = udp::endpoint(ep.address(), ep.port());
  send_to_target(st, e, e->cached_endpoint, data);
}

// A datagram dropped before its user was known, counted for the port.
void refused(const udp_server_state& st, failure_field why) {
  if (st.ctx->accounting) st.ctx->accounting->failures->add(why, 1);
}

// A datagram of `e`'s user toward its target: counted for the user (whose counters the
// association keeps, for the answers too).
void count_up(const udp_server_state& st, client_entry& e, std::optional<std::size_t> key_index,
              const sip022::user* user, std::size_t bytes) {
  if (!st.ctx->accounting) return;
  const auto& counters = st.ctx->accounting->of(key_index, user);
  if (!counters) return;
  if (e.traffic != counters) e.traffic = counters;
  counters->add(udp_packets_up, 1);
  counters->add(udp_bytes_up, bytes);
}

// The association of `client`, made now if it has none (2017).
std::shared_ptr<client_entry> association_of(udp_server_state& st, const udp::endpoint& client) {
  association_key key{client, 0};
  auto e = st.table.find(key);
  if (e) return e;
  e = std::make_shared<client_entry>();
  e->key = key;
  e->client = client;
  if (st.table.insert(key, e) > 0) {
    spdlog::debug("UDP association table full ({}): the least recently used one is dropped",
                  st.ctx->cfg.udp_max_associations);
  }
  st.note_size();
  spdlog::debug("UDP association for {}", to_string(client));
  return e;
}

// Sends `data` toward `target` for the association `e`: at once to an IP address or a name
// resolved before, else after a look-up (while not too many are in flight).
void dispatch(const std::shared_ptr<udp_server_state>& st, const std::shared_ptr<client_entry>& e,
              const target_address& target, bytes_view data) {
  if (const auto& list = st->ctx->cfg.access_list; list && list->outbound_blocked(target)) {
    spdlog::debug("UDP datagram to {} refused by the ACL's [outbound_block_list]", target);
    return;
  }
  if (auto ep = to_endpoint(target)) {
    send_to_target(st, e, *ep, data);
  } else if (e->cached_host == target.name() && e->cached_port == target.port()) {
    send_to_target(st, e, e->cached_endpoint, data);
  } else if (st->resolving < max_pending_resolves) {
    ++st->resolving;
    net::co_spawn(st->sock->get_executor(),
                  resolve_and_send(st, e, target, {data.begin(), data.end()}), log_exception);
  } else {
    spdlog::debug("UDP datagram to {} dropped: too many look-ups in flight", target);
  }
}

// A 2017 packet: opened, checked against the replay filter, relayed. On a port with several
// keys, the key is the one that opens it (tried the client's last first), and the
// association answers with it; `spare` takes the payload then.
void receive_2017(const std::shared_ptr<udp_server_state>& st, udp_packet_cipher& opener,
                  mutable_bytes packet, const udp::endpoint& client, mutable_bytes spare) {
  // A packet that fails authentication is dropped without an answer and creates nothing.
  bytes_view plain;
  bytes_view salt;
  const master_key* key = nullptr;
  std::optional<std::size_t> key_index;
  const auto& ring = st->ctx->cfg.keys;
  if (ring) {
    key_index = ring->find_packet_key(packet, address_bytes(client.address()), spare, plain).index;
    if (!key_index) return refused(*st, udp_unknown_key);
    key = &(*ring)[*key_index].key;
    salt = bytes_view(packet).first(key->cipher().salt_size);
  } else {
    auto opened = opener.open(packet);
    if (!opened) return refused(*st, udp_bad_data);
    plain = *opened;
    salt = opener.last_salt();
  }
  // A replayed (or reflected) packet is dropped like a forged one.
  if (st->ctx->state->replay.check_and_insert(salt)) return refused(*st, udp_replay);
  auto header = decode_address(plain);
  if (!header.is_done()) return refused(*st, udp_bad_data);
  auto e = association_of(*st, client);
  if (key != nullptr) {
    e->user_key = key;
    e->ring = ring;
  }
  auto payload = plain.subspan(header.consumed);
  count_up(*st, *e, key_index, nullptr, payload.size());
  dispatch(st, e, header.value, payload);
}

// A 2022 packet: routed by its client session ID (SIP022 3.2.4). A session is made only for a
// packet that authenticates; the packet window and the address answers go to are updated only
// by packets that authenticate and pass the header checks.
void receive_2022(const std::shared_ptr<udp_server_state>& st, sip022::udp_codec& codec,
                  mutable_bytes packet, const udp::endpoint& client) {
  auto ids = codec.open_header(packet);
  if (!ids) {
    return refused(*st, ids.error() == errc::sip022_unknown_user ? udp_unknown_key : udp_bad_data);
  }
  association_key key{{}, sip022::session_key(ids->session)};
  auto e = st->table.find(key);
  std::unique_ptr<sip022::server_session> fresh;
  if (!e) fresh = std::make_unique<sip022::server_session>(codec, *ids);
  auto* session = e ? e->session.get() : fresh.get();
  auto m = session->open(codec, packet, *ids);
  if (!m) {
    return refused(*st, m.error() == errc::sip022_replayed_packet ? udp_replay : udp_bad_data);
  }
  if (!e) {
    e = std::make_shared<client_entry>();
    e->key = key;
    e->session = std::move(fresh);
    if (st->table.insert(key, e) > 0) {
      spdlog::debug("UDP session table full ({}): the least recently used one is dropped",
                    st->ctx->cfg.udp_max_associations);
    }
    st->note_size();
    if (const auto* u = e->session->sender()) {
      spdlog::debug("UDP session from {} (user {})", to_string(client), u->name);
    } else {
      spdlog::debug("UDP session from {}", to_string(client));
    }
  }
  e->client = client;
  auto header = decode_address(m->payload);
  auto payload = m->payload.subspan(header.consumed);
  count_up(*st, *e, std::nullopt, e->session->sender(), payload.size());
  dispatch(st, e, header.value, payload);
}

// The key of `c` that is `key` (same method and bytes), or null.
const master_key* same_key(const config& c, const master_key& key) {
  auto same = [&key](const master_key& k) {
    return &k.cipher() == &key.cipher() && std::ranges::equal(k.bytes(), key.bytes());
  };
  if (c.keys) {
    for (const auto& m : c.keys->members()) {
      if (same(m.key)) return &m.key;
    }
    return nullptr;
  }
  return same(*c.key) ? c.key.get() : nullptr;
}

// A reload from `was` to `now`: each association whose key `now` still has goes on (pointed
// at `now`'s copy of it); the others are dropped.
void keep_associations(udp_server_state& st, const config& was, const config& now) {
  auto dropped = st.table.erase_if([&](client_entry& e) {
    if (e.session) return !same_key(now, *was.key);  // 2022: the port's key
    const auto* key = same_key(now, e.user_key != nullptr ? *e.user_key : *was.key);
    if (key == nullptr) return true;
    e.user_key = now.keys ? key : nullptr;
    e.ring = now.keys;
    return false;
  });
  if (dropped > 0) spdlog::debug("reload: {} UDP association(s) of removed keys dropped", dropped);
  st.note_size();
}

}  // namespace

awaitable<void> run_udp_server(std::shared_ptr<udp::socket> sock, const context_slot& slot) {
  auto ctx = slot.load();
  // SIP022 3.2.4: a 2022 session is kept at least 60 s, whatever udp_timeout says.
  const bool is_2022 = ctx->cfg.key->cipher().is_2022();
  auto st = std::make_shared<udp_server_state>(
      sock, ctx, is_2022 ? sip022::min_session_life : steady_clock::duration{});
  net::co_spawn(sock->get_executor(), expire_loop(st), log_exception);
  udp_packet_cipher opener(*ctx->cfg.key);
  std::unique_ptr<sip022::udp_codec> codec;
  if (is_2022) codec = std::make_unique<sip022::udp_codec>(*ctx->cfg.key, ctx->cfg.users.get());
  std::vector<std::uint8_t> buf(datagram_buffer);
  std::vector<std::uint8_t> spare(datagram_buffer);  // payloads opened by a key search
  for (;;) {
    udp::endpoint client;
    auto [ec, n] = co_await receive_datagram(*sock, mutable_bytes(buf), client);
    if (ec == net::error::operation_aborted || !sock->is_open()) break;
    if (ec) continue;
    if (auto now = slot.load(); now != ctx) {
      // Reloaded. Associations under a key the port no longer has are dropped (they could
      // not be answered correctly); the others go on.
      keep_associations(*st, ctx->cfg, now->cfg);
      // The new users (SIP023) take effect for the next packet; sessions keep their own copy
      // of their user, so other users' sessions go on.
      codec.reset();
      if (now->cfg.key->cipher().is_2022()) {
        codec = std::make_unique<sip022::udp_codec>(*now->cfg.key, now->cfg.users.get());
      }
      opener = udp_packet_cipher(*now->cfg.key);
      ctx = std::move(now);
      st->ctx = ctx;
    }
    // A client the ACL refuses gets nothing, not even a look at its packet.
    if (ctx->cfg.access_list && ctx->cfg.access_list->client_refused(to_target(client))) continue;
    note_datagram_size(ctx->cfg, n);
    if (codec) {
      receive_2022(st, *codec, {buf.data(), n}, client);
    } else {
      receive_2017(st, opener, {buf.data(), n}, client, mutable_bytes(spare));
    }
  }
  st->table.clear();
  st->note_size();
}

}  // namespace ss
