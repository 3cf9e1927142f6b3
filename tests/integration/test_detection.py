#!/usr/bin/env python3
"""Resistance to the fully-encrypted-traffic rules (fet_rules.py, USENIX Security 2023): the
first client-to-server payload of 1,000 connections per method, from our ss-local and from
shadowsocks-libev's, judged by the five exemption rules; with Outline's `prefix` (TLS-like and
HTTP-like) none may be a candidate for blocking. And prefixed connections work against libev's
ss-server and ours, the prefix on the wire.

SS_FET_CONNECTIONS sets the connections per method (1,000; 200 under the sanitizers)."""

import concurrent.futures
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import fet_rules  # noqa: E402
import sslib  # noqa: E402

# Under the sanitizers, fewer (the share is what matters; the plain build counts 1,000).
CONNECTIONS = int(os.environ.get("SS_FET_CONNECTIONS", "200" if sslib.SANITIZED else "1000"))
PASSWORD = "detection test password"
# What a browser sends first through the proxy: the first flight carries it.
REQUEST = b"GET / HTTP/1.1\r\nHost: www.example.com\r\nUser-Agent: curl/7.88.1\r\n\r\n"
TLS_LIKE = b"\x16\x03\x01\x00"  # a TLS record header (fits every method's salt)
HTTP_LIKE = b"POST"


def percent(prefix):
    return "".join(f"%{b:02X}" for b in prefix)


class FirstPayloads:
    """A stand-in server that keeps the first payload of every connection and closes it."""

    def __init__(self):
        self.payloads = []
        self.lock = threading.Lock()

        def handler(sock):
            sock.settimeout(10 * sslib.SLOW)
            data = sock.recv(65536)
            with self.lock:
                self.payloads.append(data)

        self.srv, self.port = sslib.serve(handler)

    def wait_for(self, n, timeout=60.0):
        deadline = time.monotonic() + timeout * sslib.SLOW
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.payloads) >= n:
                    return list(self.payloads)
            time.sleep(0.02)
        raise AssertionError(f"{len(self.payloads)} of {n} connections reached the server")

    def stop(self):
        sslib.stop_server(self.srv)


def first_payloads(local_port, recorder, n):
    """The first payloads of `n` connections through the SOCKS5 port, each sending REQUEST."""

    def one(_):
        with sslib.socks5_connect(local_port, "www.example.com", 80) as s:
            s.sendall(REQUEST)
            # Until the server side has it (it closes then) or a second at most.
            s.settimeout(1.0)
            try:
                s.recv(1)
            except OSError:
                pass

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        list(pool.map(one, range(n)))
    return recorder.wait_for(n)


class Rules(unittest.TestCase):
    """fet_rules against packets whose answer is known from the rules' text."""

    def test_each_rule(self):
        # Random bytes with exactly four set bits each and nothing printable: no rule.
        balanced = bytes([0x0F, 0xF0, 0x8E, 0x87, 0xB8, 0xD1]) * 20
        self.assertIsNone(fet_rules.exemption(balanced))
        self.assertEqual(fet_rules.exemption(bytes(100)), "Ex1")          # 0 bits per byte
        self.assertEqual(fet_rules.exemption(b"\xff" * 100), "Ex1")       # 8 bits per byte
        self.assertEqual(fet_rules.exemption(b"SSH-2." + balanced), "Ex2")
        self.assertIsNone(fet_rules.exemption(b"SSH-2" + balanced))      # five are not six
        self.assertEqual(fet_rules.exemption(b"\x0fZZ" * 40), "Ex3")  # 80 of 120, no long run
        self.assertIsNone(fet_rules.exemption(b"\x0f\x0fZ" * 40))   # 40 of 120
        self.assertEqual(fet_rules.exemption(b"x" * 21 + balanced), "Ex2")
        self.assertEqual(fet_rules.exemption(balanced[:60] + b"0123456789abcdefghijk" +
                                             balanced[:60]), "Ex4")
        self.assertIsNone(fet_rules.exemption(balanced[:60] + b"0123456789abcdefghij" +
                                              balanced[:60]))  # 20 are not more than 20
        self.assertEqual(fet_rules.exemption(b"\x16\x03\x01" + balanced), "Ex5")
        self.assertEqual(fet_rules.exemption(b"\x17\x03\x09" + balanced), "Ex5")
        self.assertIsNone(fet_rules.exemption(b"\x16\x03\x0a" + balanced))
        self.assertEqual(fet_rules.exemption(b"POST" + balanced), "Ex5")
        self.assertEqual(fet_rules.exemption(b"GET " + balanced), "Ex5")

    def test_random_payloads_are_mostly_candidates(self):
        # The paper: about 0.6 % of random first packets are exempt by chance.
        payloads = [os.urandom(100) for _ in range(5000)]
        self.assertGreater(fet_rules.candidates(payloads), 0.98 * len(payloads))


