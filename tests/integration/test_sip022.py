#!/usr/bin/env python3
"""Shadowsocks 2022 (issue 13): ours <-> ours for the three methods, and our server and client
against a client and a server written from SIP022 (sip022.py: b3sum's BLAKE3,
python3-cryptography's AEADs), including every refusal SIP022 asks of a server."""

import base64
import contextlib
import hashlib
import os
import select
import socket
import struct
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import sip022  # noqa: E402
import sslib  # noqa: E402

METHODS = list(sip022.METHODS)


def b64(key):
    return base64.b64encode(key).decode()


def connect(port, host="127.0.0.1"):
    return socket.create_connection((host, port), timeout=10 * sslib.SLOW)


def assert_refused_quietly(test, sock, what):
    """SIP022 3.1.4: a refused request gets nothing back, and the server does not close first
    (closing could tell how many bytes it read): it drains until the client closes, then
    closes cleanly (FIN, not RST)."""
    ready, _, _ = select.select([sock], [], [], 0.4)
    test.assertEqual(ready, [], f"{what}: the server answered or closed at once")
    sock.shutdown(socket.SHUT_WR)
    sock.settimeout(10 * sslib.SLOW)
    try:
        data = sock.recv(1 << 16)
    except ConnectionResetError:
        test.fail(f"{what}: reset instead of a clean close")
    test.assertEqual(data, b"", f"{what}: the server sent data")


class Ours(sslib.TargetTestCase):
    """Our ss-local and ss-server with each 2022 method: IPv4, IPv6 and domain targets."""

    target_handler = staticmethod(sslib.exchange_handler)

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.pairs = {}
        for m in METHODS:
            key = b64(sip022.keygen(m))
            server, server_port = sslib.our_server(m, key)
            local, local_port = sslib.our_local(server_port, m, key)
            cls.pairs[m] = (server, local, local_port)

    @classmethod
    def tearDownClass(cls):
        for server, local, _ in cls.pairs.values():
            local.cleanup()
            server.cleanup()
        super().tearDownClass()

    def test_ipv4_ipv6_and_domain_targets_both_ways(self):
        srv6, port6 = sslib.serve(sslib.exchange_handler, host="::1")
        try:
            for m, (_, _, local_port) in self.pairs.items():
                for host, port, size in (("127.0.0.1", self.target_port, 8 << 20),
                                         ("::1", port6, 1 << 20),
                                         ("localhost", self.target_port, 100_000)):
                    with self.subTest(method=m, host=host):
                        with sslib.socks5_connect(local_port, host, port) as s:
                            sslib.exchange(s, size, size)
        finally:
            sslib.stop_server(srv6)

    def test_a_server_speaking_first_is_relayed(self):
        # No initial payload: the client sends padding alone (SIP022 3.1.4).
        def greet(sock):
            sock.sendall(b"220 hello\r\n")
            sock.recv(100)

        srv, port = sslib.serve(greet)
        try:
            for m, (_, _, local_port) in self.pairs.items():
                with self.subTest(method=m), sslib.socks5_connect(local_port, "127.0.0.1",
                                                                  port) as s:
                    self.assertEqual(sslib.recv_exact(s, 11), b"220 hello\r\n")
        finally:
            sslib.stop_server(srv)


