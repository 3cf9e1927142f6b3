#!/usr/bin/env python3
"""Interoperability with Debian's shadowsocks-libev 3.3.5 (issue 3): every method both ways,
16 MiB up and 16 MiB down per transfer, checked by SHA-256 at both ends."""

import os
import shutil
import socket
import sys
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "integration"))
import sslib  # noqa: E402

SIZE = 16 << 20
PASSWORD = "interop-password-密码"


@unittest.skipUnless(shutil.which("ss-server"), "shadowsocks-libev is not installed")
class LibevInterop(sslib.TargetTestCase):
    target_handler = staticmethod(sslib.exchange_handler)

    def transfer_via_socks(self, socks_port):
        with sslib.socks5_connect(socks_port, "127.0.0.1", self.target_port, timeout=120) as s:
            sslib.exchange(s, SIZE, SIZE)

    def transfer_via_tunnel(self, tunnel_port):
        with socket.create_connection(("127.0.0.1", tunnel_port)) as s:
            s.settimeout(120 * sslib.SLOW)
            sslib.exchange(s, SIZE, SIZE)

    def libev_server(self, method):
        port = sslib.free_port()
        p = sslib.libev("ss-server", "-s", "127.0.0.1", "-p", port, "-k", PASSWORD, "-m", method,
                        port=port)
        return p, port

    def test_our_local_to_libev_server(self):
        for method in sslib.METHODS:
            with self.subTest(method=method):
                server, server_port = self.libev_server(method)
                local, local_port = sslib.our_local(server_port, method, PASSWORD)
                with sslib.running(local, server):
                    self.transfer_via_socks(local_port)

    def test_libev_local_to_our_server(self):
        for method in sslib.METHODS:
            with self.subTest(method=method):
                server, server_port = sslib.our_server(method, PASSWORD)
                local_port = sslib.free_port()
                local = sslib.libev("ss-local", "-s", "127.0.0.1", "-p", server_port, "-l",
                                    local_port, "-k", PASSWORD, "-m", method, port=local_port)
                with sslib.running(local, server):
                    self.transfer_via_socks(local_port)

    def test_our_tunnel_to_libev_server(self):
        for method in sslib.METHODS:
            with self.subTest(method=method):
                server, server_port = self.libev_server(method)
                tunnel, tunnel_port = sslib.our_tunnel(server_port, method, PASSWORD,
                                                       f"127.0.0.1:{self.target_port}")
                with sslib.running(tunnel, server):
                    self.transfer_via_tunnel(tunnel_port)

    def test_libev_tunnel_to_our_server(self):
        for method in sslib.METHODS:
            with self.subTest(method=method):
                server, server_port = sslib.our_server(method, PASSWORD)
                tunnel_port = sslib.free_port()
                tunnel = sslib.libev("ss-tunnel", "-s", "127.0.0.1", "-p", server_port, "-l",
                                     tunnel_port, "-k", PASSWORD, "-m", method, "-L",
                                     f"127.0.0.1:{self.target_port}", port=tunnel_port)
                with sslib.running(tunnel, server):
                    self.transfer_via_tunnel(tunnel_port)

    def test_base64_key_instead_of_password(self):
        # libev's --key takes URL-safe base64; ours takes that (and the standard alphabet).
        # "密码" derives exactly this key (the EVP_BytesToKey vector), so a password on one
        # side and the key on the other must interoperate too.
        key = "qBBSBGBKCxHpFvOHmq47C85cafdYUUFJ2mBau_FoAZQ="
        for ours in (["--key", key], ["-k", "密码"]):
            with self.subTest(ours=ours[0]):
                port = sslib.free_port()
                server = sslib.libev("ss-server", "-s", "127.0.0.1", "-p", port, "--key", key,
                                     "-m", "aes-256-gcm", port=port)
                local = sslib.Proc([sslib.binary("ss-local"), "-s", "127.0.0.1", "-p", port,
                                    "-l", 0, "-m", "aes-256-gcm", *ours])
                with sslib.running(local, server):
                    self.transfer_via_socks(local.listen_port())


@unittest.skipUnless(shutil.which("ss-server"), "shadowsocks-libev is not installed")
class LibevUdpInterop(unittest.TestCase):
    """UDP relay (issue 4) against libev's -u, every method, both directions."""

    COUNT = 50

    @classmethod
    def setUpClass(cls):
        cls.echo = sslib.UdpServer("127.0.0.1")

    @classmethod
    def tearDownClass(cls):
        cls.echo.stop()

    def echo_via_socks(self, socks_port):
        control, relay = sslib.socks5_udp_associate(socks_port)
        with control, sslib.udp_client(timeout=5) as c:
            for i in range(self.COUNT):
                payload = os.urandom(1 + i * 29)
                c.sendto(sslib.udp_wrap("127.0.0.1", self.echo.port, payload), relay)
                host, port, data = sslib.udp_unwrap(c.recv(65535))
                self.assertEqual((host, port, data), ("127.0.0.1", self.echo.port, payload))

    def echo_via_tunnel(self, tunnel_port):
        with sslib.udp_client(timeout=5) as c:
            for i in range(self.COUNT):
                payload = os.urandom(1 + i * 29)
                c.sendto(payload, ("127.0.0.1", tunnel_port))
                self.assertEqual(c.recv(65535), payload)

    def test_our_local_to_libev_server(self):
        for method in sslib.METHODS:
            with self.subTest(method=method):
                port = sslib.free_port()
                server = sslib.libev("ss-server", "-s", "127.0.0.1", "-p", port, "-k", PASSWORD,
                                     "-m", method, "-u", port=port)
                local, local_port = sslib.our_local(port, method, PASSWORD, "-u")
                with sslib.running(local, server):
                    self.echo_via_socks(local_port)

    def test_libev_local_to_our_server(self):
        for method in sslib.METHODS:
            with self.subTest(method=method):
                server, server_port = sslib.our_server(method, PASSWORD, "-u")
                local_port = sslib.free_port()
                local = sslib.libev("ss-local", "-s", "127.0.0.1", "-p", server_port, "-l",
                                    local_port, "-k", PASSWORD, "-m", method, "-u",
                                    port=local_port)
                with sslib.running(local, server):
                    self.echo_via_socks(local_port)

    def test_tunnels_both_ways(self):
        dest = f"127.0.0.1:{self.echo.port}"
        for method in sslib.METHODS:
            with self.subTest(method=method, ours="tunnel"):
                port = sslib.free_port()
                server = sslib.libev("ss-server", "-s", "127.0.0.1", "-p", port, "-k", PASSWORD,
                                     "-m", method, "-u", port=port)
                tunnel, tunnel_port = sslib.our_tunnel(port, method, PASSWORD, dest, "-U")
                with sslib.running(tunnel, server):
                    self.echo_via_tunnel(tunnel_port)
            with self.subTest(method=method, ours="server"):
                server, server_port = sslib.our_server(method, PASSWORD, "-U")
                tunnel_port = sslib.free_port()
                tunnel = sslib.Proc(["ss-tunnel", "-s", "127.0.0.1", "-p", server_port, "-l",
                                     tunnel_port, "-k", PASSWORD, "-m", method, "-U", "-L",
                                     dest], name="libev-ss-tunnel")
                with sslib.running(tunnel, server):
                    time.sleep(0.3 * sslib.SLOW)  # UDP: nothing to connect to to see it ready
                    self.echo_via_tunnel(tunnel_port)


if __name__ == "__main__":
    unittest.main(verbosity=2)
