#!/usr/bin/env python3
"""Upgrades without an outage (issue 33): SIGUSR2 (or `--upgrade`) starts the program now
installed at the daemon's path with the listening sockets, the old process drains.

The main test runs, for ss-server and for ss-local, five upgrades in a row that alternate two
builds (the executable and a copy of it with an extra ELF section, installed by rename as a
package manager does), under a load of a new connection every few milliseconds, long
transfers (checked by SHA-256) started between upgrades, and live UDP associations. Nothing
may fail. The same load against libev's restart, in the same test, shows what the hand-over
spares: there the transfers break and new connections are refused.

The others: a salt seen before an upgrade, and one the old process records while it drains,
are refused afterwards; a failed upgrade (a program that exits at start) leaves the old
process serving; `--upgrade` with a pid file; systemd's notifications (READY, MAINPID,
STOPPING) to a test NOTIFY_SOCKET."""

import contextlib
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.request

sys.path.insert(0, os.path.dirname(__file__))
import sslib  # noqa: E402

METHOD = "chacha20-ietf-poly1305"
PASSWORD = "upgrade test password"
UPGRADES = 5
# Long transfers: two started before each upgrade, each paced over a few seconds so that it
# spans the next upgrades. Smaller where every byte costs more (sanitizers).
TRANSFER_BYTES = (24 if sslib.SANITIZED else 200) * 1024 * 1024
TRANSFER_SECONDS = 6.0
PORTABLE = sslib.PORTABLE


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with contextlib.suppress(OSError), open(f"/proc/{pid}/stat") as f:
        if f.read().split(") ")[1].startswith("Z"):
            return False
    return True


def read_pid(path):
    with open(path) as f:
        return int(f.read())


def wait_text(proc, pattern, timeout=10.0):
    """Waits until the log of `proc` (and of the processes that took over from it) matches
    `pattern`, whether or not `proc` itself still runs."""
    deadline = time.monotonic() + timeout * sslib.SLOW
    while time.monotonic() < deadline:
        if re.search(pattern, proc.text()):
            return
        time.sleep(0.02)
    raise AssertionError(f"no /{pattern}/ within {timeout}s:\n{proc.text()[-3000:]}")


def served_by(proc, count, failures=0):
    """The process id that serves after the `count`th upgrade of `proc`'s program (its log
    holds every process's lines), after `failures` failed ones; waits for it."""
    deadline = time.monotonic() + 60 * sslib.SLOW
    while time.monotonic() < deadline:
        found = re.findall(r"upgrade: process (\d+) serves", proc.text())
        if len(found) >= count:
            return int(found[count - 1])
        if proc.text().count("upgrade failed") > failures:
            break
        time.sleep(0.02)
    raise AssertionError(f"upgrade {count} did not happen:\n{proc.text()[-3000:]}")


def wait_gone(pid, timeout):
    deadline = time.monotonic() + timeout * sslib.SLOW
    while time.monotonic() < deadline:
        if not pid_alive(pid):
            return True
        time.sleep(0.05)
    return False


class Builds:
    """Two builds of the program in a directory of their own, installed in turn at
    `path` by rename (a new file, as dpkg installs one), with the programs' names linked to
    it."""

    def __init__(self, directory):
        self.dir = directory
        self.path = os.path.join(directory, "shadowsocks-cpp")
        source = sslib.binary("shadowsocks-cpp")
        self.a = os.path.join(directory, "build-a")
        self.b = os.path.join(directory, "build-b")
        shutil.copy2(source, self.a)
        note = os.path.join(directory, "note")
        with open(note, "wb") as f:
            f.write(b"build b of the upgrade test\0")
        subprocess.run(["objcopy", "--add-section", f".note.upgrade-test={note}", self.a,
                        self.b], check=True)
        for name in ("ss-server", "ss-local", "ss-tunnel", "ss-manager"):
            os.symlink("shadowsocks-cpp", os.path.join(directory, name))
        self.install(self.a)

    def install(self, build):
        temporary = self.path + ".dpkg-new"
        shutil.copy2(build, temporary)
        os.replace(temporary, self.path)

    def program(self, name):
        return os.path.join(self.dir, name)

    def install_failing(self):
        temporary = self.path + ".dpkg-new"
        with open(temporary, "w") as f:
            f.write("#!/bin/sh\necho 'this build cannot start' >&2\nexit 3\n")
        os.chmod(temporary, 0o755)
        os.replace(temporary, self.path)