class SpecClientAgainstOurServer(unittest.TestCase):
    """Requests built from SIP022 by sip022.py, good and bad, to our ss-server."""

    @classmethod
    def setUpClass(cls):
        cls.echo, cls.echo_port = sslib.serve(sslib.echo_handler)
        cls.servers = {}
        for m in METHODS:
            psk = sip022.keygen(m)
            server, port = sslib.our_server(m, b64(psk), "-t", "20")
            cls.servers[m] = (server, port, psk)

    @classmethod
    def tearDownClass(cls):
        for server, _, _ in cls.servers.values():
            server.cleanup()
        sslib.stop_server(cls.echo)

    def echo_through(self, method, payload=b"ping", padding=None):
        _, port, psk = self.servers[method]
        stream, salt, aead = sip022.request_stream(method, psk, "127.0.0.1", self.echo_port,
                                                   payload, padding=padding)
        with connect(port) as s:
            s.sendall(stream)
            if not payload:
                s.sendall(sip022.seal_chunks(aead, b"later"))
            reader = sip022.ResponseReader(method, psk, s, salt)
            htype, ts, request_salt, length = reader.header()
            self.assertEqual(htype, 1)
            self.assertLessEqual(abs(ts - time.time()), 2)
            self.assertEqual(request_salt, salt, "the response names our request's salt")
            s.shutdown(socket.SHUT_WR)
            return reader.read_all(length)

    def test_good_requests_are_served_by_every_method(self):
        for m in METHODS:
            with self.subTest(method=m):
                self.assertEqual(self.echo_through(m, b"ping" * 1000), b"ping" * 1000)
                self.assertEqual(self.echo_through(m, b""), b"later")  # padding only
                self.assertEqual(self.echo_through(m, b"x", padding=b"\0" * 900), b"x")

    def bad_requests(self, method, psk):
        """Each a request SIP022 says a server must refuse, and why."""
        host, port = "127.0.0.1", self.echo_port
        now = int(time.time())
        req = sip022.request_stream
        # 32 s: "more than 30" even when the second turns between here and the server's check.
        yield "timestamp 32 s behind", req(method, psk, host, port, b"x", timestamp=now - 32)[0]
        yield "timestamp 32 s ahead", req(method, psk, host, port, b"x", timestamp=now + 32)[0]
        yield "timestamp zero", req(method, psk, host, port, b"x", timestamp=0)[0]
        yield "no padding and no payload", req(method, psk, host, port, b"", padding=b"")[0]
        yield "901 bytes of padding", req(method, psk, host, port, b"x", padding=b"\0" * 901)[0]
        yield "header type 1 (a response)", req(method, psk, host, port, b"x", header_type=1)[0]
        yield "another key", req(method, sip022.keygen(method), host, port, b"x")[0]
        # A variable header whose padding runs past its chunk.
        size = sip022.METHODS[method][0]
        salt = os.urandom(size)
        aead = sip022.Aead(method, psk, salt)
        variable = sip022.socks_address(host, port) + struct.pack(">H", 50) + b"\0" * 10
        fixed = struct.pack(">BQH", 0, now, len(variable))
        yield "padding past the header chunk", salt + aead.seal(fixed) + aead.seal(variable)
        # One byte at a time is no different from garbage (nothing tells how many were read).
        yield "random bytes", os.urandom(200)

    def test_every_refusal_looks_the_same_and_others_are_served(self):
        for m in METHODS:
            server, port, psk = self.servers[m]
            for what, data in self.bad_requests(m, psk):
                with self.subTest(method=m, refusal=what), connect(port) as s:
                    s.sendall(data)
                    assert_refused_quietly(self, s, what)
            self.assertEqual(self.echo_through(m, b"still here"), b"still here")
            self.assertIsNone(server.p.poll())
            server.wait_for(r"invalid request")

    def test_a_replayed_request_is_refused(self):
        m = "2022-blake3-aes-128-gcm"
        _, port, psk = self.servers[m]
        stream, salt, _ = sip022.request_stream(m, psk, "127.0.0.1", self.echo_port, b"once")
        with connect(port) as s:
            s.sendall(stream)
            reader = sip022.ResponseReader(m, psk, s, salt)
            _, _, _, length = reader.header()
            s.shutdown(socket.SHUT_WR)
            self.assertEqual(reader.read_all(length), b"once")
        with connect(port) as s:
            s.sendall(stream)
            assert_refused_quietly(self, s, "the same request again")

    def test_reflected_response_is_refused(self):
        # The server's own response stream sent back to it as a request.
        m = "2022-blake3-aes-256-gcm"
        _, port, psk = self.servers[m]
        stream, _, _ = sip022.request_stream(m, psk, "127.0.0.1", self.echo_port, b"x" * 100)
        with connect(port) as s:
            s.sendall(stream)
            time.sleep(0.3)
            response = s.recv(1 << 16)
        self.assertGreater(len(response), 0)
        with connect(port) as s:
            s.sendall(response)
            assert_refused_quietly(self, s, "a reflected response")


