// ss-local's HTTP proxy: CONNECT tunnels (RFC 9110 section 9.3.6) and absolute-form requests
// forwarded through ss-server (RFC 9112 section 3.2.2), with keep-alive toward the client. The
// messages themselves are read and rewritten in http_message.cpp; here are the sockets.

#include "http_front.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/experimental/awaitable_operators.hpp>
#include <cstring>
#include <optional>
#include <string>
#include <variant>

#include "http_message.hpp"
#include "outbound.hpp"
#include "shadowsocks/runtime/deadline.hpp"

namespace ss {

using net::experimental::awaitable_operators::operator||;

namespace {

// How long a client may take for its first request's header (the SOCKS handshake's limit).
constexpr auto first_request_timeout = 10s;
// After a refusal, how long and how much of what the client still sends is read and dropped.
constexpr auto lingering_close = 2s;
constexpr std::size_t lingering_bytes = 1 << 20;
// Bytes read from the client at a time; the buffer grows to the header limit and this.
constexpr std::size_t read_size = 16 * 1024;

// Bytes from the client not yet parsed.
class input {
 public:
  explicit input(bytes_view first) : data_(std::max(read_size, first.size())) {
    std::memcpy(data_.data(), first.data(), first.size());
    end_ = first.size();
  }
  bytes_view view() const { return {data_.data() + begin_, end_ - begin_}; }
  bool empty() const { return begin_ == end_; }
  void consume(std::size_t n) {
    begin_ += n;
    if (begin_ == end_) begin_ = end_ = 0;
  }
  // Free space after the unparsed bytes (moved to the front first); empty when the buffer is
  // full at its limit.
  mutable_bytes space() {
    if (begin_ > 0) {
      std::memmove(data_.data(), data_.data() + begin_, end_ - begin_);
      end_ -= begin_;
      begin_ = 0;
    }
    if (data_.size() - end_ < read_size && data_.size() < http::header_limit + read_size) {
      data_.resize(http::header_limit + read_size);
    }
    return {data_.data() + end_, data_.size() - end_};
  }
  void commit(std::size_t n) { end_ += n; }

 private:
  std::vector<std::uint8_t> data_;
  std::size_t begin_ = 0;
  std::size_t end_ = 0;
};

// How the response to a forwarded request went.
struct response_outcome {
  bool ok = false;                 ///< Relayed whole.
  bool client_keep_alive = false;  ///< The client connection may carry another request.
  bool upstream_reusable = false;  ///< The connection to the origin may carry another one.
  bool nothing_received = false;   ///< The upstream closed before any byte of a response.
  unsigned answer = 0;             ///< The error status to answer the client with (none: 0).
  std::string why;                 ///< What went wrong, for the log.
};

class http_session {
 public:
  http_session(accepted& a, bytes_view first)
      : client_(a.socket), ctx_(a.ctx), conn_(a.conn), in_(first) {}

  awaitable<void> run();

 private:
  awaitable<bool> read_more(steady_clock::duration timeout);
  awaitable<bool> send(std::string_view text);
  awaitable<void> refuse(unsigned status, std::string_view why);
  awaitable<void> tunnel(const http::decision& d);
  awaitable<bool> forward(const http::decision& d, http::request_reader& req);
  awaitable<bool> pump_body(http::request_reader& req);
  awaitable<void> pump_then_wait(http::request_reader& req);
  awaitable<response_outcome> relay_response(const http::request_reader& req);
  // Reads the header of one response into `res` (what follows it stays in `pending`); false
  // when it could not be had, with `out` saying why.
  awaitable<bool> read_response_head(http::response_reader& res, std::string& pending, bool sent,
                                     bool& received, response_outcome& out);
  // The body of `res` to the client as it comes, with the idle timeout between pieces; true
  // when it ended where its framing says.
  awaitable<bool> relay_response_body(http::response_reader& res, std::string& pending);
  awaitable<boost::system::error_code> connect_upstream(const target_address& target);

