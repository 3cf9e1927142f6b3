#!/usr/bin/env python3
"""Interoperability with Debian's shadowsocks-libev 3.3.5 (issue 3): every method both ways,
16 MiB up and 16 MiB down per transfer, checked by SHA-256 at both ends."""

import os
import shutil
import socket
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "integration"))
import sslib  # noqa: E402

SIZE = 16 << 20
PASSWORD = "interop-password-密码"


@unittest.skipUnless(shutil.which("ss-server"), "shadowsocks-libev is not installed")
class LibevInterop(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.target, cls.target_port = sslib.serve(sslib.exchange_handler)

    @classmethod
    def tearDownClass(cls):
        sslib.stop_server(cls.target)

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


if __name__ == "__main__":
    unittest.main(verbosity=2)
