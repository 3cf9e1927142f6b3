#include "shadowsocks/runtime/reactor_shortcuts.hpp"

#include <boost/asio/detail/reactor.hpp>
#include <boost/version.hpp>

// The reactor's operation interface used below is Boost 1.81's (Debian 12's); any other
// version, or another reactor, uses async_wait.
#if BOOST_VERSION / 100 == 1081 && defined(BOOST_ASIO_HAS_EPOLL) && \
    !defined(BOOST_ASIO_HAS_IO_URING_AS_DEFAULT)
#define SS_READINESS_WITHOUT_REARM 1
#else
#define SS_READINESS_WITHOUT_REARM 0
#endif

namespace ss {

#if SS_READINESS_WITHOUT_REARM

namespace {

// A socket's (or an acceptor's) reactor registration is in its protected implementation; a
// pointer to the member formed through a derived class reaches it.
struct socket_access : tcp::socket {
  static auto& implementation(tcp::socket& s) {
    return (s.*(&socket_access::impl_)).get_implementation();
  }
};
// An acceptor's is private: an explicit instantiation may name a private member (access is not
// checked there), and hands the pointer out through a friend function of a tag.
struct acceptor_impl_tag {
  friend auto member_of(acceptor_impl_tag);
};
template <auto Member, class Tag>
struct expose {
  friend auto member_of(Tag) { return Member; }
};
template struct expose<&tcp::acceptor::impl_, acceptor_impl_tag>;

auto& implementation(tcp::socket& s) {
  return socket_access::implementation(s);
}
auto& implementation(tcp::acceptor& a) {
  return (a.*member_of(acceptor_impl_tag{})).get_implementation();
}

}  // namespace

// An operation in the reactor's read queue that "performs" by being there when the reactor
// finds the socket readable. Started, the reactor tries it at once (speculatively) when the
// queue is empty: that attempt says "not done" (the caller has just seen the socket drained),
// so it is queued without an epoll_ctl; the reactor's next readiness event for the socket
// completes it.
struct read_readiness::op : boost::asio::detail::reactor_op {
  read_readiness* owner;

  explicit op(read_readiness* o)
      : reactor_op(boost::system::error_code(), &op::do_perform, &op::do_complete), owner(o) {}

  static status do_perform(reactor_op* base) {
    return static_cast<op*>(base)->owner->starting_ ? not_done : done;
  }

  // `scheduler` is null when the io_context is destroyed with the wait pending.
  static void do_complete(void* scheduler, boost::asio::detail::scheduler_operation* base,
                          const boost::system::error_code&, std::size_t) {
    auto* self = static_cast<op*>(base);
    read_readiness* rr = self->owner;
    boost::system::error_code ec = std::exchange(self->ec_, {});
    auto keep = std::move(rr->keep_);  // may own `rr`: released after the callback
    if (scheduler != nullptr) rr->cb_(rr->owner_, ec);
  }
};

read_readiness::read_readiness(callback cb, void* owner)
    : cb_(cb), owner_(owner), op_(std::make_unique<op>(this)) {}

read_readiness::~read_readiness() = default;

template <class Object>
void read_readiness::start(Object& o, std::shared_ptr<void> keep) {
  keep_ = std::move(keep);
  auto& impl = implementation(o);
  if (reactor_ == nullptr) {  // looked up once (a locked look-up in the service registry)
    reactor_ = &net::use_service<boost::asio::detail::reactor>(
        net::query(o.get_executor(), net::execution::context));
  }
  auto& reactor = *static_cast<boost::asio::detail::reactor*>(reactor_);
  starting_ = true;
  reactor.start_op(boost::asio::detail::reactor::read_op, impl.socket_, impl.reactor_data_,
                   op_.get(), false, true);
  starting_ = false;
}

void adopt_socket(tcp::socket& s, const tcp& protocol, int fd, boost::system::error_code& ec) {
  s.assign(protocol, fd, ec);
  if (ec) return;
  namespace ops = boost::asio::detail::socket_ops;
  auto& impl = implementation(s);
  // Non-blocking already (but not by the user's choice: Asio's synchronous calls still wait),
  // and ours alone: closing it removes it from epoll.
  impl.state_ |= ops::internal_non_blocking;
  impl.state_ &= static_cast<ops::state_type>(~ops::possible_dup);
}

bool read_readiness::without_rearm() noexcept {
  return true;
}

#else

struct read_readiness::op {};

read_readiness::read_readiness(callback cb, void* owner) : cb_(cb), owner_(owner) {}

read_readiness::~read_readiness() = default;

template <class Object>
void read_readiness::start(Object& o, std::shared_ptr<void> keep) {
  keep_ = std::move(keep);
  o.async_wait(Object::wait_read, [this](const boost::system::error_code& ec) {
    auto keep = std::move(keep_);
    cb_(owner_, ec);
  });
}

void adopt_socket(tcp::socket& s, const tcp& protocol, int fd, boost::system::error_code& ec) {
  s.assign(protocol, fd, ec);
}

bool read_readiness::without_rearm() noexcept {
  return false;
}

#endif

void read_readiness::wait(tcp::socket& s, std::shared_ptr<void> keep) {
  start(s, std::move(keep));
}

void read_readiness::wait(tcp::acceptor& a, std::shared_ptr<void> keep) {
  start(a, std::move(keep));
}

namespace {

// A coroutine's completion handler, kept with its wait until the socket is readable; called
// there, on the socket's executor (as Asio calls its own operations' handlers).
template <class Handler>
struct drained_wait {
  explicit drained_wait(Handler h) : handler(std::move(h)) {}
  Handler handler;
  read_readiness ready{&drained_wait::readable, this};
  static void readable(void* owner, const boost::system::error_code& ec) {
    Handler h = std::move(static_cast<drained_wait*>(owner)->handler);
    std::move(h)(ec);
  }
};

}  // namespace

awaitable<boost::system::error_code> wait_drained(tcp::socket& s) {
  auto [ec] = co_await net::async_initiate<decltype(use_nothrow), void(boost::system::error_code)>(
      [&s](auto handler) {
        auto st = std::make_shared<drained_wait<decltype(handler)>>(std::move(handler));
        st->ready.wait(s, st);
      },
      use_nothrow);
  co_return ec;
}

}  // namespace ss
