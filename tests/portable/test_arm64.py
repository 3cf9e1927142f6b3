#!/usr/bin/env python3
"""The aarch64 static executable (issue 28), cross-built with Debian's crossbuild-essential-arm64
and run under qemu-aarch64-static, called directly (no binfmt_misc), interoperates with x86_64
peers on this machine:

- ss-server and ss-local each with Debian's x86_64 shadowsocks-libev both ways, TCP and UDP,
  for aes-256-gcm and chacha20-ietf-poly1305;
- for 2022-blake3-aes-128-gcm, which libev does not have: with our x86_64 static executable
  both ways, TCP and UDP, and with the client written from the specification
  (tests/integration/sip022.py) against the aarch64 ss-server, TCP and UDP.

SS_BIN_DIR is the aarch64 build's, SS_HOST_BIN_DIR the x86_64 static build's."""

import base64
import hashlib
import os
import shutil
import socket
import struct
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "../integration"))
import sip022  # noqa: E402
import sslib  # noqa: E402

ARM_BIN = sslib.BIN_DIR
HOST_BIN = os.environ.get("SS_HOST_BIN_DIR", "")
EMULATOR = shutil.which("qemu-aarch64-static")
# qemu translates every instruction: waits are longer than for native binaries.
SLOW = 4
PASSWORD = "arm64-interop-password"
LIBEV_METHODS = ("aes-256-gcm", "chacha20-ietf-poly1305")
METHOD_2022 = "2022-blake3-aes-128-gcm"
SIZE = 1 << 20


def arm64(program, *args):
    """Our aarch64 `program` under qemu, on a fixed free port given in args."""
    return sslib.Proc([EMULATOR, os.path.join(ARM_BIN, program), *args], name=f"arm64-{program}")


def host(program, *args):
    """Our x86_64 `program`."""
    return sslib.Proc([os.path.join(HOST_BIN, program), *args], name=f"x86_64-{program}")


def libev(program, *args):
    return sslib.Proc([program, *args], name=f"libev-{program}")


def server_args(port, method, password):
    return ["-s", "127.0.0.1", "-p", port, "-m", method, "-k", password, "-u"]


def client_args(server_port, local_port, method, password):
    return ["-s", "127.0.0.1", "-p", server_port, "-l", local_port, "-m", method, "-k", password,
            "-u"]


# Our server's targets are on loopback, which its outbound guard refuses by default.
OURS_SERVER_EXTRA = ["--outbound-allow-private"]