# --- targets -------------------------------------------------------------------------------

def stream_handler(sock):
    """Sends the number of bytes asked for (8 bytes, big-endian, then a seed byte) as a paced
    stream, then its SHA-256."""
    head = sslib.recv_exact(sock, 9)
    total = struct.unpack(">Q", head[:8])[0]
    block = hashlib.sha256(head).digest() * 8192  # 256 KiB, different for each seed
    digest = hashlib.sha256()
    sent, start = 0, time.monotonic()
    rate = total / TRANSFER_SECONDS
    while sent < total:
        chunk = block[:min(len(block), total - sent)]
        sock.sendall(chunk)
        digest.update(chunk)
        sent += len(chunk)
        ahead = sent / rate - (time.monotonic() - start)
        if ahead > 0:
            time.sleep(ahead)
    sock.sendall(digest.digest())


class Load:
    """What the test puts through a SOCKS5 port: new connections every few milliseconds to an
    echo target, long transfers on demand, UDP associations asking every 100 ms."""

    def __init__(self, socks_port, echo_port, stream_port, udp_echo_port, udp=True):
        self.socks_port, self.echo_port = socks_port, echo_port
        self.stream_port, self.udp_echo_port = stream_port, udp_echo_port
        self.stop = threading.Event()
        self.connections = 0
        self.failures = []
        self.transfers = []  # (thread, result list)
        self.datagrams = 0
        self.udp_failures = []
        self.threads = [threading.Thread(target=self.connect_loop, daemon=True)]
        if udp:
            self.threads += [threading.Thread(target=self.udp_loop, args=(i,), daemon=True)
                             for i in range(3)]
        for t in self.threads:
            t.start()

    def connect_loop(self):
        n = 0
        while not self.stop.is_set():
            payload = b"new connection %d" % n
            try:
                with sslib.socks5_connect(self.socks_port, "127.0.0.1", self.echo_port,
                                          timeout=10 * sslib.SLOW) as s:
                    s.sendall(payload)
                    got = sslib.recv_exact(s, len(payload))
                    if got != payload:
                        raise AssertionError(f"echo {got!r}")
            except (OSError, AssertionError, ConnectionError) as e:
                self.failures.append(f"connection {n}: {e!r}")
            n += 1
            self.connections = n
            time.sleep(0.005)

    def udp_loop(self, index):
        try:
            control, relay = sslib.socks5_udp_associate(self.socks_port)
        except (OSError, AssertionError) as e:
            self.udp_failures.append(f"association {index}: {e!r}")
            return
        with control, sslib.udp_client(timeout=1.0 * sslib.SLOW) as client:
            n = 0
            while not self.stop.is_set():
                payload = b"association %d datagram %d" % (index, n)
                answered = False
                for _ in range(3):  # a datagram may be lost on any network; the association not
                    try:
                        _, _, answer = sslib.udp_roundtrip(client, relay, "127.0.0.1",
                                                           self.udp_echo_port, payload)
                        while answer != payload:  # a late answer to an earlier try
                            _, _, answer = sslib.udp_roundtrip(client, relay, "127.0.0.1",
                                                               self.udp_echo_port, payload)
                        answered = True
                        break
                    except (OSError, AssertionError):
                        continue
                if not answered:
                    self.udp_failures.append(f"association {index}: datagram {n} unanswered")
                n += 1
                self.datagrams += 1
                time.sleep(0.1)

    def start_transfer(self, seed):
        result = []

        def run():
            try:
                with sslib.socks5_connect(self.socks_port, "127.0.0.1", self.stream_port,
                                          timeout=60 * sslib.SLOW) as s:
                    s.sendall(struct.pack(">QB", TRANSFER_BYTES, seed))
                    digest, got = hashlib.sha256(), 0
                    while got < TRANSFER_BYTES:
                        chunk = s.recv(min(1 << 20, TRANSFER_BYTES - got))
                        if not chunk:
                            raise ConnectionError(f"closed after {got} bytes")
                        digest.update(chunk)
                        got += len(chunk)
                    trailer = sslib.recv_exact(s, 32)
                    result.append("intact" if trailer == digest.digest() else "corrupt")
            except (OSError, AssertionError, ConnectionError) as e:
                result.append(f"broken: {e!r}")

        t = threading.Thread(target=run, daemon=True)
        t.start()
        self.transfers.append((t, result))

    def finish(self):
        for t, _ in self.transfers:
            t.join(120 * sslib.SLOW)
        self.stop.set()
        for t in self.threads:
            t.join(30 * sslib.SLOW)
        return [r[0] if r else "unfinished" for _, r in self.transfers]


