// UDP load generator and echo server for bench/run.py: a compiled client, so that the relays
// (not the load generator) are what a UDP benchmark measures.
//
//   udp_load echo                         binds 127.0.0.1 on a free port, prints the port, and
//                                         echoes every datagram until stdin closes
//   udp_load client PORT SECONDS SIZE WINDOW
//                                         keeps WINDOW datagrams of SIZE bytes in flight to
//                                         127.0.0.1:PORT for SECONDS, sends one more for each
//                                         answer (and for each one lost after 200 ms of
//                                         silence), and prints {"datagrams_s": N}
//
// Both sides move batches with recvmmsg/sendmmsg. No dependency beyond libc.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "load_support.hpp"

namespace {

constexpr int batch = 64;
constexpr std::size_t max_datagram = 65536;

using load::die;
using load::loopback;

int udp_socket() {
  int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) die("socket");
  int size = 4 << 20;
  ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
  return fd;
}

// Receives and sends up to `batch` datagrams per system call.
struct batch_io {
  std::vector<std::array<char, max_datagram>> bufs =
      std::vector<std::array<char, max_datagram>>(batch);
  std::array<iovec, batch> iov{};
  std::array<sockaddr_in, batch> from{};
  std::array<mmsghdr, batch> msgs{};

  batch_io() {
    for (int i = 0; i < batch; ++i) {
      iov[i] = {bufs[i].data(), max_datagram};
      msgs[i].msg_hdr.msg_iov = &iov[i];
      msgs[i].msg_hdr.msg_iovlen = 1;
      msgs[i].msg_hdr.msg_name = &from[i];
      msgs[i].msg_hdr.msg_namelen = sizeof(sockaddr_in);
    }
  }
  // Waits up to `timeout_ms` for the first datagram; returns how many arrived (0 on time-out).
  int receive(int fd, int timeout_ms) {
    for (int i = 0; i < batch; ++i) {
      iov[i].iov_len = max_datagram;
      msgs[i].msg_hdr.msg_namelen = sizeof(sockaddr_in);
    }
    pollfd p{fd, POLLIN, 0};
    int r = ::poll(&p, 1, timeout_ms);
    if (r < 0 && errno != EINTR) die("poll");
    if (r <= 0) return 0;
    int n = ::recvmmsg(fd, msgs.data(), batch, MSG_DONTWAIT, nullptr);
    if (n < 0) {
      if (errno == EAGAIN || errno == EINTR) return 0;
      die("recvmmsg");
    }
    return n;
  }
};

void send_all(int fd, mmsghdr* msgs, int n) {
  while (n > 0) {
    int sent = ::sendmmsg(fd, msgs, static_cast<unsigned>(n), 0);
    if (sent < 0) {
      if (errno == EINTR) continue;
      if (errno == ECONNREFUSED) return;  // an earlier datagram found no listener: drop
      die("sendmmsg");
    }
    msgs += sent;
    n -= sent;
  }
}

int echo() {
  int fd = udp_socket();
  auto a = loopback(0);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) < 0) die("bind");
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  std::printf("%u\n", ntohs(a.sin_port));
  std::fflush(stdout);
  batch_io io;
  for (;;) {
    pollfd stop{STDIN_FILENO, POLLIN, 0};
    if (::poll(&stop, 1, 0) > 0) return 0;  // stdin readable or closed: the driver is done
    int n = io.receive(fd, 100);
    for (int i = 0; i < n; ++i) {
      io.iov[i].iov_len = io.msgs[i].msg_len;  // back to the sender, same bytes
    }
    send_all(fd, io.msgs.data(), n);
  }
}

int client(unsigned port, double seconds, std::size_t size, int window) {
  using clock = std::chrono::steady_clock;
  int fd = udp_socket();
  auto to = loopback(port);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof to) < 0) die("connect");
  std::vector<char> payload(size);
  for (std::size_t i = 0; i < size; ++i)
    payload[i] = static_cast<char>(std::rand());
  std::array<iovec, batch> out_iov{};
  std::array<mmsghdr, batch> out{};
  for (int i = 0; i < batch; ++i) {
    out_iov[i] = {payload.data(), size};
    out[i].msg_hdr.msg_iov = &out_iov[i];
    out[i].msg_hdr.msg_iovlen = 1;
  }
  auto send_n = [&](int n) {
    while (n > 0) {
      int k = n < batch ? n : batch;
      send_all(fd, out.data(), k);
      n -= k;
    }
  };
  batch_io io;
  send_n(window);
  std::uint64_t answered = 0;
  auto start = clock::now();
  auto end = start + std::chrono::duration<double>(seconds);
  while (clock::now() < end) {
    int n = io.receive(fd, 200);
    // An answer puts another request in flight; silence means the window's datagrams were
    // lost: put a whole new window in flight.
    answered += static_cast<std::uint64_t>(n);
    send_n(n > 0 ? n : window);
  }
  double elapsed = std::chrono::duration<double>(clock::now() - start).count();
  std::printf("{\"datagrams_s\": %.1f}\n", static_cast<double>(answered) / elapsed);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  load::program = "udp_load";
  std::string mode = argc > 1 ? argv[1] : "";
  if (mode == "echo" && argc == 2) return echo();
  if (mode == "client" && argc == 6) {
    return client(static_cast<unsigned>(std::atoi(argv[2])), std::atof(argv[3]),
                  static_cast<std::size_t>(std::atoi(argv[4])), std::atoi(argv[5]));
  }
  std::fprintf(stderr, "usage: udp_load echo | udp_load client PORT SECONDS SIZE WINDOW\n");
  return 2;
}
