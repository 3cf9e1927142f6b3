#include "shadowsocks/runtime/reactor_shortcuts.hpp"

#ifndef _WIN32
#include <sys/socket.h>
#endif
#include <boost/asio/detail/reactor.hpp>

#include <boost/version.hpp>
#include <tuple>

// The reactor's operation interface used below is Boost 1.81's (Debian 12's); any other
// version, another reactor, or the portable build (SS_PORTABLE) uses async_wait.
#if BOOST_VERSION / 100 == 1081 && defined(BOOST_ASIO_HAS_EPOLL) && \
    !defined(BOOST_ASIO_HAS_IO_URING_AS_DEFAULT) && !defined(SS_PORTABLE)
#define SS_READINESS_WITHOUT_REARM 1
#include <sys/epoll.h>
#else
#define SS_READINESS_WITHOUT_REARM 0
#endif

namespace ss {

#if SS_READINESS_WITHOUT_REARM

namespace {

namespace detail = boost::asio::detail;
using reactor_type = detail::epoll_reactor;
using descriptor_state = reactor_type::descriptor_state;

// Private and protected members of Asio's classes, named through explicit instantiations
// (access is not checked there), which hand the member pointers out through friend functions
// of a tag each.
template <auto Member, class Tag>
struct expose {
  friend auto member_of(Tag) { return Member; }
};
#define SS_EXPOSE(tag, member)  \
  struct tag {                  \
    friend auto member_of(tag); \
  };                            \
  template struct expose<&member, tag>;
SS_EXPOSE(acceptor_impl_tag, tcp::acceptor::impl_)
SS_EXPOSE(allocate_tag, reactor_type::allocate_descriptor_state)
SS_EXPOSE(free_tag, reactor_type::free_descriptor_state)
SS_EXPOSE(epoll_fd_tag, reactor_type::epoll_fd_)
SS_EXPOSE(reactor_tag, descriptor_state::reactor_)
SS_EXPOSE(descriptor_tag, descriptor_state::descriptor_)
SS_EXPOSE(shutdown_tag, descriptor_state::shutdown_)
SS_EXPOSE(speculative_tag, descriptor_state::try_speculative_)
SS_EXPOSE(registered_tag, descriptor_state::registered_events_)
SS_EXPOSE(task_result_tag, detail::scheduler_operation::task_result_)
#undef SS_EXPOSE

// A socket's reactor registration is in its protected implementation; a pointer to the member
// formed through a derived class reaches it.
struct socket_access : tcp::socket {
  static auto& implementation(tcp::socket& s) {
    return (s.*(&socket_access::impl_)).get_implementation();
  }
};

auto& implementation(tcp::socket& s) {
  return socket_access::implementation(s);
}
auto& implementation(tcp::acceptor& a) {
  return (a.*member_of(acceptor_impl_tag{})).get_implementation();
}

reactor_type& reactor_of(const net::any_io_executor& ex) {
  return net::use_service<reactor_type>(net::query(ex, net::execution::context));
}

// The events of the readiness report being handled for `d` (the reactor keeps them in the
// descriptor's operation, a private base, until the next report).
std::uint32_t reported_events(descriptor_state* d) {
  // A C-style cast may convert to an inaccessible base.
  auto* as_operation = (detail::scheduler_operation*)d;  // NOLINT
  return as_operation->*member_of(task_result_tag{});
}

std::uint32_t registered_events(descriptor_state* d) {
  return d->*member_of(registered_tag{});
}

}  // namespace

// An operation in the reactor's read (or write) queue that "performs" by being there when the
// reactor finds the socket ready. Started, the reactor tries it at once (speculatively) when
// the queue is empty: that attempt says "not done" (the caller has just seen the socket
// drained), so it is queued without an epoll_ctl; the reactor's next readiness event for the
// socket completes it, and the events of that report are kept.
struct read_readiness::op : detail::reactor_op {
  read_readiness* owner;

  explicit op(read_readiness* o)
      : reactor_op(boost::system::error_code(), &op::do_perform, &op::do_complete), owner(o) {}

  static status do_perform(reactor_op* base) {
    auto* rr = static_cast<op*>(base)->owner;
    if (rr->starting_) return not_done;
    rr->events_ = reported_events(static_cast<descriptor_state*>(rr->descriptor_));
    return done;
  }

