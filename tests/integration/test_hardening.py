#!/usr/bin/env python3
"""Hardening (issue 5): outbound guard, replay filter, uniform reaction to probes, limits.
Everything on 127.0.0.1 / ::1."""

import os
import re
import socket
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import sslib  # noqa: E402

PASSWORD = "hardening-test-password"
METHOD = "aes-256-gcm"


class CountingServer:
    """A TCP server that counts the connections it accepts and answers b"hello"."""

    def __init__(self, host="127.0.0.1"):
        self.count = 0
        self.lock = threading.Lock()

        def handler(sock):
            with self.lock:
                self.count += 1
            sock.sendall(b"hello")

        self.srv, self.port = sslib.serve(handler, host=host)

    def stop(self):
        sslib.stop_server(self.srv)


class OutboundGuard(unittest.TestCase):
    """Targets on the server's own networks are refused by default, for TCP and UDP, and
    allowed with --outbound-allow-private. 10.1.2.3 and 169.254.169.254 are only ever checked
    in the refused case: the guard stops them before any packet leaves, whereas allowing them
    here would send traffic to addresses that are not ours."""

    def pair(self, allow):
        extra = ["--outbound-allow-private"] if allow else []
        server, server_port = sslib.our_server(METHOD, PASSWORD, "-v", "-u", *extra,
                                               allow_private=False)
        local, local_port = sslib.our_local(server_port, METHOD, PASSWORD, "-u")
        return server, local, local_port

    def fetch(self, local_port, host, port):
        with sslib.socks5_connect(local_port, host, port) as s:
            s.settimeout(10 * sslib.SLOW)
            return sslib.recv_all(s)

    def test_refused_by_default(self):
        target = CountingServer()
        target6 = CountingServer("::1")
        server, local, local_port = self.pair(allow=False)
        with sslib.running(server, local):
            try:
                for host, port in (("127.0.0.1", target.port), ("::1", target6.port),
                                   ("::ffff:127.0.0.1", target.port),
                                   ("localhost", target.port), ("10.1.2.3", 80),
                                   ("169.254.169.254", 80)):
                    with self.subTest(host=host):
                        self.assertEqual(self.fetch(local_port, host, port), b"")
                        shown = f"[{host}]" if ":" in host else host
                        server.wait_for(re.escape(f"-> {shown}:{port}: refused "))
                self.assertEqual(target.count + target6.count, 0)
            finally:
                target.stop()
                target6.stop()

    def test_allowed_with_the_flag(self):
        target = CountingServer()
        target6 = CountingServer("::1")
        server, local, local_port = self.pair(allow=True)
        with sslib.running(server, local):
            try:
                for host, port in (("127.0.0.1", target.port), ("::1", target6.port),
                                   ("::ffff:127.0.0.1", target.port),
                                   ("localhost", target.port)):
                    with self.subTest(host=host):
                        self.assertEqual(self.fetch(local_port, host, port), b"hello")
                self.assertEqual(target.count, 3)
                self.assertEqual(target6.count, 1)
            finally:
                target.stop()
                target6.stop()

    def test_udp_guarded_too(self):
        echo = sslib.UdpServer()
        try:
            for allow in (False, True):
                server, local, local_port = self.pair(allow=allow)
                with sslib.running(server, local):
                    control, relay = sslib.socks5_udp_associate(local_port)
                    with control, sslib.udp_client(timeout=1) as c:
                        c.sendto(sslib.udp_wrap("127.0.0.1", echo.port, b"ping"), relay)
                        try:
                            answer = sslib.udp_unwrap(c.recv(65535))[2]
                        except socket.timeout:
                            answer = None
                    self.assertEqual(answer, b"ping" if allow else None, f"allow={allow}")
                    if not allow:
                        server.wait_for("UDP datagram to 127.0.0.1 refused")
            self.assertEqual(echo.received, 1)
        finally:
            echo.stop()


if __name__ == "__main__":
    unittest.main(verbosity=2)
