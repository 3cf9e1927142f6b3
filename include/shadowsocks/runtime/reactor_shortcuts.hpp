#pragma once
/// \file System calls Asio makes per socket that a caller can know to be unneeded, skipped
/// through the reactor of Boost 1.81's Asio (its internals: on any other version these are the
/// plain Asio calls they replace). Measured in docs/performance.md.
///
/// **Waits without re-arm.** Asio registers every socket once, edge-triggered, for input. Its
/// `async_wait` nevertheless re-arms the socket (`epoll_ctl(EPOLL_CTL_MOD)`) on every call: it
/// cannot know whether the socket's last readiness was reported already and consumed while
/// nobody waited. A caller whose read (or accept) has just returned EAGAIN knows more:
/// anything arriving from then on (data, FIN, error, a connection) raises a new edge, which
/// the reactor reports at its next pass. If no pass of the reactor came between that call and
/// the wait, the wait can simply be queued behind the registration that is there: no system
/// call. A short read is enough too when the readiness report that woke the reader said
/// nothing of a FIN (sockets are registered for EPOLLRDHUP): a FIN that came with the last
/// data is only reported by the next read and raises no new edge, but one that came before
/// the report is in it, and one that came after raises an edge of its own.
///
/// **Connects without re-arm or SO_ERROR.** An outgoing socket is registered for writability
/// when it is adopted, after its `connect()`, so waiting for the connection needs no
/// `EPOLL_CTL_MOD`; a report of writability with no error or hang-up says the connection is
/// made, without the `getsockopt(SO_ERROR)` Asio makes.
///
/// **Adopted descriptors.** A descriptor made non-blocking when it was created
/// (`accept4`/`socket` with `SOCK_NONBLOCK`) is handed to Asio without the `ioctl(FIONBIO)`
/// Asio makes before its first operation, and without the `EPOLL_CTL_DEL` it makes at close
/// for a descriptor it did not create (which might be duplicated elsewhere; ours are not).

#include <cstdint>
#include <memory>

#include "shadowsocks/runtime/asio.hpp"
#include "shadowsocks/runtime/platform.hpp"

namespace ss {

/// One read-readiness wait on a TCP socket at a time, reusable without allocating. Where Asio
/// is not the epoll reactor of Boost 1.81 (whose internals it uses), it is `async_wait`.
class read_readiness {
 public:
  /// Called with no error when the socket is readable or has an error or EOF to report (the
  /// next read tells which), with `operation_aborted` when it was closed.
  using callback = void (*)(void* owner, const boost::system::error_code& ec);
  read_readiness(callback cb, void* owner);
  ~read_readiness();
  read_readiness(const read_readiness&) = delete;
  read_readiness& operator=(const read_readiness&) = delete;

  /// Waits for `s` (run on its executor's thread). Precondition: the last read of `s`
  /// returned EAGAIN, or was short after a wait that `woke_without_fin`, and the reactor has
  /// not run since. `keep` is held until the callback.
  void wait(tcp::socket& s, std::shared_ptr<void> keep);
  /// The same for an acceptor whose last accept returned EAGAIN (a connection is waiting).
  void wait(tcp::acceptor& a, std::shared_ptr<void> keep);
  /// Waits for `s`, adopted as `adopted::connecting` after its `connect()` said EINPROGRESS,
  /// to be writable (connected) or to report an error.
  void wait_connected(tcp::socket& s, std::shared_ptr<void> keep);

  /// True when the last wait was completed by a readiness report with data (or writability)
  /// and without a FIN, hang-up or error in it. A reader woken so, whose next read is short
  /// and with no pass of the reactor since the report, may wait again without reading to
  /// EAGAIN. Always false where the wait is Asio's async_wait.
  bool woke_without_fin() const noexcept;

  /// True where the wait avoids the re-arm (false: it is Asio's async_wait).
  static bool without_rearm() noexcept;

 private:
  struct op;
  callback cb_;
  void* owner_;
  std::shared_ptr<void> keep_;
  template <class Object>
  void start(Object& o, std::shared_ptr<void> keep, bool writable);
  void* reactor_ = nullptr;     // the sockets' reactor (all on one executor), once looked up
  void* descriptor_ = nullptr;  // the reactor's state of the socket waited for
  std::uint32_t events_ = 0;    // what the report that completed the last wait said
  bool starting_ = false;
  std::unique_ptr<op> op_;
};

/// `read_readiness` for a coroutine: completes when `s`, whose last read returned EAGAIN with
/// no pass of the reactor since, is readable (or closed: `operation_aborted`). It does not
/// answer a cancellation slot's signal (as from `op1 || op2`): it ends when the socket is
/// closed, so use it only where closing is how the wait is ended (as with phase deadlines).
awaitable<boost::system::error_code> wait_drained(tcp::socket& s);

/// Completes when `s`, adopted as `adopted::connecting` after its `connect()` said
/// EINPROGRESS, is connected (no error) or failed to connect (the error); `operation_aborted`
/// when it is closed first. Like `wait_drained`, ended by closing, not by a cancellation slot.
awaitable<boost::system::error_code> wait_connected(tcp::socket& s);

/// How a descriptor came.
enum class adopted : std::uint8_t {
  accepted,    ///< From accept4: registered for input and FIN reports.
  connecting,  ///< Its connect() said EINPROGRESS: for writability as well.
};

/// Makes `s` the owner of `fd`, a connected or connecting TCP socket of `protocol` created
/// non-blocking and never duplicated. On error `fd` is not taken (the caller closes it).
void adopt_socket(tcp::socket& s, const tcp& protocol, platform::socket_handle fd,
                  boost::system::error_code& ec, adopted how = adopted::accepted);

}  // namespace ss
