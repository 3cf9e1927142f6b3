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
                    # New connections are no longer accepted.
                    with self.assertRaises(OSError):
                        socket.create_connection(("127.0.0.1", local_port), timeout=2).close()
                    started = time.monotonic()
                    local.p.send_signal(signal.SIGINT)
                    self.assertEqual(local.p.wait(5), 0)
                    self.assertLess(time.monotonic() - started, 2)
            finally:
                sslib.stop_server(srv)


if __name__ == "__main__":
    unittest.main(verbosity=2)
