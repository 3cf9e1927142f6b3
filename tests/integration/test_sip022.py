#!/usr/bin/env python3
"""Shadowsocks 2022 (issue 13): ours <-> ours for the three methods, and our server and client
against a client and a server written from SIP022 (sip022.py: b3sum's BLAKE3,
python3-cryptography's AEADs), including every refusal SIP022 asks of a server."""

import base64
import contextlib
import json
import os
import select
import signal
import socket
import struct
import subprocess
import sys
import tempfile
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


    def test_tunnel_tcp(self):
        for m, (server, _, _) in self.pairs.items():
            key = server.args[server.args.index("-k") + 1]
            tunnel, port = sslib.our_tunnel(server.listen_port(), m, key,
                                            f"127.0.0.1:{self.target_port}")
            with self.subTest(method=m), sslib.running(tunnel), connect(port) as s:
                sslib.exchange(s, 1 << 20, 1 << 20)


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
        # 40 s: "more than 30" even when the requests are sent a few seconds after this.
        yield "timestamp 40 s behind", req(method, psk, host, port, b"x", timestamp=now - 40)[0]
        yield "timestamp 40 s ahead", req(method, psk, host, port, b"x", timestamp=now + 40)[0]
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


class OursUdp(unittest.TestCase):
    """UDP ASSOCIATE in ss-local and ss-tunnel -u with each 2022 method."""

    @classmethod
    def setUpClass(cls):
        cls.echo4 = sslib.UdpServer("127.0.0.1")
        cls.echo6 = sslib.UdpServer("::1")

    @classmethod
    def tearDownClass(cls):
        cls.echo4.stop()
        cls.echo6.stop()

    def test_socks5_udp_to_ipv4_ipv6_and_domain_targets(self):
        for m in METHODS:
            key = b64(sip022.keygen(m))
            server, server_port = sslib.our_server(m, key, "-u")
            local, local_port = sslib.our_local(server_port, m, key, "-u")
            with self.subTest(method=m), sslib.running(server, local):
                control, relay = sslib.socks5_udp_associate(local_port)
                with control, sslib.udp_client() as c:
                    for target, port, source in (("127.0.0.1", self.echo4.port, "127.0.0.1"),
                                                 ("::1", self.echo6.port, "::1"),
                                                 ("localhost", self.echo4.port, "127.0.0.1")):
                        for size in (1, 100, 1400, 8192):
                            payload = os.urandom(size)
                            host, p, data = sslib.udp_roundtrip(c, relay, target, port, payload)
                            self.assertEqual(data, payload)
                            self.assertEqual((host, p), (source, port))

    def test_tunnel_udp(self):
        for m in METHODS:
            key = b64(sip022.keygen(m))
            server, server_port = sslib.our_server(m, key, "-u")
            tunnel, tunnel_port = sslib.our_tunnel(server_port, m, key,
                                                   f"127.0.0.1:{self.echo4.port}", "-u")
            with self.subTest(method=m), sslib.running(server, tunnel), \
                    sslib.udp_client() as a, sslib.udp_client() as b:
                for client in (a, b, a, b):
                    payload = os.urandom(300)
                    client.sendto(payload, ("127.0.0.1", tunnel_port))
                    self.assertEqual(client.recv(65535), payload)


