#pragma once
/// \file Waiting for a drained socket to become readable without re-arming it in epoll.
///
/// Asio registers every socket once, edge-triggered, for input. Its `async_wait` nevertheless
/// re-arms the socket (`epoll_ctl(EPOLL_CTL_MOD)`) on every call: it cannot know whether
/// the socket's last readiness was reported already and consumed while nobody waited. A relay
/// whose read has just returned EAGAIN knows more: anything arriving from then on (data, FIN,
/// error) raises a new edge, which the reactor reports at its next pass. If no pass of the
/// reactor came between that read and the wait, the wait can simply be queued behind the
/// registration that is there: no system call. (A short read is not enough: a FIN that came
/// with the last data is only reported by the next read, and raises no new edge.)

#include <memory>

#include "shadowsocks/runtime/asio.hpp"

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
  /// returned EAGAIN and the reactor has not run since. `keep` is held until the callback.
  void wait(tcp::socket& s, std::shared_ptr<void> keep);

  /// True where the wait avoids the re-arm (false: it is Asio's async_wait).
  static bool without_rearm() noexcept;

 private:
  struct op;
  callback cb_;
  void* owner_;
  std::shared_ptr<void> keep_;
  void* reactor_ = nullptr;  // the sockets' reactor (all on one executor), once looked up
  bool starting_ = false;
  std::unique_ptr<op> op_;
};

}  // namespace ss