class FirstPackets(unittest.TestCase):
    """The share of first payloads that are candidates for blocking, per client and method."""

    table = []

    @classmethod
    def tearDownClass(cls):
        print(f"\nFirst payloads judged by the five exemption rules ({CONNECTIONS} connections "
              "each): candidates for blocking")
        for client, method, prefix, n, total, size in cls.table:
            print(f"  {client:6} {method:30} {prefix:16} {n:5} of {total}  "
                  f"({100.0 * n / total:5.1f} %), first payload {size} bytes")

    def judge(self, client, method, prefix, local_port, recorder):
        payloads = first_payloads(local_port, recorder, CONNECTIONS)
        n = fet_rules.candidates(payloads)
        label = prefix.decode("latin-1").encode("unicode_escape").decode() if prefix else "none"
        FirstPackets.table.append((client, method, label, n, len(payloads),
                                   len(payloads[0])))
        return payloads, n

    def ours(self, method, prefix=b""):
        recorder = FirstPayloads()
        password = sslib.key_2022(method) if method.startswith("2022") else PASSWORD
        extra = ["--prefix", percent(prefix)] if prefix else []
        local, port = sslib.our_local(recorder.port, method, password, *extra)
        try:
            with sslib.running(local):
                return self.judge("ours", method, prefix, port, recorder)
        finally:
            recorder.stop()

    def test_without_a_prefix_nearly_every_first_payload_is_a_candidate(self):
        for method in sslib.METHODS + sslib.METHODS_2022:
            with self.subTest(method=method):
                _, n = self.ours(method)
                self.assertGreater(n, 0.95 * CONNECTIONS)

    @unittest.skipUnless(shutil.which("ss-local"), "shadowsocks-libev is not installed")
    def test_libevs_first_payloads_too(self):
        for method in sslib.METHODS:
            with self.subTest(method=method):
                recorder = FirstPayloads()
                port = sslib.free_port()
                local = sslib.libev("ss-local", "-s", "127.0.0.1", "-p", recorder.port, "-l", port,
                                    "-m", method, "-k", PASSWORD, port=port)
                try:
                    with sslib.running(local):
                        _, n = self.judge("libev", method, b"", port, recorder)
                finally:
                    recorder.stop()
                self.assertGreater(n, 0.95 * CONNECTIONS)

    def test_a_tls_like_prefix_leaves_no_candidate(self):
        for method in sslib.METHODS + sslib.METHODS_2022:
            with self.subTest(method=method):
                payloads, n = self.ours(method, TLS_LIKE)
                self.assertEqual(n, 0)
                self.assertTrue(all(p.startswith(TLS_LIKE) for p in payloads))
                # The rest of the salt is fresh for every connection.
                salts = {p[:16] for p in payloads}
                self.assertEqual(len(salts), len(payloads))

    def test_an_http_like_prefix_leaves_no_candidate(self):
        for method in ("aes-128-gcm", "chacha20-ietf-poly1305", "2022-blake3-aes-256-gcm"):
            with self.subTest(method=method):
                _, n = self.ours(method, HTTP_LIKE)
                self.assertEqual(n, 0)


class ProbeBattery(sslib.EchoTargetsTestCase):
    """bench/probe_table.py's battery, shortened: one method of each edition, several keys and
    users on a port, replays after a restart; every probe one reaction class."""

    def test_one_reaction_class_for_every_probe(self):
        sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "bench"))
        import probe_table
        timeout = 2
        lengths = [1, 7, 8, 15, 16, 22, 23, 33, 34, 40, 41, 49, 50, 63, 64, 100, 221, 1000]
        with tempfile.TemporaryDirectory() as tmp:
            servers = probe_table.our_servers(["chacha20-ietf-poly1305",
                                               "2022-blake3-aes-128-gcm"], timeout, tmp)
            for server in servers:
                with self.subTest(server=server.label):
                    rows, classes, closes, genuine = probe_table.battery(
                        server, lengths, 1, timeout, self.echo4_port)
                    probe_table.print_table(server, rows, classes, closes, genuine, timeout)
                    self.assertEqual(len(classes), 1, rows)
                    self.assertEqual(classes, {("nothing, FIN after 2 s", "nothing, FIN at once")})
                    # The close does not depend on what was sent.
                    self.assertLess(max(closes) - min(closes), 0.5 * sslib.SLOW)
                    self.assertEqual(genuine.failed, 0)
                    self.assertGreater(genuine.ok, 0)


@unittest.skipUnless(shutil.which("nginx") and os.geteuid() == 0,
                     "needs nginx and root (a packet socket on lo)")