class SpecUdpClientAgainstOurServer(unittest.TestCase):
    """Packets built from SIP022 by sip022.py to our ss-server -u."""

    @classmethod
    def setUpClass(cls):
        cls.echo = sslib.UdpServer("127.0.0.1")
        cls.servers = {}
        for m in METHODS:
            psk = sip022.keygen(m)
            server, port = sslib.our_server(m, b64(psk), "-u")
            cls.servers[m] = (server, port, psk)

    @classmethod
    def tearDownClass(cls):
        for server, _, _ in cls.servers.values():
            server.cleanup()
        cls.echo.stop()

    def ask(self, sock, method, packet):
        """Sends `packet`; returns the opened answer's fields."""
        _, port, psk = self.servers[method]
        sock.sendto(packet, ("127.0.0.1", port))
        sock.settimeout(5 * sslib.SLOW)
        answer = sock.recv(65535)
        return sip022.udp_open_server_packet(method, psk, answer)

    def packet(self, method, session, pid, data=b"hello", **kw):
        psk = self.servers[method][2]
        return sip022.udp_client_packet(method, psk, session, pid, "127.0.0.1", self.echo.port,
                                        data, **kw)

    def test_answers_name_our_session_and_count_their_own(self):
        for m in METHODS:
            with self.subTest(method=m), sslib.udp_client() as c:
                session = os.urandom(8)
                seen = []
                for pid in range(3):
                    data = os.urandom(200)
                    fields = self.ask(c, m, self.packet(m, session, pid, data))
                    server_session, server_pid, htype, ts, client_session, rest = fields
                    self.assertEqual(htype, 1)
                    self.assertEqual(client_session, session)
                    self.assertNotEqual(server_session, session)
                    self.assertLessEqual(abs(ts - time.time()), 2)
                    host, port, n = sslib.parse_address(rest)
                    self.assertEqual((host, port, rest[n:]), ("127.0.0.1", self.echo.port, data))
                    seen.append((server_session, server_pid))
                self.assertEqual({s for s, _ in seen}, {seen[0][0]}, "one server session")
                self.assertEqual([p for _, p in seen], [0, 1, 2])
                # With padding, as a client may send it.
                fields = self.ask(c, m, self.packet(m, session, 3, b"pad", padding=b"\0" * 33))
                self.assertTrue(fields[5].endswith(b"pad"))

    def test_refused_packets_get_no_answer_and_the_session_goes_on(self):
        for m in METHODS:
            server, port, psk = self.servers[m]
            with self.subTest(method=m), sslib.udp_client() as c:
                session = os.urandom(8)
                good = self.packet(m, session, 5000, b"first")
                self.assertEqual(self.ask(c, m, good)[5][7:], b"first")
                now = int(time.time())
                bad = {
                    "the same packet again": good,
                    "a packet ID already seen": self.packet(m, session, 5000, b"again"),
                    "a packet ID a window behind": self.packet(m, session, 1000, b"old"),
                    "a timestamp 40 s behind": self.packet(m, session, 5001, timestamp=now - 40),
                    "a timestamp 40 s ahead": self.packet(m, session, 5002, timestamp=now + 40),
                    "type 1 (a server packet)": self.packet(m, session, 5003, header_type=1),
                    "another key": sip022.udp_client_packet(m, sip022.keygen(m), session, 5004,
                                                            "127.0.0.1", self.echo.port, b"x"),
                    "random bytes": os.urandom(100),
                    "too short": os.urandom(20),
                }
                for what, packet in bad.items():
                    with self.subTest(method=m, refused=what):
                        c.sendto(packet, ("127.0.0.1", port))
                        sslib.expect_silence(c, 0.3)
                # The refused IDs were not recorded: 5001 is still usable, and the session too.
                self.assertEqual(self.ask(c, m, self.packet(m, session, 5001, b"ok"))[5][7:],
                                 b"ok")
                # A server packet reflected back to the server.
                c.sendto(self.packet(m, session, 5002, b"reflect"), ("127.0.0.1", port))
                answer = c.recv(65535)
                c.sendto(answer, ("127.0.0.1", port))
                sslib.expect_silence(c, 0.3)
                self.assertIsNone(server.p.poll())

    def test_a_session_follows_its_client_to_a_new_address(self):
        m = "2022-blake3-aes-256-gcm"
        session = os.urandom(8)
        with sslib.udp_client() as a, sslib.udp_client() as b:
            first = self.ask(a, m, self.packet(m, session, 0, b"from a"))
            second = self.ask(b, m, self.packet(m, session, 1, b"from b"))
            self.assertEqual(first[0], second[0], "the same server session")
            self.assertEqual(second[5][7:], b"from b")
            # A replay of a's packet from a third address changes nothing: still answered at b.
            with sslib.udp_client() as third:
                third.sendto(self.packet(m, session, 0, b"from a"), ("127.0.0.1",
                                                                     self.servers[m][1]))
                sslib.expect_silence(third, 0.3)