class Targets:
    def __init__(self):
        self.echo, self.echo_port = sslib.serve(sslib.echo_handler)
        self.stream, self.stream_port = sslib.serve(stream_handler)
        self.udp_echo = sslib.UdpServer("127.0.0.1")

    def load(self, socks_port, udp=True):
        return Load(socks_port, self.echo_port, self.stream_port, self.udp_echo.port, udp)

    def stop(self):
        sslib.stop_server(self.echo)
        sslib.stop_server(self.stream)
        self.udp_echo.stop()


def summary(name, load, transfers):
    intact = transfers.count("intact")
    return (f"{name}: {load.connections} new connections, {len(load.failures)} failed; "
            f"{intact}/{len(transfers)} long transfers intact; {load.datagrams} datagrams, "
            f"{len(load.udp_failures)} unanswered")


@unittest.skipIf(PORTABLE, "the portable build's upgrade is the same code; its own stage is short")
class FiveUpgrades(unittest.TestCase):

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="ss-upgrade-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.builds = Builds(self.dir)
        self.targets = Targets()
        self.addCleanup(self.targets.stop)
        self.pids = []  # every process of ours started by an upgrade, ended at cleanup
        self.addCleanup(self.end_upgraded)

    def end_upgraded(self):
        for pid in self.pids:
            if pid_alive(pid):
                os.kill(pid, signal.SIGTERM)
        for pid in self.pids:
            if not wait_gone(pid, 15):
                os.kill(pid, signal.SIGKILL)

    def upgrade_five_times(self, proc, load):
        """Upgrades `proc` (our daemon, from the builds' directory) five times under `load`,
        alternating the builds; returns the process serving at the end."""
        serving = proc.p.pid
        for k in range(1, UPGRADES + 1):
            load.start_transfer(2 * k)
            load.start_transfer(2 * k + 1)
            time.sleep(0.7)
            self.builds.install(self.builds.b if k % 2 else self.builds.a)
            os.kill(serving, signal.SIGUSR2)
            serving = served_by(proc, k)
            self.pids.append(serving)
            self.assertNotIn("upgrade failed", proc.text())
            time.sleep(0.5)
        return serving

    def libev_restarts(self, name, args, port, load):
        """The same upgrades as libev has them: stop, then start the new program."""
        p = sslib.libev(name, *args, port=port)
        try:
            for k in range(1, UPGRADES + 1):
                load.start_transfer(2 * k)
                load.start_transfer(2 * k + 1)
                time.sleep(0.7)
                p.stop()
                p = sslib.libev(name, *args, port=port)
                time.sleep(0.5)
            return load.finish()
        finally:
            p.stop()

    def check_ours(self, name, load, proc, serving):
        transfers = load.finish()
        print(summary(name, load, transfers), file=sys.stderr)
        self.assertEqual(load.failures, [], summary(name, load, transfers))
        self.assertEqual(transfers, ["intact"] * len(transfers))
        self.assertEqual(load.udp_failures, [])
        self.assertGreater(load.connections, 100)
        # Every old process has drained and gone; the last one serves.
        self.assertTrue(wait_gone(proc.p.pid, 30), proc.text()[-3000:])
        for pid in self.pids[:-1]:
            self.assertTrue(wait_gone(pid, 30), f"process {pid} lingers")
        self.assertTrue(pid_alive(serving))
        for marker in sslib.SANITIZER_MARKERS:
            self.assertNotIn(marker, proc.text())

    def test_ss_server(self):
        port = sslib.free_port()
        server = sslib.Proc([self.builds.program("ss-server"), "-s", "127.0.0.1", "-p", port,
                             "-m", METHOD, "-k", PASSWORD, "-u", "--workers", 2,
                             "--outbound-allow-private"], name="ss-server")
        server.ours = True
        with sslib.running(server):
            server.wait_for("listening on")
            local, local_port = sslib.our_local(port, METHOD, PASSWORD, "-u")
            with sslib.running(local):
                load = self.targets.load(local_port)
                serving = self.upgrade_five_times(server, load)
                self.check_ours("ours (ss-server upgraded)", load, server, serving)
        if not shutil.which("ss-server"):
            return
        # libev's ss-server restarted under the same load (our ss-local in front).
        libev_port = sslib.free_port()
        local, local_port = sslib.our_local(libev_port, METHOD, PASSWORD, "-u")
        with sslib.running(local):
            load = self.targets.load(local_port)
            transfers = self.libev_restarts(
                "ss-server", ["-s", "127.0.0.1", "-p", str(libev_port), "-m", METHOD, "-k",
                              PASSWORD, "-u"], libev_port, load)
            print(summary("libev (ss-server restarted)", load, transfers), file=sys.stderr)
            self.assertNotEqual(transfers, ["intact"] * len(transfers),
                                "a restart of libev ends the transfers it carries")

    def test_ss_local(self):
        server, server_port = sslib.our_server(METHOD, PASSWORD, "-u")
        with sslib.running(server):
            local_port = sslib.free_port()
            local = sslib.Proc([self.builds.program("ss-local"), "-s", "127.0.0.1", "-p",
                                server_port, "-l", local_port, "-m", METHOD, "-k", PASSWORD,
                                "-u", "--workers", 2], name="ss-local")
            local.ours = True
            with sslib.running(local):
                local.wait_for("listening on")
                load = self.targets.load(local_port)
                serving = self.upgrade_five_times(local, load)
                self.check_ours("ours (ss-local upgraded)", load, local, serving)
            if not shutil.which("ss-local"):
                return
            libev_port = sslib.free_port()
            load = self.targets.load(libev_port, udp=False)
            # The load starts before libev listens: its first connections may fail too, so
            # only the transfers are compared.
            transfers = self.libev_restarts(
                "ss-local", ["-s", "127.0.0.1", "-p", str(server_port), "-l", str(libev_port),
                             "-m", METHOD, "-k", PASSWORD], libev_port, load)
            print(summary("libev (ss-local restarted)", load, transfers), file=sys.stderr)
            self.assertNotEqual(transfers, ["intact"] * len(transfers))