class ServerTells(unittest.TestCase):
    """bench/server_tells.py once: our listening socket answers a SYN as nginx's and libev's
    do, and our first flight to a genuine client does not send the salt alone."""

    def test_syn_ack_and_first_flight(self):
        sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "bench"))
        import server_tells
        results = server_tells.main(["--runs", "1", "--bin-dir", sslib.BIN_DIR])
        (ours_syn, (ours_sizes, _)), = results["ours"]
        (nginx_syn, _), = results["nginx"]
        self.assertEqual(ours_syn, nginx_syn)
        if "libev" in results:
            (libev_syn, _), = results["libev"]
            self.assertEqual(ours_syn, libev_syn)
        # The salt never goes alone: the first segment carries it with the first chunk
        # (32 + 2 + 16 + data + 16 bytes with chacha20-ietf-poly1305).
        self.assertGreater(ours_sizes[0], 32 + 2 + 16 + 16)


class PrefixInterop(sslib.EchoTargetsTestCase):
    """Prefixed connections from our ss-local, unchanged servers: libev's and ours."""

    def through(self, server_port, method, password, prefix):
        tap = sslib.Tap(server_port)
        local, port = sslib.our_local(tap.port, method, password, "--prefix", percent(prefix))
        try:
            with sslib.running(local):
                self.assertTrue(sslib.echoes_through(port, "127.0.0.1", self.echo4_port))
                with sslib.socks5_connect(port, "127.0.0.1", self.echo4_port) as s:
                    payload = os.urandom(256 << 10)
                    s.sendall(payload)
                    self.assertEqual(sslib.recv_exact(s, len(payload)), payload)
        finally:
            tap.stop()
        self.assertGreaterEqual(len(tap.sessions), 2)
        for c2s, _ in tap.sessions:
            self.assertTrue(bytes(c2s).startswith(prefix), bytes(c2s[:8]))

    @unittest.skipUnless(shutil.which("ss-server"), "shadowsocks-libev is not installed")
    def test_libevs_server_takes_a_prefixed_client(self):
        for method in sslib.METHODS:
            for prefix in (TLS_LIKE, HTTP_LIKE):
                with self.subTest(method=method, prefix=prefix):
                    server_port = sslib.free_port()
                    server = sslib.libev("ss-server", "-s", "127.0.0.1", "-p", server_port,
                                         "-k", PASSWORD, "-m", method, port=server_port)
                    with sslib.running(server):
                        self.through(server_port, method, PASSWORD, prefix)

    def test_our_server_takes_a_prefixed_client(self):
        longest = b"\x16\x03\x01\x00\xa8\x01\x01" + b"\x03\x03" + bytes(11)  # 20 bytes
        for method, prefix in (("chacha20-ietf-poly1305", longest), ("aes-128-gcm", TLS_LIKE),
                               ("2022-blake3-aes-128-gcm", HTTP_LIKE),
                               ("2022-blake3-chacha20-poly1305", longest)):
            with self.subTest(method=method):
                password = sslib.key_2022(method) if method.startswith("2022") else PASSWORD
                server, server_port = sslib.our_server(method, password)
                with sslib.running(server):
                    self.through(server_port, method, password, prefix)

    def test_ss_tunnel_prefixes_too(self):
        server, server_port = sslib.our_server("aes-128-gcm", PASSWORD)
        tap = sslib.Tap(server_port)
        with sslib.running(server):
            tunnel, port = sslib.our_tunnel(tap.port, "aes-128-gcm", PASSWORD,
                                            f"127.0.0.1:{self.echo4_port}", "--prefix", "POST")
            try:
                with sslib.running(tunnel):
                    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
                        s.sendall(b"through the tunnel")
                        self.assertEqual(sslib.recv_exact(s, 18), b"through the tunnel")
            finally:
                tap.stop()
        self.assertTrue(bytes(tap.sessions[0][0]).startswith(b"POST"))

    def test_print_url_writes_the_prefix_and_the_url_sets_it(self):
        method, prefix = "chacha20-ietf-poly1305", b"\x16\x03\x01\x00\xa8\x01\x01"
        server, server_port = sslib.our_server(method, PASSWORD)
        tap = sslib.Tap(server_port)
        with sslib.running(server):
            printed = subprocess.run(
                [sslib.binary("ss-server"), "-s", "127.0.0.1", "-p", str(tap.port), "-m", method,
                 "-k", PASSWORD, "--prefix", percent(prefix), "--print-url"],
                capture_output=True, text=True, timeout=30, check=True).stdout.strip()
            # Outline's form: the bytes as characters U+0000..U+00FF, UTF-8, %-encoded.
            self.assertTrue(printed.endswith("/?prefix=%16%03%01%00%C2%A8%01%01"), printed)
            local = sslib.Proc([sslib.binary("ss-local"), "--server-url", printed, "-l", 0])
            try:
                with sslib.running(local):
                    port = local.listen_port()
                    self.assertTrue(sslib.echoes_through(port, "127.0.0.1", self.echo4_port))
            finally:
                tap.stop()
        self.assertTrue(tap.sessions)
        self.assertTrue(bytes(tap.sessions[0][0]).startswith(prefix))


if __name__ == "__main__":
    unittest.main()
