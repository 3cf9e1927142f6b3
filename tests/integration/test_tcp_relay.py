#!/usr/bin/env python3
"""Our ss-local + ss-server (and ss-tunnel) end to end on 127.0.0.1 / ::1 (issue 3)."""

import asyncio
import hashlib
import http.server
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import sslib  # noqa: E402

PASSWORD = "integration-test-password"
METHOD = "aes-256-gcm"
BIG = 64 << 20


class _Http(http.server.SimpleHTTPRequestHandler):
    """GET serves the directory; PUT answers the SHA-256 of the body."""

    def log_message(self, *args):
        pass

    def do_PUT(self):
        left = int(self.headers["Content-Length"])
        h = hashlib.sha256()
        while left:
            chunk = self.rfile.read(min(left, 1 << 20))
            if not chunk:
                break
            h.update(chunk)
            left -= len(chunk)
        body = h.hexdigest().encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class _Http6(http.server.ThreadingHTTPServer):
    address_family = socket.AF_INET6


def start_http(directory, host):
    handler = lambda *a, **kw: _Http(*a, directory=directory, **kw)  # noqa: E731
    cls = _Http6 if ":" in host else http.server.ThreadingHTTPServer
    srv = cls((host, 0), handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv, srv.server_address[1]


def curl(*args):
    r = subprocess.run(["curl", "-sS", "--fail", "--max-time", str(int(120 * sslib.SLOW)), *args],
                       capture_output=True, check=False)
    if r.returncode != 0:
        raise AssertionError(f"curl {args} failed ({r.returncode}): {r.stderr.decode()}")
    return r.stdout


class TcpRelay(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.TemporaryDirectory()
        cls.blob = os.urandom(BIG)
        with open(os.path.join(cls.dir.name, "blob"), "wb") as f:
            f.write(cls.blob)
        with open(os.path.join(cls.dir.name, "index.html"), "w") as f:
            f.write("<html><body>hello through shadowsocks</body></html>\n")
        cls.http4, cls.http4_port = start_http(cls.dir.name, "127.0.0.1")
        cls.http6, cls.http6_port = start_http(cls.dir.name, "::1")
        cls.server, cls.server_port = sslib.our_server(METHOD, PASSWORD, "-v")
        cls.local, cls.local_port = sslib.our_local(cls.server_port, METHOD, PASSWORD, "-v")
        cls.socks = f"127.0.0.1:{cls.local_port}"

    @classmethod
    def tearDownClass(cls):
        cls.local.cleanup()
        cls.server.cleanup()
        sslib.stop_server(cls.http4)
        sslib.stop_server(cls.http6)
        cls.dir.cleanup()

    def test_page(self):
        page = curl("--socks5-hostname", self.socks, f"http://127.0.0.1:{self.http4_port}/")
        self.assertIn(b"hello through shadowsocks", page)

    def test_download_64_mib(self):
        body = curl("--socks5-hostname", self.socks,
                    f"http://127.0.0.1:{self.http4_port}/blob")
        self.assertEqual(hashlib.sha256(body).hexdigest(), hashlib.sha256(self.blob).hexdigest())

    def test_upload_64_mib(self):
        digest = curl("--socks5-hostname", self.socks, "-T", os.path.join(self.dir.name, "blob"),
                      f"http://127.0.0.1:{self.http4_port}/upload")
        self.assertEqual(digest.decode(), hashlib.sha256(self.blob).hexdigest())

    def test_ipv6_target(self):
        page = curl("--socks5-hostname", self.socks, f"http://[::1]:{self.http6_port}/")
        self.assertIn(b"hello through shadowsocks", page)
        # And with ATYP 4 sent explicitly by our own client.
        srv, port = sslib.serve(sslib.exchange_handler, host="::1")
        try:
            with sslib.socks5_connect(self.local_port, "::1", port) as s:
                sslib.exchange(s, 1 << 20, 1 << 20)
        finally:
            sslib.stop_server(srv)

    def test_domain_target_resolved_by_the_server(self):
        page = curl("--socks5-hostname", self.socks, f"http://localhost:{self.http4_port}/")
        self.assertIn(b"hello through shadowsocks", page)
        self.server.wait_for(rf"connected to localhost:{self.http4_port}")

    def test_half_close(self):
        srv, port = sslib.serve(sslib.collect_handler)
        try:
            payload = os.urandom(3 << 20)
            with sslib.socks5_connect(self.local_port, "127.0.0.1", port) as s:
                s.sendall(payload)
                s.shutdown(socket.SHUT_WR)
                answer = sslib.recv_all(s)
            self.assertEqual(answer[:32], hashlib.sha256(payload).digest())
            self.assertEqual(answer[32:], b"x" * (1 << 20))
        finally:
            sslib.stop_server(srv)

    def test_200_concurrent_connections_1_mib_each_way(self):
        asyncio.run(self._concurrent(200, 1 << 20))

    async def _concurrent(self, n, size):
        async def echo(reader, writer):
            try:
                while data := await reader.read(1 << 16):
                    writer.write(data)
                    await writer.drain()
            except (ConnectionError, asyncio.CancelledError):
                pass
            finally:
                writer.close()

        echo_srv = await asyncio.start_server(echo, "127.0.0.1", 0)
        port = echo_srv.sockets[0].getsockname()[1]

        async def one(i):
            reader, writer = await asyncio.open_connection("127.0.0.1", self.local_port)
            writer.write(b"\x05\x01\x00")
            self.assertEqual(await reader.readexactly(2), b"\x05\x00")
            writer.write(sslib.socks5_request("127.0.0.1", port))
            reply = await reader.readexactly(10)
            self.assertEqual(reply[:2], b"\x05\x00")
            data = os.urandom(size)

            async def send():
                for k in range(0, size, 1 << 16):
                    writer.write(data[k:k + (1 << 16)])
                    await writer.drain()

            sender = asyncio.create_task(send())
            got = await reader.readexactly(size)
            await sender
            writer.close()
            return got == data

        try:
            results = await asyncio.wait_for(asyncio.gather(*(one(i) for i in range(n))),
                                             timeout=300 * sslib.SLOW)
        finally:
            echo_srv.close()
        self.assertEqual(sum(results), n)


class Socks5Errors(unittest.TestCase):
    """RFC 1928 answers from ss-local for requests it cannot serve."""

    @classmethod
    def setUpClass(cls):
        cls.server, cls.server_port = sslib.our_server(METHOD, PASSWORD)
        cls.local, cls.local_port = sslib.our_local(cls.server_port, METHOD, PASSWORD)

    @classmethod
    def tearDownClass(cls):
        cls.local.cleanup()
        cls.server.cleanup()

    def connect(self):
        s = socket.create_connection(("127.0.0.1", self.local_port), timeout=15 * sslib.SLOW)
        return s

    def negotiate(self, s):
        s.sendall(b"\x05\x01\x00")
        self.assertEqual(sslib.recv_exact(s, 2), b"\x05\x00")

    def test_bind_is_command_not_supported(self):
        with self.connect() as s:
            self.negotiate(s)
            s.sendall(b"\x05\x02\x00\x01\x7f\x00\x00\x01\x00\x50")
            self.assertEqual(sslib.recv_exact(s, 2), b"\x05\x07")
            sslib.recv_exact(s, 8)
            self.assertEqual(sslib.recv_all(s), b"")

    def test_udp_associate_is_refused_in_tcp_only_mode(self):
        with self.connect() as s:
            self.negotiate(s)
            s.sendall(b"\x05\x03\x00\x01\x00\x00\x00\x00\x00\x00")
            self.assertEqual(sslib.recv_exact(s, 2), b"\x05\x07")

    def test_unknown_command_and_address_type(self):
        with self.connect() as s:
            self.negotiate(s)
            s.sendall(b"\x05\x09\x00\x01\x7f\x00\x00\x01\x00\x50")
            self.assertEqual(sslib.recv_exact(s, 2), b"\x05\x07")
        with self.connect() as s:
            self.negotiate(s)
            s.sendall(b"\x05\x01\x00\x05\x7f\x00\x00\x01\x00\x50")
            self.assertEqual(sslib.recv_exact(s, 2), b"\x05\x08")
            sslib.recv_exact(s, 8)
            self.assertEqual(sslib.recv_all(s), b"")

    def test_no_acceptable_method(self):
        with self.connect() as s:
            s.sendall(b"\x05\x01\x02")  # username/password only
            self.assertEqual(sslib.recv_exact(s, 2), b"\x05\xff")
            self.assertEqual(sslib.recv_all(s), b"")

    def test_not_socks5_is_closed_without_answer(self):
        # (HTTP and SOCKS4 are served on this port too: tests/interop/test_local_port.py.)
        for garbage in (b"\x16\x03\x01\x00\x05hello", b"\x00\x01", b"\x05\x00"):
            with self.connect() as s:
                s.sendall(garbage)
                self.assertEqual(sslib.recv_all(s), b"", garbage)
        self.local.wait_for("bad SOCKS5 greeting")

    def test_peers_keep_being_served(self):
        srv, port = sslib.serve(sslib.exchange_handler)
        try:
            with sslib.socks5_connect(self.local_port, "127.0.0.1", port) as s:
                sslib.exchange(s, 1000, 1000)
        finally:
            sslib.stop_server(srv)


class Failures(unittest.TestCase):
    def test_unreachable_server_closes_the_client(self):
        dead_port = sslib.free_port()
        local, local_port = sslib.our_local(dead_port, METHOD, PASSWORD)
        with sslib.running(local):
            with sslib.socks5_connect(local_port, "127.0.0.1", 80) as s:
                s.sendall(b"GET / HTTP/1.0\r\n\r\n")
                # Closed without a byte: a FIN, or a reset when the request came after ss-local
                # stopped waiting for it (unread data makes the kernel's close a reset).
                try:
                    self.assertEqual(sslib.recv_all(s), b"")
                except ConnectionResetError:
                    pass
            local.wait_for("cannot reach the server")

    def test_unreachable_target_ends_quietly(self):
        server, server_port = sslib.our_server(METHOD, PASSWORD, "-v")
        local, local_port = sslib.our_local(server_port, METHOD, PASSWORD)
        with sslib.running(server, local):
            with sslib.socks5_connect(local_port, "127.0.0.1", sslib.free_port()) as s:
                s.sendall(b"hello")
                self.assertEqual(sslib.recv_all(s), b"")
            server.wait_for("cannot connect")

    def test_garbage_to_the_server_ends_only_that_connection(self):
        server, server_port = sslib.our_server(METHOD, PASSWORD, "-t", 3)
        local, local_port = sslib.our_local(server_port, METHOD, PASSWORD)
        # Wrong password: a well-formed stream that fails authentication.
        wrong, wrong_port = sslib.our_local(server_port, METHOD, "wrong-password")
        srv, port = sslib.serve(sslib.exchange_handler)
        with sslib.running(server, local, wrong):
            try:
                bad = []
                for size in (1, 50, 200, 5000):
                    p = socket.create_connection(("127.0.0.1", server_port))
                    p.sendall(os.urandom(size))
                    bad.append(p)
                w = sslib.socks5_connect(wrong_port, "127.0.0.1", port)
                w.sendall(b"x")
                bad.append(w)
                # While all of those are open, a genuine client is served.
                with sslib.socks5_connect(local_port, "127.0.0.1", port) as good:
                    sslib.exchange(good, 1 << 20, 1 << 20)
                for p in bad:
                    p.settimeout(20 * sslib.SLOW)
                    # Nothing ever comes back; the connection ends after the server's deadline.
                    self.assertEqual(sslib.recv_all(p), b"")
                    p.close()
                server.wait_for("invalid request")
            finally:
                sslib.stop_server(srv)


    def test_a_wrong_password_is_named_by_the_client(self):
        # The server must stay silent (it cannot tell a wrong key from a probe), so ss-local
        # says what several unanswered connections in a row most likely mean; at the default
        # log level, and not before the third.
        server, server_port = sslib.our_server(METHOD, PASSWORD)
        wrong, wrong_port = sslib.our_local(server_port, METHOD, "a-different-password")
        srv, port = sslib.serve(sslib.exchange_handler)
        with sslib.running(server, wrong):
            try:
                for i in range(3):
                    with sslib.socks5_connect(wrong_port, "127.0.0.1", port) as s:
                        s.sendall(b"GET / HTTP/1.0\r\n\r\n")
                        s.shutdown(socket.SHUT_WR)  # the server then stops reading and closes
                        s.settimeout(20 * sslib.SLOW)
                        self.assertEqual(sslib.recv_all(s), b"")
                    if i < 2:
                        time.sleep(0.2 * sslib.SLOW)
                        self.assertNotIn("answered none", wrong.text())
                line = wrong.wait_for(r"warning the server answered none of the last 3 .*").group(0)
                self.assertIn("password or method", line)
                self.assertNotIn("a-different-password", wrong.text())
            finally:
                sslib.stop_server(srv)

    def test_answers_reset_the_count(self):
        server, server_port = sslib.our_server(METHOD, PASSWORD)
        local, local_port = sslib.our_local(server_port, METHOD, PASSWORD)
        srv, port = sslib.serve(sslib.exchange_handler)
        with sslib.running(server, local):
            try:
                for _ in range(4):
                    with sslib.socks5_connect(local_port, "127.0.0.1", port) as s:
                        sslib.exchange(s, 100, 100)
                time.sleep(0.2 * sslib.SLOW)
                self.assertNotIn("answered none", local.text())
            finally:
                sslib.stop_server(srv)


class SocketOptions(unittest.TestCase):
    def test_fast_open_no_delay_ipv6_first_and_one_worker(self):
        srv4, port4 = sslib.serve(sslib.exchange_handler)
        srv6, port6 = sslib.serve(sslib.exchange_handler, host="::1")
        opts = ["--fast-open", "--no-delay", "-6", "--workers", 1]
        server, server_port = sslib.our_server(METHOD, PASSWORD, *opts)
        local, local_port = sslib.our_local(server_port, METHOD, PASSWORD, *opts)
        with sslib.running(server, local):
            try:
                # -6 prefers IPv6 but still reaches a name with IPv4 addresses only (the
                # ordering itself is a unit test: tests/unit/net_test.cpp).
                for host, port in (("localhost", port4), ("::1", port6), ("127.0.0.1", port4)):
                    with sslib.socks5_connect(local_port, host, port) as s:
                        sslib.exchange(s, 2 << 20, 2 << 20)
            finally:
                sslib.stop_server(srv4)
                sslib.stop_server(srv6)


class IdleTimeout(unittest.TestCase):
    def test_idle_relay_is_closed_and_others_are_served(self):
        server, server_port = sslib.our_server(METHOD, PASSWORD, "-t", 2)
        local, local_port = sslib.our_local(server_port, METHOD, PASSWORD, "-t", 2)
        srv, port = sslib.serve(sslib.echo_handler)
        with sslib.running(server, local):
            try:
                with sslib.socks5_connect(local_port, "127.0.0.1", port) as s:
                    s.sendall(b"ping")
                    self.assertEqual(sslib.recv_exact(s, 4), b"ping")
                    started = time.monotonic()
                    s.settimeout(30 * sslib.SLOW)
                    self.assertEqual(s.recv(10), b"", "an idle relay must be closed")
                    waited = time.monotonic() - started
                    self.assertGreater(waited, 1.5)
                # The daemons keep serving.
                with sslib.socks5_connect(local_port, "127.0.0.1", port) as s:
                    s.sendall(b"again")
                    self.assertEqual(sslib.recv_exact(s, 5), b"again")
            finally:
                sslib.stop_server(srv)


class Tunnel(unittest.TestCase):
    def test_tunnel_forwards_to_the_fixed_destination(self):
        srv, port = sslib.serve(sslib.exchange_handler)
        server, server_port = sslib.our_server(METHOD, PASSWORD)
        tunnel, tunnel_port = sslib.our_tunnel(server_port, METHOD, PASSWORD, f"127.0.0.1:{port}")
        with sslib.running(server, tunnel):
            try:
                for _ in range(3):
                    with socket.create_connection(("127.0.0.1", tunnel_port)) as s:
                        s.settimeout(60 * sslib.SLOW)
                        sslib.exchange(s, 4 << 20, 4 << 20)
            finally:
                sslib.stop_server(srv)


class Signals(unittest.TestCase):
    def test_sigterm_stops_cleanly(self):
        server, _ = sslib.our_server(METHOD, PASSWORD)
        started = time.monotonic()
        self.assertEqual(server.stop(signal.SIGTERM), 0)
        self.assertLess(time.monotonic() - started, 5 * sslib.SLOW)
        self.assertIn("stopped", server.text())

    def test_open_connection_gets_grace_and_second_signal_exits_at_once(self):
        srv, port = sslib.serve(sslib.echo_handler)
        server, server_port = sslib.our_server(METHOD, PASSWORD)
        local, local_port = sslib.our_local(server_port, METHOD, PASSWORD)
        with sslib.running(server, local):
            try:
                with sslib.socks5_connect(local_port, "127.0.0.1", port) as s:
                    s.sendall(b"x")
                    self.assertEqual(sslib.recv_exact(s, 1), b"x")
                    local.p.send_signal(signal.SIGINT)
                    local.wait_for("stopping")
                    # Still relaying during the grace period.
                    s.sendall(b"y")
                    self.assertEqual(sslib.recv_exact(s, 1), b"y")
                    # New connections are no longer accepted (the workers close their
                    # listeners just after the log line; allow them a moment).
                    refused = False
                    for _ in range(100):
                        try:
                            socket.create_connection(("127.0.0.1", local_port), timeout=2).close()
                        except OSError:
                            refused = True
                            break
                        time.sleep(0.02)
                    self.assertTrue(refused, "the listener must be closed while stopping")
                    started = time.monotonic()
                    local.p.send_signal(signal.SIGINT)
                    self.assertEqual(local.p.wait(5), 0)
                    self.assertLess(time.monotonic() - started, 2)
            finally:
                sslib.stop_server(srv)

    def test_a_signal_while_exiting_does_not_change_the_exit_status(self):
        # A supervisor's second SIGTERM may land after "stopped", when the daemon's signal
        # handling is being torn down; it used to kill it then (status -15, about 1 exit in 60).
        for _ in range(40):
            p = subprocess.Popen([sslib.binary("ss-local"), "-s", "127.0.0.1", "-p", "9", "-l",
                                  "0", "-k", "a-long-enough-password", "--workers", "2"],
                                 stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
            try:
                self.assertIn("listening", p.stderr.readline())
                p.send_signal(signal.SIGTERM)
                for line in p.stderr:
                    if "stopped" in line:
                        p.send_signal(signal.SIGTERM)
                        break
                self.assertEqual(p.wait(10 * sslib.SLOW), 0)
            finally:
                if p.poll() is None:
                    p.kill()
                    p.wait()
                p.stderr.close()


if __name__ == "__main__":
    unittest.main(verbosity=2)