class SpecServerForOurClient(unittest.TestCase):
    """Our ss-local against a server written from SIP022: what our request looks like, and
    what our client does with wrong responses."""

    method = "2022-blake3-aes-256-gcm"

    def setUp(self):
        self.psk = sip022.keygen(self.method)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.local, self.local_port = sslib.our_local(self.listener.getsockname()[1],
                                                      self.method, b64(self.psk))

    def tearDown(self):
        self.local.cleanup()
        self.listener.close()

    def accept_request(self):
        """Accepts our client's connection; reads its first write and decodes it by the spec.
        Returns (socket, salt, timestamp, address bytes, padding length, payload)."""
        self.listener.settimeout(10 * sslib.SLOW)
        conn, _ = self.listener.accept()
        conn.settimeout(10 * sslib.SLOW)
        size = sip022.METHODS[self.method][0]
        first = conn.recv(1 << 16)
        # SIP022 3.1.4: salt and both header chunks arrive in one write (loopback keeps it
        # in one segment).
        salt = first[:size]
        aead = sip022.Aead(self.method, self.psk, salt)
        fixed = aead.open(first[size:size + 11 + 16])
        htype, ts, length = struct.unpack(">BQH", fixed)
        self.assertEqual(htype, 0)
        rest = first[size + 27:]
        self.assertEqual(len(rest), length + 16, "the variable header came in the same write")
        variable = aead.open(rest)
        address_end = {1: 7, 4: 19}.get(variable[0]) or 2 + variable[1] + 2
        pad = struct.unpack(">H", variable[address_end:address_end + 2])[0]
        payload = variable[address_end + 2 + pad:]
        return conn, salt, ts, variable[:address_end], pad, payload

    def respond(self, conn, request_salt, data, timestamp=None, htype=1):
        size = sip022.METHODS[self.method][0]
        salt = os.urandom(size)
        aead = sip022.Aead(self.method, self.psk, salt)
        ts = int(time.time()) if timestamp is None else timestamp
        header = struct.pack(">BQ", htype, ts) + request_salt + struct.pack(">H", len(data))
        conn.sendall(salt + aead.seal(header) + aead.seal(data))

    def test_request_with_payload_and_a_good_response(self):
        with sslib.socks5_connect(self.local_port, "example.com", 8080) as app:
            app.sendall(b"GET / HTTP/1.0\r\n\r\n")
            conn, salt, ts, address, pad, payload = self.accept_request()
            with conn:
                self.assertLessEqual(abs(ts - time.time()), 2)
                self.assertEqual(address, sip022.socks_address("example.com", 8080))
                self.assertEqual(payload, b"GET / HTTP/1.0\r\n\r\n")
                self.respond(conn, salt, b"HTTP/1.0 200 OK\r\n\r\n")
                self.assertEqual(sslib.recv_exact(app, 19), b"HTTP/1.0 200 OK\r\n\r\n")

    def test_request_without_payload_is_padded(self):
        with sslib.socks5_connect(self.local_port, "10.1.2.3", 25) as app:
            conn, salt, _, address, pad, payload = self.accept_request()
            with conn:
                self.assertEqual(address, sip022.socks_address("10.1.2.3", 25))
                self.assertEqual(payload, b"")
                self.assertTrue(1 <= pad <= 900, pad)
                self.respond(conn, salt, b"220 ready\r\n")
                self.assertEqual(sslib.recv_exact(app, 11), b"220 ready\r\n")

    def test_wrong_responses_reach_no_application(self):
        cases = [("another request's salt", dict(salt=os.urandom(32))),
                 ("a timestamp 40 s old", dict(timestamp=int(time.time()) - 40)),
                 ("type 0 (a request)", dict(htype=0))]
        for what, wrong in cases:
            with self.subTest(what), sslib.socks5_connect(self.local_port, "1.2.3.4", 80) as app:
                app.sendall(b"hello")
                conn, salt, *_ = self.accept_request()
                with conn:
                    self.respond(conn, wrong.get("salt", salt), b"forged answer",
                                 timestamp=wrong.get("timestamp"), htype=wrong.get("htype", 1))
                    app.settimeout(10 * sslib.SLOW)
                    with contextlib.suppress(ConnectionResetError):
                        self.assertEqual(sslib.recv_all(app), b"", what)


if __name__ == "__main__":
    unittest.main(verbosity=2)