  tcp::socket& client_;  // the accepted connection's (which outlives the session)
  const std::shared_ptr<service_context>& ctx_;
  connection& conn_;
  input in_;
  std::optional<server_stream> up_;  // to the origin of the last forwarded request
  target_address up_target_;
  bool request_complete_ = false;  // the request body went out whole
  std::uint64_t requests_ = 0;
};

awaitable<bool> http_session::read_more(steady_clock::duration timeout) {
  auto space = in_.space();
  if (space.empty()) co_return false;
  deadline limit(client_.get_executor());
  limit.arm(timeout, [this] { client_.cancel(); });
  auto [ec, n] =
      co_await client_.async_read_some(net::buffer(space.data(), space.size()), use_nothrow);
  limit.cancel();
  if (ec) co_return false;
  in_.commit(n);
  co_return true;
}

awaitable<bool> http_session::send(std::string_view text) {
  auto [ec, n] =
      co_await net::async_write(client_, net::buffer(text.data(), text.size()), use_nothrow);
  co_return !ec;
}

awaitable<void> http_session::refuse(unsigned status, std::string_view why) {
  spdlog::debug("#{} {}: HTTP {}: {}", conn_.id, conn_.peer, status, why);
  auto text = http::error_response(status);
  if (!co_await send(text)) co_return;
  // A lingering close, as nginx does it: the answer is out and our side shut; what the client
  // still sends (the rest of a refused request) is read and dropped for a little while, so that
  // closing with unread data does not reset the connection and destroy the answer before the
  // client has read it.
  boost::system::error_code ec;
  client_.shutdown(tcp::socket::shutdown_send, ec);
  deadline limit(client_.get_executor());
  limit.arm(lingering_close, [this] { client_.cancel(); });
  std::array<std::uint8_t, 4096> sink{};
  for (std::size_t drained = 0; drained < lingering_bytes;) {
    auto [rec, n] = co_await client_.async_read_some(net::buffer(sink), use_nothrow);
    if (rec) break;
    drained += n;
  }
}

awaitable<boost::system::error_code> http_session::connect_upstream(const target_address& target) {
  up_.reset();
  up_.emplace(client_.get_executor(), ctx_);
  auto ec = co_await up_->connect(target);
  if (ec) {
    if (up_->direct()) {
      spdlog::debug("#{} {} -> {}: cannot connect directly (ACL): {}", conn_.id, conn_.peer, target,
                    ec.message());
    } else {
      spdlog::warn("#{} {} -> {}: cannot reach the server: {}", conn_.id, conn_.peer, target,
                   ec.message());
    }
    up_.reset();
    co_return ec;
  }
  up_target_ = target;
  co_return boost::system::error_code();
}

awaitable<void> http_session::tunnel(const http::decision& d) {
  auto started = steady_clock::now();
  spdlog::debug("#{} {}: HTTP CONNECT {}", conn_.id, conn_.peer, d.target);
  // Connected to the server before the 200, so that an unreachable server is a 502 (the
  // target's reachability shows only once data flows).
  if (auto ec = co_await connect_upstream(d.target)) {
    co_await refuse(ec == std::errc::timed_out ? 504 : 502, "cannot connect");
    co_return;
  }
  if (!co_await send(http::connect_established)) co_return;
  // Bytes the client sent after the header are the tunnel's first data.
  auto space = in_.space();
  std::size_t have = in_.view().size();
  mutable_bytes buf(space.data() - have, space.size() + have);
  co_await wait_first_data(client_, buf, have);
  if (auto ec = co_await up_->open(d.target, {buf.data(), have})) co_return;
  relay_log log{conn_.id, {}, started, have, true};
  if (spdlog::should_log(spdlog::level::debug)) {
    log.what = conn_.peer.str() + (up_->direct() ? " -> (direct) " : " -> ") + d.target.to_string();
  }
  up_->relay(std::move(client_), std::move(conn_.guard), std::move(log));
  up_.reset();
}

awaitable<bool> http_session::pump_body(http::request_reader& req) {
  while (!req.is_done()) {
    if (!in_.empty()) {
      boost::system::error_code ec;
      in_.consume(req.feed(in_.view(), ec));
      if (ec && ec != http::bhttp::error::need_more) {
        spdlog::debug("#{} {}: bad request body: {}", conn_.id, conn_.peer, ec.message());
        co_return false;
      }
      auto body = req.take_body();
      if (!body.empty()) {
        auto wec =
            co_await up_->write({reinterpret_cast<const std::uint8_t*>(body.data()), body.size()});
        if (wec) co_return false;
      }
      if (!ec) continue;
    }
    if (!co_await read_more(ctx_->cfg.timeout)) co_return false;
  }
  request_complete_ = true;
  co_return true;
}

// The request body, then nothing until the response ends (which cancels the wait). Returns
// early only when the body failed.
awaitable<void> http_session::pump_then_wait(http::request_reader& req) {
  if (!co_await pump_body(req)) co_return;
  net::steady_timer forever(client_.get_executor(), steady_clock::time_point::max());
  co_await forever.async_wait(use_nothrow);
}

awaitable<bool> http_session::read_response_head(http::response_reader& res, std::string& pending,
                                                 bool sent, bool& received, response_outcome& out) {
  // The whole header comes within the timeout.
  deadline limit(client_.get_executor());
  limit.arm(ctx_->cfg.timeout, [this] { up_->close(); });
  // The status to answer when the response cannot be had (none once some of it went out);
  // the caller answers once the request body has stopped.
  auto give_up = [&out, &limit, sent](std::string why) {
    out.answer = sent ? 0 : limit.expired() ? 504 : 502;
    out.why = std::move(why);
    return false;
  };
  for (;;) {
    boost::system::error_code pec;
    auto used =
        res.feed({reinterpret_cast<const std::uint8_t*>(pending.data()), pending.size()}, pec);
    pending.erase(0, used);
    if (!pec) co_return true;
    if (pec != http::bhttp::error::need_more) {
      co_return give_up("bad response header: " + pec.message());
    }
    auto [ec, data] = co_await up_->read_some();
    if (ec) {
      if (!received && !limit.expired()) {
        out.nothing_received = true;  // the caller retries or answers 502
        co_return false;
      }
      co_return give_up(limit.expired() ? "no response in time" : "bad response: " + ec.message());
    }
    received = true;
    pending.append(reinterpret_cast<const char*>(data.data()), data.size());
  }
}

awaitable<bool> http_session::relay_response_body(http::response_reader& res,
                                                  std::string& pending) {
  deadline limit(client_.get_executor());
  for (;;) {
    if (!pending.empty() && !res.is_done()) {
      boost::system::error_code pec;
      auto used =
          res.feed({reinterpret_cast<const std::uint8_t*>(pending.data()), pending.size()}, pec);
      pending.erase(0, used);
      if (pec && pec != http::bhttp::error::need_more) co_return false;
    }
    auto body = res.take_body();
    if (!body.empty() && !co_await send(body)) co_return false;
    if (res.is_done()) co_return true;
    limit.arm(ctx_->cfg.timeout, [this] { up_->close(); });
    auto [ec, data] = co_await up_->read_some();
    limit.cancel();
    if (ec) {
      // A body without length or chunks ends with the connection.
      if (ec != net::error::eof || !res.need_eof()) co_return false;
      boost::system::error_code eec;
      res.put_eof(eec);
      auto rest = res.take_body();
      if (!rest.empty() && !co_await send(rest)) co_return false;
      co_return !eec;
    }
    pending.append(reinterpret_cast<const char*>(data.data()), data.size());
  }
}

awaitable<response_outcome> http_session::relay_response(const http::request_reader& req) {
  response_outcome out;
  std::string pending;  // from the upstream, not yet parsed
  bool head_request = req.method() == "HEAD";
  bool received = false;
  bool sent = false;  // anything of the response went to the client
  for (;;) {          // one pass per interim (1xx) response, then the final one
    http::response_reader res;
    if (head_request) res.no_body();
    if (!co_await read_response_head(res, pending, sent, received, out)) co_return out;
    unsigned status = res.status();
    if (status / 100 == 1) {
      // 100 Continue and 103 Early Hints go on to an HTTP/1.1 client; 101 cannot happen (we
      // never forward Upgrade).
      if (status == 101) {
        out.answer = sent ? 0 : 502;
        out.why = "101 without Upgrade";
        co_return out;
      }
      if (req.version() >= 11) {
        auto head = http::response_head(res, false, false, true, req.version());
        if (!co_await send(head)) co_return out;
        sent = true;
      }
      continue;
    }
    bool body_follows = !head_request && status != 204 && status != 304;
    bool client_chunked = res.chunked() && req.version() >= 11;
    res.rechunk(client_chunked);
    // A body that ends with the connection, or chunks a 1.0 client cannot read, ends the
    // client connection too.
    out.client_keep_alive =
        req.keep_alive() && !res.need_eof() && (client_chunked || !res.chunked());
    auto head = http::response_head(res, body_follows, client_chunked, out.client_keep_alive,
                                    req.version());
    if (!co_await send(head)) co_return out;
    spdlog::debug("#{} {}: {} {} -> {}", conn_.id, conn_.peer, req.method(), up_target_, status);
    out.ok = co_await relay_response_body(res, pending);
    out.upstream_reusable = out.ok && res.keep_alive() && pending.empty();
    co_return out;
  }
}

awaitable<bool> http_session::forward(const http::decision& d, http::request_reader& req) {
  bool reuse = up_ && up_->is_open() && up_target_ == d.target;
  for (int attempt = 0;; ++attempt) {
    if (!reuse) {
      if (auto ec = co_await connect_upstream(d.target)) {
        co_await refuse(ec == std::errc::timed_out ? 504 : 502, "cannot reach the server");
        co_return false;
      }
    }
    std::string_view head = d.head;
    auto bytes = bytes_view(reinterpret_cast<const std::uint8_t*>(head.data()), head.size());
    boost::system::error_code wec;
    if (reuse) {
      wec = co_await up_->write(bytes);
    } else {
      wec = co_await up_->open(d.target, bytes);
    }
    if (wec) {
      if (reuse && attempt == 0 && req.is_done()) {
        reuse = false;
        continue;
      }
      co_await refuse(502, "server write failed");
      co_return false;
    }
    request_complete_ = false;
    auto result = co_await (relay_response(req) || pump_then_wait(req));
    if (result.index() == 1) {
      // The body failed (the client went, or sent a bad chunk): nothing more to do here.
      up_.reset();
      co_return false;
    }
    auto outcome = std::get<0>(result);
    // A reused connection the origin had closed meanwhile: once more on a new one, when the
    // request can be sent again (no body of it consumed).
    if (!outcome.ok && outcome.nothing_received && reuse && attempt == 0 && req.is_done() &&
        req.content_length().value_or(0) == 0 && !req.chunked()) {
      reuse = false;
      continue;
    }
    if (!outcome.ok) {
      up_.reset();
      if (outcome.nothing_received) {
        co_await refuse(502, "upstream closed without a response");
      } else if (outcome.answer != 0) {
        co_await refuse(outcome.answer, outcome.why);
      } else {
        spdlog::debug("#{} {} -> {}: response cut short: {}", conn_.id, conn_.peer, d.target,
                      outcome.why);
      }
      co_return false;
    }
    if (!outcome.upstream_reusable || !request_complete_) up_.reset();
    co_return outcome.client_keep_alive&& request_complete_;
  }
}

awaitable<void> http_session::run() {
  for (;;) {
    http::request_reader req;
    // The header, within the first request's limit or (between requests) the idle timeout.
    for (;;) {
      boost::system::error_code ec;
      in_.consume(req.feed(in_.view(), ec));
      if (!ec) break;
      if (ec != http::bhttp::error::need_more) {
        co_await refuse(ec == http::bhttp::error::header_limit ? 431 : 400, ec.message());
        co_return;
      }
      auto timeout = requests_ == 0 ? steady_clock::duration(first_request_timeout)
                                    : steady_clock::duration(ctx_->cfg.timeout);
      if (!co_await read_more(timeout)) co_return;  // closed, or idle between requests
    }
    ++requests_;
    auto d = http::decide(req, ctx_->cfg.local_users.get());
    switch (d.what) {
      case http::decision::action::refuse:
        if (d.status == 407 && d.bad_credentials) {
          std::uint64_t suppressed = 0;
          if (ctx_->state->refused_clients.allow(suppressed)) {
            spdlog::warn("#{} {}: wrong HTTP proxy credentials", conn_.id, conn_.peer);
          }
        }
        co_await refuse(d.status, d.why);
        co_return;
      case http::decision::action::tunnel:
        co_await tunnel(d);
        co_return;
      case http::decision::action::forward:
        if (!co_await forward(d, req)) co_return;
        break;
    }
  }
}

}  // namespace

awaitable<void> serve_http(accepted& a, bytes_view first) {
  http_session session(a, first);
  co_await session.run();
}

}  // namespace ss
