#!/usr/bin/env python3
"""Traffic accounting and the Prometheus endpoint (issue 17): the counters per port and user
match the bytes and datagrams the test moved; /metrics passes `promtool check metrics` and is
scraped by a real Prometheus server (Debian's `prometheus`), whose query API then answers with
the same numbers."""

import http.client
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(__file__))
import sslib  # noqa: E402

KEY_2022 = "MDEyMzQ1Njc4OWFiY2RlZg=="  # 16 bytes, for 2022-blake3-aes-128-gcm


def parse_metrics(text):
    """{(name, frozenset(labels)): value} of the samples in a text exposition."""
    samples = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        head, value = line.rsplit(" ", 1)
        name, _, labels = head.partition("{")
        pairs = frozenset(tuple(p.split("=", 1)) for p in labels.rstrip("}").split(",") if p)
        samples[(name, frozenset((k, v.strip('"')) for k, v in pairs))] = float(value)
    return samples


def sample(samples, name, **labels):
    return samples[(name, frozenset(labels.items()))]


class Metrics(sslib.EchoTargetsTestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.dir = tempfile.mkdtemp()
        cls.shared_port, cls.carol_port = sslib.free_port(), sslib.free_port()
        cls.metrics_port = sslib.free_port()
        cfg = {"server": "127.0.0.1", "mode": "tcp_and_udp", "outbound_allow_private": True,
               "metrics": f"127.0.0.1:{cls.metrics_port}", "servers": [
                   {"server_port": cls.shared_port, "method": "aes-256-gcm", "name": "alice",
                    "password": "alice's long password"},
                   {"server_port": cls.shared_port, "method": "aes-256-gcm", "name": "bob",
                    "password": "bob's long password!"},
                   {"server_port": cls.carol_port, "method": "2022-blake3-aes-128-gcm",
                    "name": "carol", "password": KEY_2022}]}
        path = os.path.join(cls.dir, "server.json")
        with open(path, "w") as f:
            json.dump(cfg, f)
        cls.server = sslib.Proc([sslib.binary("ss-server"), "-c", path, "--workers", 2])
        cls.server.wait_for(rf"metrics at http://127.0.0.1:{cls.metrics_port}/metrics")
        cls.server.wait_for(rf"listening on 127.0.0.1:{cls.carol_port}")
        cls.alice, cls.alice_port = sslib.our_local(cls.shared_port, "aes-256-gcm",
                                                    "alice's long password", "-u")
        cls.carol, cls.carol_local = sslib.our_local(cls.carol_port, "2022-blake3-aes-128-gcm",
                                                     KEY_2022, "-u")
        cls.udp_echo = sslib.UdpServer()
        cls.moved = False

    @classmethod
    def tearDownClass(cls):
        cls.udp_echo.stop()
        for p in (cls.alice, cls.carol, cls.server):
            p.cleanup()
        shutil.rmtree(cls.dir)
        super().tearDownClass()

    def scrape(self):
        with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics",
                                    timeout=10) as r:
            self.assertEqual(r.status, 200)
            self.assertTrue(r.headers["Content-Type"].startswith("text/plain; version=0.0.4"))
            return r.read().decode()

    def move_traffic(self):
        """Alice: 3 TCP connections of 1000, 20000 and 300000 bytes each way; carol: 5
        datagrams of 700 bytes each way; a prober: garbage on both ports. Once per class."""
        if Metrics.moved:
            return
        Metrics.moved = True
        for size in (1000, 20000, 300000):
            with sslib.socks5_connect(self.alice_port, "127.0.0.1", self.echo4_port) as s:
                s.sendall(os.urandom(size))
                self.assertEqual(len(sslib.recv_exact(s, size)), size)
        ctl, relay = sslib.socks5_udp_associate(self.carol_local)
        with ctl, sslib.udp_client() as c:
            for _ in range(5):
                _, _, data = sslib.udp_roundtrip(c, relay, "127.0.0.1", self.udp_echo.port,
                                                 os.urandom(700))
                self.assertEqual(len(data), 700)
        for port in (self.shared_port, self.carol_port):
            with socket.create_connection(("127.0.0.1", port)) as s:
                s.sendall(os.urandom(200))
                s.shutdown(socket.SHUT_WR)
                s.settimeout(10 * sslib.SLOW)
                self.assertEqual(s.recv(10), b"")  # nothing back: closed when we finish

    def wait_counter(self, predicate, timeout=10):
        """The latest scrape once `predicate(samples)` holds (counters catch up at once on
        TCP; a refusal counts when the server has read the prober's last byte)."""
        deadline = time.monotonic() + timeout * sslib.SLOW
        while True:
            samples = parse_metrics(self.scrape())
            if predicate(samples) or time.monotonic() > deadline:
                return samples
            time.sleep(0.05)

    def test_counters_match_what_moved_per_user(self):
        self.move_traffic()
        total = 1000 + 20000 + 300000
        m = self.wait_counter(lambda m: sample(m, "shadowsocks_refused_total",
                                               port=str(self.carol_port), proto="tcp",
                                               reason="bad_data") >= 1)
        alice = {"port": str(self.shared_port), "user": "alice"}
        bob = {"port": str(self.shared_port), "user": "bob"}
        carol = {"port": str(self.carol_port), "user": "carol"}
        self.assertEqual(sample(m, "shadowsocks_tcp_connections_total", **alice), 3)
        self.assertEqual(sample(m, "shadowsocks_tcp_bytes_total", direction="up", **alice),
                         total)
        self.assertEqual(sample(m, "shadowsocks_tcp_bytes_total", direction="down", **alice),
                         total)
        for direction in ("up", "down"):
            self.assertEqual(sample(m, "shadowsocks_tcp_bytes_total", direction=direction,
                                    **bob), 0)
            self.assertEqual(sample(m, "shadowsocks_udp_packets_total", direction=direction,
                                    **carol), 5)
            self.assertEqual(sample(m, "shadowsocks_udp_bytes_total", direction=direction,
                                    **carol), 3500)
            self.assertEqual(sample(m, "shadowsocks_tcp_bytes_total", direction=direction,
                                    **carol), 0)
        # The prober: no key of the shared port opens its bytes; carol's port (one key) reads
        # them as bad data.
        self.assertEqual(sample(m, "shadowsocks_refused_total", port=str(self.shared_port),
                                proto="tcp", reason="unknown_key"), 1)
        self.assertEqual(sample(m, "shadowsocks_refused_total", port=str(self.carol_port),
                                proto="tcp", reason="bad_data"), 1)
        self.assertEqual(sample(m, "shadowsocks_udp_associations"), 1)
        self.assertEqual(sample(m, "shadowsocks_build_info", version=self.version()), 1)
        self.assertGreater(sample(m, "process_start_time_seconds"), time.time() - 3600)
        self.assertGreaterEqual(sample(m, "shadowsocks_replay_filter_salts"), 3)
        self.assertEqual(sample(m, "shadowsocks_open_connections"), 0)

    def version(self):
        out = subprocess.run([sslib.binary("ss-server"), "--version"], capture_output=True,
                             text=True).stdout
        return out.split()[-1]

    def test_promtool_accepts_the_exposition(self):
        self.move_traffic()
        r = subprocess.run(["promtool", "check", "metrics"], input=self.scrape(),
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

    def test_http_details(self):
        conn = http.client.HTTPConnection("127.0.0.1", self.metrics_port, timeout=10)
        for _ in range(2):  # keep-alive: two requests on one connection
            conn.request("GET", "/metrics")
            r = conn.getresponse()
            self.assertEqual(r.status, 200)
            self.assertIn(b"# TYPE shadowsocks_tcp_bytes_total counter", r.read())
        conn.request("GET", "/")
        r = conn.getresponse()
        self.assertEqual(r.status, 404)
        r.read()
        conn.request("POST", "/metrics", body=b"x")
        r = conn.getresponse()
        self.assertEqual(r.status, 405)
        r.read()
        conn.close()

    def test_a_real_prometheus_scrapes_it(self):
        self.move_traffic()
        tmp = tempfile.mkdtemp()
        web_port = sslib.free_port()
        cfg = os.path.join(tmp, "prometheus.yml")
        with open(cfg, "w") as f:
            f.write("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
                    "scrape_configs:\n  - job_name: shadowsocks\n    static_configs:\n"
                    f"      - targets: ['127.0.0.1:{self.metrics_port}']\n")
        prom = sslib.Proc(["prometheus", f"--config.file={cfg}",
                           f"--storage.tsdb.path={tmp}/data",
                           f"--web.listen-address=127.0.0.1:{web_port}"], name="prometheus")
        try:
            query = ('shadowsocks_tcp_bytes_total{job="shadowsocks",user="alice",'
                     'direction="up"}')
            deadline = time.monotonic() + 60 * sslib.SLOW
            value = None
            while time.monotonic() < deadline and value is None:
                time.sleep(0.5)
                try:
                    url = (f"http://127.0.0.1:{web_port}/api/v1/query?"
                           + urllib.parse.urlencode({"query": query}))
                    with urllib.request.urlopen(url, timeout=5) as r:
                        result = json.load(r)["data"]["result"]
                except OSError:
                    continue
                if result:
                    value = float(result[0]["value"][1])
            self.assertEqual(value, 1000 + 20000 + 300000, prom.text()[-3000:])
            url = (f"http://127.0.0.1:{web_port}/api/v1/query?"
                   + urllib.parse.urlencode({"query": 'up{job="shadowsocks"}'}))
            with urllib.request.urlopen(url, timeout=5) as r:
                self.assertEqual(json.load(r)["data"]["result"][0]["value"][1], "1")
        finally:
            prom.stop()
            shutil.rmtree(tmp)


if __name__ == "__main__":
    unittest.main(verbosity=2)
