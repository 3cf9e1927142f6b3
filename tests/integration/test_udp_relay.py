#!/usr/bin/env python3
"""The UDP relay (issue 4): SOCKS5 UDP ASSOCIATE through our ss-local + ss-server, the server's
NAT table (expiry, cap), and ss-tunnel -u. Everything on 127.0.0.1 / ::1."""

import os
import socket
import struct
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import sslib  # noqa: E402

PASSWORD = "udp-test-password"
METHOD = "chacha20-ietf-poly1305"


roundtrip = sslib.udp_roundtrip
expect_silence = sslib.expect_silence


class UdpThroughSocks5(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.echo4 = sslib.UdpServer("127.0.0.1")
        cls.echo6 = sslib.UdpServer("::1")
        cls.server, cls.server_port = sslib.our_server(METHOD, PASSWORD, "-u")
        cls.local, cls.local_port = sslib.our_local(cls.server_port, METHOD, PASSWORD, "-u", "-v")

    @classmethod
    def tearDownClass(cls):
        cls.local.cleanup()
        cls.server.cleanup()
        cls.echo4.stop()
        cls.echo6.stop()

    def test_1000_datagrams_of_every_size_and_8_kib_to_ipv4_ipv6_and_domain(self):
        control, relay = sslib.socks5_udp_associate(self.local_port)
        self.assertEqual(relay[0], "127.0.0.1", "bound on the address the client connected to")
        with control, sslib.udp_client() as c:
            for target, port, source in (("127.0.0.1", self.echo4.port, "127.0.0.1"),
                                         ("::1", self.echo6.port, "::1"),
                                         ("localhost", self.echo4.port, "127.0.0.1")):
                sizes = [i % 1400 + 1 for i in range(1000 if target == "127.0.0.1" else 200)]
                sizes += [8192] * 5
                for size in sizes:
                    payload = os.urandom(size)
                    host, p, data = roundtrip(c, relay, target, port, payload)
                    self.assertEqual(data, payload)
                    # The answer names where it came from: the echo server's own address.
                    self.assertEqual((host, p), (source, port))

    def test_frag_is_dropped(self):
        control, relay = sslib.socks5_udp_associate(self.local_port)
        with control, sslib.udp_client() as c:
            c.sendto(sslib.udp_wrap("127.0.0.1", self.echo4.port, b"fragment", frag=1), relay)
            expect_silence(c)
            c.settimeout(5 * sslib.SLOW)
            self.assertEqual(roundtrip(c, relay, "127.0.0.1", self.echo4.port, b"whole")[2],
                             b"whole")

    def test_datagrams_from_another_ip_are_dropped(self):
        # 127.0.0.2 is loopback too, but not the IP that opened the association.
        control, relay = sslib.socks5_udp_associate(self.local_port)
        with control, sslib.udp_client("127.0.0.2") as stranger, sslib.udp_client() as c:
            stranger.sendto(sslib.udp_wrap("127.0.0.1", self.echo4.port, b"intruder"), relay)
            expect_silence(stranger)
            self.assertEqual(roundtrip(c, relay, "127.0.0.1", self.echo4.port, b"owner")[2],
                             b"owner")
        self.assertIn("not the associated client", self.local.text())

    def test_port_named_in_the_request_is_enforced(self):
        with sslib.udp_client() as c, sslib.udp_client() as other:
            control, relay = sslib.socks5_udp_associate(
                self.local_port, hint=("127.0.0.1", c.getsockname()[1]))
            with control:
                other.sendto(sslib.udp_wrap("127.0.0.1", self.echo4.port, b"other port"), relay)
                expect_silence(other)
                self.assertEqual(roundtrip(c, relay, "127.0.0.1", self.echo4.port, b"ok")[2],
                                 b"ok")

    def test_closing_the_control_connection_ends_the_association(self):
        control, relay = sslib.socks5_udp_associate(self.local_port)
        with sslib.udp_client() as c:
            self.assertEqual(roundtrip(c, relay, "127.0.0.1", self.echo4.port, b"alive")[2],
                             b"alive")
            control.close()
            time.sleep(0.3 * sslib.SLOW)
            c.sendto(sslib.udp_wrap("127.0.0.1", self.echo4.port, b"after close"), relay)
            expect_silence(c, 1.0)

    def test_datagram_too_large_once_sealed_is_dropped_not_truncated(self):
        # 65490 bytes fit in a UDP datagram (max 65507 over IPv4); sealed, with 32 bytes of
        # salt and 16 of tag, they do not. It must be dropped whole, and the relay go on.
        control, relay = sslib.socks5_udp_associate(self.local_port)
        with control, sslib.udp_client() as c:
            c.sendto(sslib.udp_wrap("127.0.0.1", self.echo4.port, os.urandom(65480)), relay)
            expect_silence(c)
            c.settimeout(5 * sslib.SLOW)
            self.assertEqual(roundtrip(c, relay, "127.0.0.1", self.echo4.port, b"still here")[2],
                             b"still here")
        self.local.wait_for("dropped: Message too long")

    def test_tcp_still_works_in_tcp_and_udp_mode(self):
        srv, port = sslib.serve(sslib.exchange_handler)
        try:
            with sslib.socks5_connect(self.local_port, "127.0.0.1", port) as s:
                sslib.exchange(s, 1 << 16, 1 << 16)
        finally:
            sslib.stop_server(srv)


class ServerNatTable(unittest.TestCase):
    def test_entries_expire_after_silence(self):
        # Answers come 0.2 s or 3 s after the request; with --udp-timeout 1 the server forgets
        # the client in between, so only the quick answer arrives.
        slow = sslib.UdpServer(delay=3.0 * sslib.SLOW)
        quick = sslib.UdpServer(delay=0.2)
        server, server_port = sslib.our_server(METHOD, PASSWORD, "-U", "--udp-timeout", 1, "-v")
        local, local_port = sslib.our_local(server_port, METHOD, PASSWORD, "-U")
        with sslib.running(server, local):
            try:
                control, relay = sslib.socks5_udp_associate(local_port)
                with control, sslib.udp_client(timeout=5) as c:
                    c.sendto(sslib.udp_wrap("127.0.0.1", slow.port, b"slow"), relay)
                    c.sendto(sslib.udp_wrap("127.0.0.1", quick.port, b"quick"), relay)
                    self.assertEqual(sslib.udp_unwrap(c.recv(65535))[2], b"quick")
                    expect_silence(c, 4.0)
                server.wait_for("expired")
                self.assertEqual(slow.received, 1)
            finally:
                slow.stop()
                quick.stop()

    def test_table_is_capped_least_recently_used_first(self):
        delayed = sslib.UdpServer(delay=1.0 * sslib.SLOW)
        server, server_port = sslib.our_server(METHOD, PASSWORD, "-u",
                                               "--udp-max-associations", 2, "-v")
        local, local_port = sslib.our_local(server_port, METHOD, PASSWORD, "-u")
        with sslib.running(server, local):
            try:
                clients = []
                for i in range(3):
                    control, relay = sslib.socks5_udp_associate(local_port)
                    c = sslib.udp_client(timeout=5)
                    clients.append((control, relay, c))
                    # Each association has its own socket to the server: its own NAT entry.
                    c.sendto(sslib.udp_wrap("127.0.0.1", delayed.port, b"n%d" % i), relay)
                    time.sleep(0.1)
                # The first entry was pushed out by the third: its answer has nowhere to go.
                expect_silence(clients[0][2], 2.5)
                for control, relay, c in clients[1:]:
                    self.assertTrue(sslib.udp_unwrap(c.recv(65535))[2].startswith(b"n"))
                for control, relay, c in clients:
                    control.close()
                    c.close()
                server.wait_for("table full")
            finally:
                delayed.stop()

    def test_forged_packets_change_nothing(self):
        server, server_port = sslib.our_server(METHOD, PASSWORD, "-U", "-v")
        echo = sslib.UdpServer()
        with sslib.running(server):
            try:
                with sslib.udp_client() as c:
                    for size in (0, 1, 31, 32, 48, 100, 1500):
                        c.sendto(os.urandom(size), ("127.0.0.1", server_port))
                    expect_silence(c)
                self.assertNotIn("UDP association for", server.text())
                self.assertEqual(echo.received, 0)
            finally:
                echo.stop()


def dns_query(qid, name):
    header = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0)
    qname = b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\x00"
    return header + qname + struct.pack(">HH", 1, 1)