class SpecUdpServerForOurClient(unittest.TestCase):
    """Our ss-local -u against a UDP server written from SIP022."""

    method = "2022-blake3-chacha20-poly1305"

    def test_client_packets_and_what_it_accepts(self):
        for m in METHODS:
            with self.subTest(method=m):
                self.run_method(m)

    def run_method(self, m):
        psk = sip022.keygen(m)
        server = sslib.udp_client()
        local, local_port = sslib.our_local(server.getsockname()[1], m, b64(psk), "-u")
        with sslib.running(local), server:
            control, relay = sslib.socks5_udp_associate(local_port)
            with control, sslib.udp_client() as app:
                ids = []
                for i in range(3):
                    app.sendto(sslib.udp_wrap("192.0.2.7", 53, b"q%d" % i), relay)
                    packet, client_addr = server.recvfrom(65535)
                    session, pid, htype, ts, rest = open_client_packet(m, psk, packet)
                    self.assertEqual(htype, 0)
                    self.assertLessEqual(abs(ts - time.time()), 2)
                    self.assertEqual(rest, sip022.socks_address("192.0.2.7", 53) + b"q%d" % i)
                    ids.append((session, pid))
                self.assertEqual(len({s for s, _ in ids}), 1)
                self.assertEqual([p for _, p in ids], [0, 1, 2])
                session = ids[0][0]
                server_session = os.urandom(8)

                def answer(pid, data, client_session=session, ts=None, sid=server_session):
                    return server_packet(m, psk, sid, pid, client_session,
                                         sip022.socks_address("192.0.2.7", 53) + data, ts)

                good = answer(0, b"a0")
                server.sendto(good, client_addr)
                self.assertEqual(udp_unwrap_data(app), b"a0")
                for what, packet in {
                        "a replayed server packet": good,
                        "another client session": answer(1, b"x", client_session=os.urandom(8)),
                        "a timestamp 40 s old": answer(2, b"x", ts=int(time.time()) - 40),
                        "a third server session while two are live": None}.items():
                    if packet is None:
                        server.sendto(answer(0, b"b0", sid=os.urandom(8)), client_addr)
                        self.assertEqual(udp_unwrap_data(app), b"b0", "a second server session")
                        packet = answer(0, b"c0", sid=os.urandom(8))
                    server.sendto(packet, client_addr)
                    sslib.expect_silence(app, 0.3)
                server.sendto(answer(3, b"a3"), client_addr)
                self.assertEqual(udp_unwrap_data(app), b"a3")