@unittest.skipUnless(EMULATOR, "qemu-user-static is not installed")
class Arm64(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        r = subprocess.run(["readelf", "-h", os.path.join(ARM_BIN, "shadowsocks-cpp")],
                           capture_output=True, text=True)
        if "AArch64" not in r.stdout:
            raise unittest.SkipTest("SS_BIN_DIR holds no aarch64 executable")
        cls.target, cls.target_port = sslib.serve(sslib.exchange_handler)
        cls.echo = sslib.UdpServer()

    @classmethod
    def tearDownClass(cls):
        sslib.stop_server(cls.target)
        cls.echo.stop()

    def stop_all(self, *procs):
        """Stops each; ours must exit 0 on SIGTERM (libev's exit code is its own business)."""
        for p in procs:
            code = p.stop(timeout=10 * SLOW)
            if not p.name.startswith("libev-") and code != 0:
                raise AssertionError(f"{p.name} exited with {code}:\n{p.text()[-3000:]}")

    def relay_both(self, local_port):
        """TCP: 1 MiB each way checked by SHA-256; UDP: three datagrams echoed."""
        with sslib.socks5_connect(local_port, "127.0.0.1", self.target_port,
                                  timeout=60 * SLOW) as s:
            sslib.exchange(s, SIZE, SIZE)
        control, relay = sslib.socks5_udp_associate(local_port, timeout=10 * SLOW)
        with control, sslib.udp_client(timeout=5 * SLOW) as c:
            for i in range(3):
                payload = os.urandom(200 + i)
                _, port, data = sslib.udp_roundtrip(c, relay, "127.0.0.1", self.echo.port,
                                                    payload)
                self.assertEqual((port, data), (self.echo.port, payload))

    def pair(self, make_server, make_local, method, password):
        server_port, local_port = sslib.free_port(), sslib.free_port()
        server = make_server(server_port, method, password)
        local = make_local(server_port, local_port, method, password)
        try:
            sslib.wait_listening(server_port, timeout=20 * SLOW)
            sslib.wait_listening(local_port, timeout=20 * SLOW)
            self.relay_both(local_port)
        finally:
            self.stop_all(local, server)

    def test_it_is_an_aarch64_static_executable(self):
        r = subprocess.run(["readelf", "-hl", os.path.join(ARM_BIN, "shadowsocks-cpp")],
                           capture_output=True, text=True)
        self.assertIn("AArch64", r.stdout)
        self.assertNotIn("INTERP", r.stdout)
        r = subprocess.run([EMULATOR, os.path.join(ARM_BIN, "ss-server"), "--version"],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual((r.returncode, r.stdout.strip()), (0, "ss-server 0.1.0"))

    def test_our_server_with_libev_local(self):
        for method in LIBEV_METHODS:
            with self.subTest(method=method):
                self.pair(lambda p, m, k: arm64("ss-server", *server_args(p, m, k),
                                                *OURS_SERVER_EXTRA),
                          lambda sp, lp, m, k: libev("ss-local", *client_args(sp, lp, m, k)),
                          method, PASSWORD)

    def test_our_local_with_libev_server(self):
        for method in LIBEV_METHODS:
            with self.subTest(method=method):
                self.pair(lambda p, m, k: libev("ss-server", *server_args(p, m, k)),
                          lambda sp, lp, m, k: arm64("ss-local", *client_args(sp, lp, m, k)),
                          method, PASSWORD)

    @unittest.skipUnless(HOST_BIN, "SS_HOST_BIN_DIR (our x86_64 build) is not given")
    def test_2022_with_our_x86_64_both_ways(self):
        key = base64.b64encode(sip022.keygen(METHOD_2022)).decode()
        with self.subTest(server="aarch64"):
            self.pair(lambda p, m, k: arm64("ss-server", *server_args(p, m, k),
                                            *OURS_SERVER_EXTRA),
                      lambda sp, lp, m, k: host("ss-local", *client_args(sp, lp, m, k)),
                      METHOD_2022, key)
        with self.subTest(server="x86_64"):
            self.pair(lambda p, m, k: host("ss-server", *server_args(p, m, k),
                                           *OURS_SERVER_EXTRA),
                      lambda sp, lp, m, k: arm64("ss-local", *client_args(sp, lp, m, k)),
                      METHOD_2022, key)

    def test_2022_spec_client_against_our_server(self):
        psk = sip022.keygen(METHOD_2022)
        key = base64.b64encode(psk).decode()
        port = sslib.free_port()
        server = arm64("ss-server", *server_args(port, METHOD_2022, key), *OURS_SERVER_EXTRA)
        try:
            sslib.wait_listening(port, timeout=20 * SLOW)
            # TCP: a request with its payload, the target's answer read back by the spec.
            with socket.create_connection(("127.0.0.1", port), timeout=30 * SLOW) as s:
                up = os.urandom(5000)
                head, salt, aead = sip022.request_stream(
                    METHOD_2022, psk, "127.0.0.1", self.target_port,
                    payload=struct.pack(">QQ", len(up), 3000))
                s.sendall(head + sip022.seal_chunks(aead, up))
                reader = sip022.ResponseReader(METHOD_2022, psk, s, salt)
                htype, _, request_salt, first = reader.header()
                self.assertEqual((htype, request_salt), (1, salt))
                data = reader.read_all(first)  # to the end of the stream
                self.assertEqual(len(data), 32 + 3000 + 32)
                self.assertEqual(data[:32], hashlib.sha256(up).digest())
                self.assertEqual(data[-32:], hashlib.sha256(data[32:-32]).digest())
            # UDP: a client packet to the echo server, the answer opened by the spec.
            with sslib.udp_client(timeout=10 * SLOW) as c:
                session = os.urandom(8)
                payload = os.urandom(300)
                c.sendto(sip022.udp_client_packet(METHOD_2022, psk, session, 0, "127.0.0.1",
                                                  self.echo.port, payload), ("127.0.0.1", port))
                answer, _ = c.recvfrom(65535)
                _, _, htype, _, client_session, rest = sip022.udp_open_server_packet(
                    METHOD_2022, psk, answer)
                self.assertEqual((htype, client_session), (1, session))
                self.assertEqual(rest, sip022.socks_address("127.0.0.1", self.echo.port) +
                                 payload)
        finally:
            self.stop_all(server)


if __name__ == "__main__":
    unittest.main(verbosity=2)