def fake_dns(query):
    """Answers any A query with 192.0.2.1 (TEST-NET-1), echoing the ID and the question."""
    qid = query[:2]
    question = query[12:]
    answer = b"\xc0\x0c" + struct.pack(">HHIH", 1, 1, 60, 4) + bytes([192, 0, 2, 1])
    return qid + struct.pack(">HHHHH", 0x8180, 1, 1, 0, 0) + question + answer


class UdpTunnel(unittest.TestCase):
    def test_dns_query_through_ss_tunnel(self):
        dns = sslib.UdpServer(reply=fake_dns)
        server, server_port = sslib.our_server(METHOD, PASSWORD, "-u")
        tunnel, tunnel_port = sslib.our_tunnel(server_port, METHOD, PASSWORD,
                                               f"127.0.0.1:{dns.port}", "-u")
        with sslib.running(server, tunnel):
            try:
                with sslib.udp_client() as a, sslib.udp_client() as b:
                    for i, client in enumerate((a, b, a, b)):
                        q = dns_query(0x1000 + i, "example.com")
                        client.sendto(q, ("127.0.0.1", tunnel_port))
                        answer = client.recv(65535)
                        self.assertEqual(answer[:2], q[:2])
                        self.assertTrue(answer.endswith(bytes([192, 0, 2, 1])))
            finally:
                dns.stop()


if __name__ == "__main__":
    unittest.main(verbosity=2)