class MultiUser(unittest.TestCase):
    """SIP023: three users on one port of our ss-server, with our ss-local and the spec
    client; users added and removed by a reload."""

    method = "2022-blake3-aes-256-gcm"

    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()
        self.config = os.path.join(self.dir.name, "server.json")
        self.ipsk = sip022.keygen(self.method)
        self.keys = {name: sip022.keygen(self.method) for name in ("alice", "bob", "carol")}
        self.write_users(self.keys)
        self.echo = sslib.UdpServer("127.0.0.1")
        self.tcp_echo, self.tcp_echo_port = sslib.serve(sslib.echo_handler)
        self.server, self.port = sslib.our_server(self.method, b64(self.ipsk), "-u", "-v",
                                                  "-c", self.config)

    def tearDown(self):
        self.server.cleanup()
        self.echo.stop()
        sslib.stop_server(self.tcp_echo)
        self.dir.cleanup()

    def write_users(self, keys):
        with open(self.config, "w") as f:
            json.dump({"users": [{"name": n, "password": b64(k)} for n, k in keys.items()]}, f)

    def client(self, user_key):
        return sslib.our_local(self.port, self.method, f"{b64(self.ipsk)}:{b64(user_key)}", "-u")

    def spec_tcp(self, user_key, payload=b"hello"):
        """A request with an identity header from the spec client; the echo, or None when the
        server refused it quietly."""
        size = sip022.METHODS[self.method][0]
        salt = os.urandom(size)
        identity = sip022.tcp_identity_header(self.ipsk, salt, user_key)
        stream, _, _ = sip022.request_stream(self.method, user_key, "127.0.0.1",
                                             self.tcp_echo_port, payload, salt=salt,
                                             identity=identity)
        with connect(self.port) as s:
            s.sendall(stream)
            ready, _, _ = select.select([s], [], [], 2 * sslib.SLOW)
            if not ready:
                assert_refused_quietly(self, s, "an unknown user")
                return None
            reader = sip022.ResponseReader(self.method, user_key, s, salt)
            _, _, request_salt, length = reader.header()
            self.assertEqual(request_salt, salt)
            s.shutdown(socket.SHUT_WR)
            return reader.read_all(length)

    def spec_udp(self, user_key, data=b"ping"):
        """A packet with an identity header; the opened answer's data, or None."""
        with sslib.udp_client() as c:
            c.sendto(sip022.udp_client_packet(self.method, user_key, os.urandom(8), 0,
                                              "127.0.0.1", self.echo.port, data, ipsk=self.ipsk),
                     ("127.0.0.1", self.port))
            c.settimeout(2 * sslib.SLOW)
            try:
                answer = c.recv(65535)
            except socket.timeout:
                return None
            rest = sip022.udp_open_server_packet(self.method, user_key, answer)[5]
            return rest[sslib.parse_address(rest)[2]:]

    def test_three_users_at_once_tcp_and_udp(self):
        clients = [self.client(k) for k in self.keys.values()]
        errors = []

        def work(port):
            try:
                with sslib.socks5_connect(port, "127.0.0.1", self.tcp_echo_port) as s:
                    for _ in range(20):
                        block = os.urandom(50_000)
                        s.sendall(block)
                        assert sslib.recv_exact(s, len(block)) == block
                control, relay = sslib.socks5_udp_associate(port)
                with control, sslib.udp_client() as c:
                    for _ in range(20):
                        payload = os.urandom(500)
                        assert sslib.udp_roundtrip(c, relay, "127.0.0.1", self.echo.port,
                                             payload)[2] == payload
            except Exception as e:  # noqa: BLE001 -- reported below
                errors.append(e)

        with sslib.running(*(p for p, _ in clients)):
            threads = [threading.Thread(target=work, args=(port,)) for _, port in clients]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        self.assertEqual(errors, [])
        for name in self.keys:
            self.server.wait_for(rf"\({name}\)")
        self.assertIn("3 user(s)", self.server.text())

    def test_spec_client_identity_headers_and_unknown_users(self):
        self.assertEqual(self.spec_tcp(self.keys["bob"], b"x" * 3000), b"x" * 3000)
        self.assertEqual(self.spec_udp(self.keys["carol"], b"udp"), b"udp")
        stranger = sip022.keygen(self.method)
        self.assertIsNone(self.spec_tcp(stranger))
        self.assertIsNone(self.spec_udp(stranger))
        # The server's own key as a user key is no user either.
        self.assertIsNone(self.spec_tcp(self.ipsk))

    def test_reload_adds_and_removes_users_and_others_go_on(self):
        alice, alice_port = self.client(self.keys["alice"])
        with sslib.running(alice), sslib.socks5_connect(alice_port, "127.0.0.1",
                                                        self.tcp_echo_port) as s:
            s.sendall(b"before")
            self.assertEqual(sslib.recv_exact(s, 6), b"before")
            dave = sip022.keygen(self.method)
            keys = dict(self.keys, dave=dave)
            del keys["bob"]
            self.write_users(keys)
            self.server.p.send_signal(signal.SIGHUP)
            self.server.wait_for(r"configuration reloaded: .*3 user\(s\)")
            # Alice's open connection goes on; a new one too.
            s.sendall(b"after")
            self.assertEqual(sslib.recv_exact(s, 5), b"after")
        self.assertEqual(self.spec_tcp(self.keys["alice"]), b"hello")
        self.assertEqual(self.spec_tcp(dave), b"hello")
        self.assertEqual(self.spec_udp(dave), b"ping")
        self.assertIsNone(self.spec_tcp(self.keys["bob"]))
        self.assertIsNone(self.spec_udp(self.keys["bob"]))

    def test_print_url_gives_each_user_a_url_clients_take(self):
        r = subprocess.run([sslib.binary("ss-server"), "-c", self.config, "-s", "127.0.0.1",
                            "-p", str(self.port), "-m", self.method, "-k", b64(self.ipsk),
                            "--print-url"], capture_output=True, text=True, timeout=10,
                           check=True)
        urls = r.stdout.split()
        self.assertEqual(len(urls), 3)
        for url, name in zip(urls, self.keys):
            # SIP002: percent-encoded method:password for the 2022 methods, never base64.
            self.assertTrue(url.startswith(f"ss://{self.method}:"), url)
            self.assertTrue(url.endswith(f"#{name}"), url)
            local = sslib.Proc([sslib.binary("ss-local"), "--server-url", url, "-l", 0])
            with sslib.running(local), sslib.socks5_connect(local.listen_port(), "127.0.0.1",
                                                            self.tcp_echo_port) as s:
                s.sendall(name.encode())
                self.assertEqual(sslib.recv_exact(s, len(name)), name.encode())
            self.server.wait_for(rf"\({name}\)")

    def test_users_need_an_aes_method_and_keys_of_its_size(self):
        for method, users, problem in (
                ("2022-blake3-chacha20-poly1305", self.keys, "needs 2022-blake3-aes-128-gcm"),
                (self.method, {"x": os.urandom(16)}, "this one has 16"),
                (self.method, {"x": self.keys["bob"], "y": self.keys["bob"]},
                 "another user has this key")):
            self.write_users(users)
            r = subprocess.run([sslib.binary("ss-server"), "-c", self.config, "-p", "1", "-m",
                                method, "-k", b64(sip022.keygen(method))],
                               capture_output=True, text=True, timeout=10, check=False)
            self.assertEqual(r.returncode, 2, r.stderr)
            self.assertIn("users: ", r.stderr)
            self.assertIn(problem, r.stderr)