class Upgrade(unittest.TestCase):
    """One upgrade at a time: what carries over, what a failure leaves, how it is asked for."""

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="ss-upgrade-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.builds = Builds(self.dir)
        self.target, self.target_port = sslib.serve(sslib.echo_handler)
        self.addCleanup(sslib.stop_server, self.target)
        self.pids = []
        self.addCleanup(self.end_upgraded)

    def end_upgraded(self):
        for pid in self.pids:
            if pid_alive(pid):
                os.kill(pid, signal.SIGTERM)
                if not wait_gone(pid, 15):
                    os.kill(pid, signal.SIGKILL)

    def server(self, *extra, env=None, port=None):
        # The request deadline (-t) ends a replay's connection; it must outlast an upgrade, or
        # a connection the test holds idle across one would end by it (a sanitized upgrade
        # takes seconds). A small replay filter makes the hand-over quick.
        port = port or sslib.free_port()
        p = sslib.Proc([self.builds.program("ss-server"), "-s", "127.0.0.1", "-p", port, "-m",
                        METHOD, "-k", PASSWORD, "--outbound-allow-private", "-v",
                        "-t", int(4 * sslib.SLOW), "--replay-filter-capacity", 10000, *extra],
                       name="ss-server", env=env)
        p.ours = True
        p.wait_for("listening on")
        return p, port

    def upgrade(self, proc, pid, count=1, failures=0):
        os.kill(pid, signal.SIGUSR2)
        self.pids.append(served_by(proc, count, failures))
        return self.pids[-1]

    def request_through(self, local_port):
        with sslib.socks5_connect(local_port, "127.0.0.1", self.target_port) as s:
            s.sendall(b"ping")
            self.assertEqual(sslib.recv_exact(s, 4), b"ping")

    def recorded_request(self, server_port):
        """A genuine request to the server at `server_port`, as recorded on the wire."""
        tap = sslib.Tap(server_port)
        local, local_port = sslib.our_local(tap.port, METHOD, PASSWORD)
        with sslib.running(local):
            self.request_through(local_port)
        tap.stop()
        return bytes(tap.sessions[0][0])

    def assert_refused(self, port, recorded):
        with socket.create_connection(("127.0.0.1", port), timeout=10 * sslib.SLOW) as s:
            s.sendall(recorded)
            self.assertEqual(s.recv(64), b"", "a replay gets nothing back")

    def test_salts_seen_before_and_during_the_drain_are_refused_after(self):
        server, port = self.server()
        with sslib.running(server):
            before = self.recorded_request(port)
            # A request the old process has not seen yet, on a connection it accepted before
            # the upgrade: it arrives while the old process drains.
            other, other_port = sslib.our_server(METHOD, PASSWORD)
            with sslib.running(other):
                during = self.recorded_request(other_port)
            early = socket.create_connection(("127.0.0.1", port))
            time.sleep(0.2)
            new = self.upgrade(server, server.p.pid)
            with early:
                early.settimeout(10 * sslib.SLOW)
                early.sendall(during)
                self.assertTrue(early.recv(64), "the old process serves what it accepted")
            self.assert_refused(port, before)
            self.assert_refused(port, during)
            wait_text(server, r"(?s)replayed salt.*replayed salt")
            self.assertTrue(pid_alive(new))

    def test_counters_go_on_across_upgrades(self):
        # Bytes moved before the upgrade, by the old process while it drains, and by the new
        # one: each counted once in the new process's metrics, after two upgrades in a row.
        metrics_port = sslib.free_port()
        server, port = self.server("--metrics", f"127.0.0.1:{metrics_port}")

        def totals():
            with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics",
                                        timeout=10) as r:
                text = r.read().decode()
            out = {}
            for name, labels, value in re.findall(r"^(shadowsocks_tcp_\w+_total)\{([^}]*)\} (\S+)$",
                                                  text, re.M):
                key = name + ("/up" if 'direction="up"' in labels else
                              "/down" if 'direction="down"' in labels else "")
                out[key] = out.get(key, 0) + float(value)
            return out

        def exchange(s, n):
            s.sendall(b"x" * n)
            self.assertEqual(len(sslib.recv_exact(s, n)), n)

        local, local_port = sslib.our_local(port, METHOD, PASSWORD)
        with sslib.running(server, local):
            with sslib.socks5_connect(local_port, "127.0.0.1", self.target_port) as s:
                exchange(s, 1000)
            held = sslib.socks5_connect(local_port, "127.0.0.1", self.target_port)
            with held:
                exchange(held, 20000)
                first = self.upgrade(server, server.p.pid)
                exchange(held, 300000)  # counted by the old process while it drains
            self.assertTrue(wait_gone(server.p.pid, 15))
            with sslib.socks5_connect(local_port, "127.0.0.1", self.target_port) as s:
                exchange(s, 4000)
            self.upgrade(server, first, count=2)
            self.assertTrue(wait_gone(first, 15))
            with sslib.socks5_connect(local_port, "127.0.0.1", self.target_port) as s:
                exchange(s, 50000)
            want = 1000 + 20000 + 300000 + 4000 + 50000
            self.assertEqual(totals(), {"shadowsocks_tcp_bytes_total/up": want,
                                        "shadowsocks_tcp_bytes_total/down": want,
                                        "shadowsocks_tcp_connections_total": 4})

    def test_the_health_of_a_clients_servers_carries_over(self):
        # Server "far" takes connections and never answers: its checks fail only once
        # max_server_rtt (5 s) runs out. The new process knows it is down from its first
        # moment, not 5 s later.
        silent = socket.socket()
        silent.bind(("127.0.0.1", 0))
        silent.listen(64)
        self.addCleanup(silent.close)
        server, port = self.server()
        check, check_port = sslib.serve(lambda s: s.sendall(
            b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n"))
        self.addCleanup(sslib.stop_server, check)
        metrics_port = sslib.free_port()
        cfg = {"local_address": "127.0.0.1", "local_port": sslib.free_port(), "method": METHOD,
               "metrics": f"127.0.0.1:{metrics_port}",
               "servers": [{"server": "127.0.0.1", "server_port": port, "name": "near",
                            "password": PASSWORD},
                           {"server": "127.0.0.1", "server_port": silent.getsockname()[1],
                            "name": "far", "password": PASSWORD}],
               "balancer": {"check_interval": 3600, "max_server_rtt": 5,
                            "check_url": f"http://127.0.0.1:{check_port}/generate_204"}}
        path = os.path.join(self.dir, "local.json")
        with open(path, "w") as f:
            json.dump(cfg, f)
        local = sslib.Proc([self.builds.program("ss-local"), "-c", path], name="ss-local")
        local.ours = True

        def far_up():
            with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics",
                                        timeout=10) as r:
                text = r.read().decode()
            return re.search(r'^shadowsocks_server_up\{server="far"[^}]*\} (\d)$', text,
                             re.M).group(1)

        with sslib.running(server, local):
            local.wait_for(r"server far \(127\.0\.0\.1:\d+\) is down: its check failed",
                           timeout=20)
            self.upgrade(local, local.p.pid)
            self.assertEqual(far_up(), "0", "down in the new process from the start")
            wait_text(local, r"upgrade: the health of 2 server\(s\) carried over")

    def test_a_failed_upgrade_leaves_the_old_process_serving(self):
        server, port = self.server()
        local, local_port = sslib.our_local(port, METHOD, PASSWORD)
        with sslib.running(server, local):
            self.builds.install_failing()
            os.kill(server.p.pid, signal.SIGUSR2)
            server.wait_for("upgrade failed: the new process ended before it served")
            for _ in range(3):
                self.request_through(local_port)
            # And a good build afterwards takes over.
            self.builds.install(self.builds.b)
            self.upgrade(server, server.p.pid, failures=1)
            self.request_through(local_port)

    def test_upgrade_command_with_a_pid_file(self):
        pid_file = os.path.join(self.dir, "ss-server.pid")
        port = sslib.free_port()
        args = [self.builds.program("ss-server"), "-s", "127.0.0.1", "-p", str(port), "-m",
                METHOD, "-k", PASSWORD, "--outbound-allow-private", "-f", pid_file]
        subprocess.run(args, check=True, timeout=30 * sslib.SLOW)  # returns once it serves
        first = read_pid(pid_file)
        self.pids.append(first)
        local, local_port = sslib.our_local(port, METHOD, PASSWORD)
        with sslib.running(local):
            self.request_through(local_port)
            self.builds.install(self.builds.b)
            done = subprocess.run(args + ["--upgrade"], capture_output=True, text=True,
                                  timeout=120 * sslib.SLOW)
            self.assertEqual(done.returncode, 0, done.stderr)
            second = read_pid(pid_file)
            self.pids.append(second)
            self.assertNotEqual(second, first)
            self.assertIn(f"process {second} serves", done.stdout)
            self.assertTrue(wait_gone(first, 30))
            self.request_through(local_port)
            self.builds.install_failing()
            # Asked by the program as it was (the one installed now cannot start).
            failed = subprocess.run([sslib.binary("ss-server"), *args[1:], "--upgrade"],
                                    capture_output=True, text=True,
                                    timeout=120 * sslib.SLOW)
            self.assertEqual(failed.returncode, 1, failed.stdout + failed.stderr)
            self.assertIn("upgrade failed", failed.stderr)
            self.assertEqual(read_pid(pid_file), second)
            self.request_through(local_port)

    @unittest.skipUnless(shutil.which("obfs-local"), "simple-obfs is not installed")
    def test_plugins_a_client_starts_its_own_a_server_cannot(self):
        server, port = self.server("--plugin", "obfs-server", "--plugin-opts", "obfs=http")
        with sslib.running(server):
            local_port = sslib.free_port()
            local = sslib.Proc([self.builds.program("ss-local"), "-s", "127.0.0.1", "-p", port,
                                "-l", local_port, "-m", METHOD, "-k", PASSWORD, "--plugin",
                                "obfs-local", "--plugin-opts", "obfs=http;obfs-host=example.com"],
                               name="ss-local")
            local.ours = True
            with sslib.running(local):
                local.wait_for("listening on")
                held = sslib.socks5_connect(local_port, "127.0.0.1", self.target_port)
                with held:
                    held.sendall(b"old1")
                    self.assertEqual(sslib.recv_exact(held, 4), b"old1")
                    self.upgrade(local, local.p.pid)
                    self.request_through(local_port)  # the new process's own plugin
                    # The old process and its plugin carry on with what they had.
                    held.sendall(b"old2")
                    self.assertEqual(sslib.recv_exact(held, 4), b"old2")
                self.assertTrue(wait_gone(local.p.pid, 15))
                self.request_through(local_port)
            # ss-server's plugin holds the public port itself: no upgrade, a clear reason.
            os.kill(server.p.pid, signal.SIGUSR2)
            server.wait_for(r"upgrade failed: the plugin of port %d listens on the public port "
                            r"itself" % port)

    def test_ss_tunnel_forwards_tcp_and_udp_across_an_upgrade(self):
        udp_echo = sslib.UdpServer("127.0.0.1")
        self.addCleanup(udp_echo.stop)
        server, port = self.server("-u")
        tunnel_port = sslib.free_port()
        with sslib.running(server):
            for target, udp in ((self.target_port, False), (udp_echo.port, True)):
                tunnel = sslib.Proc([self.builds.program("ss-tunnel"), "-s", "127.0.0.1", "-p",
                                     port, "-l", tunnel_port, "-m", METHOD, "-k", PASSWORD,
                                     "-L", f"127.0.0.1:{target}", "-U" if udp else "-v"],
                                    name="ss-tunnel")
                tunnel.ours = True
                with sslib.running(tunnel):
                    tunnel.wait_for("listening on")

                    def forwards(payload):
                        if udp:
                            with sslib.udp_client(timeout=5 * sslib.SLOW) as c:
                                c.sendto(payload, ("127.0.0.1", tunnel_port))
                                return c.recvfrom(2048)[0] == payload
                        with socket.create_connection(("127.0.0.1", tunnel_port)) as s:
                            s.sendall(payload)
                            return sslib.recv_exact(s, len(payload)) == payload

                    self.assertTrue(forwards(b"before"))
                    new = self.upgrade(tunnel, tunnel.p.pid)
                    self.assertTrue(forwards(b"after"))
                    os.kill(new, signal.SIGTERM)
                    self.assertTrue(wait_gone(new, 15))

    def test_ss_manager_keeps_the_ports_added_through_its_api(self):
        api_port = sslib.free_port("127.0.0.1")
        manager = sslib.Proc([self.builds.program("ss-manager"), "--manager-address",
                              f"127.0.0.1:{api_port}", "-m", METHOD, "--outbound-allow-private"],
                             name="ss-manager")
        manager.ours = True
        with sslib.running(manager), socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as api:
            manager.wait_for("manager API on")
            api.settimeout(5 * sslib.SLOW)
            port = sslib.free_port()
            api.sendto(b'add: {"server_port": %d, "password": "%s"}' % (port, PASSWORD.encode()),
                       ("127.0.0.1", api_port))
            self.assertEqual(api.recv(100), b"ok")
            local, local_port = sslib.our_local(port, METHOD, PASSWORD)
            with sslib.running(local):
                self.request_through(local_port)
                self.upgrade(manager, manager.p.pid)
                self.request_through(local_port)
                # The API's socket went over too, and the new process knows the port.
                api.sendto(b"list", ("127.0.0.1", api_port))
                self.assertIn(b'"server_port":"%d"' % port, api.recv(4096).replace(b" ", b""))

    @unittest.skipIf(PORTABLE, "the portable build has no service manager")
    def test_systemd_follows_the_new_process(self):
        notify_path = os.path.join(self.dir, "notify")
        receiver = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        receiver.bind(notify_path)
        receiver.settimeout(30 * sslib.SLOW)
        self.addCleanup(receiver.close)
        env = dict(os.environ, NOTIFY_SOCKET=notify_path)
        server, port = self.server(env=env)
        messages = []

        def until(pattern):
            while True:
                text = receiver.recv(4096).decode()
                messages.append(text)
                if re.search(pattern, text):
                    return text

        with sslib.running(server):
            until(r"READY=1")
            new = self.upgrade(server, server.p.pid)
            text = until(r"MAINPID=")
            self.assertIn(f"MAINPID={new}\n", text)
            self.assertIn("READY=1", text)
            self.assertTrue(wait_gone(server.p.pid, 30))
            self.assertFalse([m for m in messages if "STOPPING=1" in m],
                             "the old process must not tell systemd the service stops")
            os.kill(new, signal.SIGTERM)
            until(r"STOPPING=1")
            self.assertTrue(wait_gone(new, 30))


if __name__ == "__main__":
    unittest.main()