  // `scheduler` is null when the io_context is destroyed with the wait pending.
  static void do_complete(void* scheduler, detail::scheduler_operation* base,
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
void read_readiness::start(Object& o, std::shared_ptr<void> keep, bool writable) {
  keep_ = std::move(keep);
  auto& impl = implementation(o);
  if (reactor_ == nullptr) reactor_ = &reactor_of(o.get_executor());  // a locked look-up, once
  auto& reactor = *static_cast<reactor_type*>(reactor_);
  descriptor_ = impl.reactor_data_;
  events_ = 0;
  starting_ = true;
  reactor.start_op(writable ? reactor_type::write_op : reactor_type::read_op, impl.socket_,
                   impl.reactor_data_, op_.get(), false, true);
  starting_ = false;
}

bool read_readiness::woke_without_fin() const noexcept {
  auto* d = static_cast<descriptor_state*>(descriptor_);
  return d != nullptr && (registered_events(d) & EPOLLRDHUP) != 0 &&
         (events_ & (EPOLLIN | EPOLLOUT)) != 0 &&
         (events_ & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) == 0;
}

void adopt_socket(tcp::socket& s, const tcp& protocol, platform::socket_handle fd,
                  boost::system::error_code& ec, adopted how) {
  // Asio's assign(), with the registration's events chosen here: its registration is the
  // same, without EPOLLRDHUP and EPOLLOUT.
  auto& reactor = reactor_of(s.get_executor());
  descriptor_state* d = (reactor.*member_of(allocate_tag{}))();
  d->*member_of(reactor_tag{}) = &reactor;
  d->*member_of(descriptor_tag{}) = fd;
  d->*member_of(shutdown_tag{}) = false;
  for (bool& b : d->*member_of(speculative_tag{}))
    b = true;
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLERR | EPOLLHUP | EPOLLPRI | EPOLLET | EPOLLRDHUP |
              (how == adopted::connecting ? EPOLLOUT : 0u);
  d->*member_of(registered_tag{}) = ev.events;
  ev.data.ptr = d;
  if (::epoll_ctl(reactor.*member_of(epoll_fd_tag{}), EPOLL_CTL_ADD, fd, &ev) != 0) {
    ec.assign(errno, boost::system::system_category());
    (reactor.*member_of(free_tag{}))(d);
    return;
  }
  namespace ops = detail::socket_ops;
  auto& impl = implementation(s);
  impl.reactor_data_ = d;
  impl.socket_ = fd;
  // Non-blocking already (but not by the user's choice: Asio's synchronous calls still wait),
  // and ours alone (not possible_dup): closing it removes it from epoll.
  impl.state_ = ops::stream_oriented | ops::internal_non_blocking;
  impl.protocol_ = protocol;
  ec = {};
}

bool read_readiness::without_rearm() noexcept {
  return true;
}

#else

struct read_readiness::op {};

read_readiness::read_readiness(callback cb, void* owner) : cb_(cb), owner_(owner) {}

read_readiness::~read_readiness() = default;

// `keep` rides in the handler, not in this object: an io_context destroyed with the wait
// pending destroys the handler and so lets the owner go (the owner holds this object).
template <class Object>
void read_readiness::start(Object& o, std::shared_ptr<void> keep, bool writable) {
  o.async_wait(writable ? Object::wait_write : Object::wait_read,
               [this, keep = std::move(keep)](const boost::system::error_code& ec) mutable {
                 auto held = std::move(keep);  // until the callback has run
                 cb_(owner_, ec);
               });
}

bool read_readiness::woke_without_fin() const noexcept {
  return false;
}

void adopt_socket(tcp::socket& s, const tcp& protocol, platform::socket_handle fd,
                  boost::system::error_code& ec, adopted) {
  s.assign(protocol, fd, ec);
}

bool read_readiness::without_rearm() noexcept {
  return false;
}

#endif

void read_readiness::wait(tcp::socket& s, std::shared_ptr<void> keep) {
  start(s, std::move(keep), false);
}

void read_readiness::wait(tcp::acceptor& a, std::shared_ptr<void> keep) {
  start(a, std::move(keep), false);
}

void read_readiness::wait_connected(tcp::socket& s, std::shared_ptr<void> keep) {
  start(s, std::move(keep), true);
}

namespace {

// A coroutine's completion handler, kept with its wait until the socket is ready; called
// there, on the socket's executor (as Asio calls its own operations' handlers), with the
// error and whether the report was clean (`woke_without_fin`).
template <class Handler>
struct coroutine_wait {
  explicit coroutine_wait(Handler h) : handler(std::move(h)) {}
  Handler handler;
  read_readiness ready{&coroutine_wait::on_ready, this};
  static void on_ready(void* owner, const boost::system::error_code& ec) {
    auto* self = static_cast<coroutine_wait*>(owner);
    bool clean = self->ready.woke_without_fin();
    Handler h = std::move(self->handler);
    std::move(h)(ec, clean);
  }
};

awaitable<std::tuple<boost::system::error_code, bool>> wait_for(tcp::socket& s, bool writable) {
  co_return co_await net::async_initiate<decltype(use_nothrow),
                                         void(boost::system::error_code, bool)>(
      [&s, writable](auto handler) {
        auto st = std::make_shared<coroutine_wait<decltype(handler)>>(std::move(handler));
        if (writable) {
          st->ready.wait_connected(s, st);
        } else {
          st->ready.wait(s, st);
        }
      },
      use_nothrow);
}

}  // namespace

awaitable<boost::system::error_code> wait_drained(tcp::socket& s) {
  auto [ec, clean] = co_await wait_for(s, false);
  co_return ec;
}

awaitable<boost::system::error_code> wait_connected(tcp::socket& s) {
  auto [ec, clean] = co_await wait_for(s, true);
  // Writable with no error or hang-up reported: connected. Otherwise SO_ERROR says how the
  // connect went (a later error is for the next read or write to report).
  if (ec || clean) co_return ec;
  net::detail::socket_option::integer<SOL_SOCKET, SO_ERROR> err;
  boost::system::error_code gec;
  s.get_option(err, gec);
  if (gec) co_return gec;
  co_return boost::system::error_code(err.value(), boost::system::system_category());
}

}  // namespace ss