def udp_unwrap_data(app):
    app.settimeout(5 * sslib.SLOW)
    return sslib.udp_unwrap(app.recv(65535))[2]


def open_client_packet(m, psk, packet):
    """A client-to-server packet opened by the spec: (session, packet id, type, timestamp,
    address + data)."""
    if m.endswith("chacha20-poly1305"):
        plain = sip022.xchacha_open(psk, packet[:24], packet[24:])
        separate, body = plain[:16], plain[16:]
    else:
        separate = sip022._aes_ecb(psk, packet[:16], decrypt=True)
        subkey = sip022.session_subkey(psk, separate[:8])
        body = sip022.AESGCM(subkey).decrypt(separate[4:16], packet[16:], None)
    htype, ts, pad = struct.unpack(">BQH", body[:11])
    return separate[:8], struct.unpack(">Q", separate[8:])[0], htype, ts, body[11 + pad:]


def server_packet(m, psk, server_session, pid, client_session, rest, ts=None):
    ts = int(time.time()) if ts is None else ts
    separate = server_session + struct.pack(">Q", pid)
    body = struct.pack(">BQ", 1, ts) + client_session + struct.pack(">H", 0) + rest
    if m.endswith("chacha20-poly1305"):
        nonce = os.urandom(24)
        return nonce + sip022.xchacha_seal(psk, nonce, separate + body)
    subkey = sip022.session_subkey(psk, server_session)
    return (sip022._aes_ecb(psk, separate) +
            sip022.AESGCM(subkey).encrypt(separate[4:16], body, None))


if __name__ == "__main__":
    unittest.main(verbosity=2)
