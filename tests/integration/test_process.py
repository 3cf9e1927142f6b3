#!/usr/bin/env python3
"""libev's process flags (issue 12): -n (open-file limit), -a (drop privileges after binding),
-f (background with a pid file), --mptcp (Multipath TCP) and --mtu, with their JSON keys.
Everything on 127.0.0.1 with ephemeral ports; every process is ended by its PID."""

import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import sslib  # noqa: E402

PASSWORD = "process-test-password"
METHOD = "aes-256-gcm"


def proc_status(pid):
    with open(f"/proc/{pid}/status") as f:
        return dict(line.rstrip("\n").split(":\t", 1) for line in f if ":\t" in line)


def relay_works(local_port):
    """A round trip through ss-local and ss-server to a target on loopback."""
    srv, port = sslib.serve(sslib.exchange_handler)
    try:
        with sslib.socks5_connect(local_port, "127.0.0.1", port) as s:
            sslib.exchange(s, 4096, 4096)
    finally:
        sslib.stop_server(srv)


def wait_gone(pid, seconds=10.0):
    deadline = time.monotonic() + seconds * sslib.SLOW
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False


class FileLimit(unittest.TestCase):
    def test_n_sets_the_open_file_limit(self):
        for args in (["-n", 4096], ["-c", None]):
            with self.subTest(args=args[0]):
                extra = args
                path = None
                if args[1] is None:
                    fd, path = tempfile.mkstemp(suffix=".json")
                    os.write(fd, b'{"nofile": 4096}')
                    os.close(fd)
                    extra = ["-c", path]
                server, _ = sslib.our_server(METHOD, PASSWORD, *extra)
                try:
                    with sslib.running(server):
                        with open(f"/proc/{server.p.pid}/limits") as f:
                            line = next(l for l in f if l.startswith("Max open files"))
                        self.assertEqual(line.split()[3], "4096", line)
                finally:
                    if path:
                        os.unlink(path)

    @unittest.skipIf(sslib.SANITIZED, "UBSan's own checks need free descriptors (it opens a "
                     "pipe to test whether memory is readable) and report false errors without "
                     "them; the plain build runs this test")
    def test_running_out_of_files_keeps_serving(self):
        # 64 files, and a cap above what they hold: accept() fails with EMFILE while 80 idle
        # connections hold the files; the server says so, and serves again once they are gone.
        server, server_port = sslib.our_server(METHOD, PASSWORD, "-n", 64,
                                               "--max-connections", 1000)
        local, local_port = sslib.our_local(server_port, METHOD, PASSWORD)
        with sslib.running(server, local):
            server.wait_for("max_connections: 1000 connections need about 2064 open files, "
                            "but the open-file limit is 64")
            held = [socket.create_connection(("127.0.0.1", server_port)) for _ in range(80)]
            try:
                server.wait_for("accept failed: Too many open files")
            finally:
                for s in held:
                    s.close()
            time.sleep(0.5 * sslib.SLOW)
            relay_works(local_port)

    def test_out_of_range_is_refused(self):
        r = subprocess.run([sslib.binary("ss-server"), "-p", "0", "-k", PASSWORD, "-n", "10"],
                           capture_output=True, text=True, timeout=20)
        self.assertEqual(r.returncode, 2)
        self.assertIn("-n: must be from 64 to 16777216 files", r.stderr)


@unittest.skipUnless(os.geteuid() == 0, "dropping privileges needs root")
class RunAs(unittest.TestCase):
    def test_a_drops_to_the_user_after_binding(self):
        nobody = pwd.getpwnam("nobody")
        server, server_port = sslib.our_server(METHOD, PASSWORD, "-a", "nobody")
        local, local_port = sslib.our_local(server_port, METHOD, PASSWORD)
        with sslib.running(server, local):
            status = proc_status(server.p.pid)
            # Real, effective, saved and file-system ids: all of them.
            self.assertEqual(status["Uid"].split(), [str(nobody.pw_uid)] * 4)
            self.assertEqual(status["Gid"].split(), [str(nobody.pw_gid)] * 4)
            self.assertNotIn("0", status["Groups"].split())
            relay_works(local_port)

    def test_an_unknown_user_is_a_config_error(self):
        r = subprocess.run([sslib.binary("ss-server"), "-p", "0", "-k", PASSWORD, "-a",
                            "no-such-user-here"], capture_output=True, text=True, timeout=20)
        self.assertEqual(r.returncode, 2)
        self.assertIn('-a: no such user "no-such-user-here"', r.stderr)


class Background(unittest.TestCase):
    def test_f_returns_once_serving_and_writes_the_pid_file(self):
        with tempfile.TemporaryDirectory() as tmp:
            pid_file = os.path.join(tmp, "ss-server.pid")
            port = sslib.free_port()
            r = subprocess.run([sslib.binary("ss-server"), "-s", "127.0.0.1", "-p", str(port), "-k",
                                PASSWORD, "-m", METHOD, "--outbound-allow-private", "-f",
                                pid_file], capture_output=True, text=True,
                               timeout=30 * sslib.SLOW, stdin=subprocess.DEVNULL)
            self.assertEqual(r.returncode, 0, r.stderr)
            with open(pid_file) as f:
                pid = int(f.read())
            try:
                # Serving already (the command returned at "ready"), in a session of its own.
                self.assertEqual(os.getsid(pid), pid)
                self.assertNotEqual(proc_status(pid)["PPid"], str(os.getpid()))
                local, local_port = sslib.our_local(port, METHOD, PASSWORD)
                with sslib.running(local):
                    relay_works(local_port)
            finally:
                os.kill(pid, signal.SIGTERM)
            self.assertTrue(wait_gone(pid), "the background server did not stop")
            self.assertFalse(os.path.exists(pid_file), "the pid file outlived the daemon")

    def test_f_reports_a_start_failure_with_its_status(self):
        with tempfile.TemporaryDirectory() as tmp, socket.socket() as busy:
            busy.bind(("127.0.0.1", 0))
            busy.listen()
            pid_file = os.path.join(tmp, "ss-server.pid")
            r = subprocess.run([sslib.binary("ss-server"), "-s", "127.0.0.1", "-p",
                                str(busy.getsockname()[1]), "-k", PASSWORD, "-f", pid_file],
                               capture_output=True, text=True, timeout=30 * sslib.SLOW,
                               stdin=subprocess.DEVNULL)
            self.assertEqual(r.returncode, 1)
            self.assertIn("cannot listen on 127.0.0.1", r.stderr)
            self.assertFalse(os.path.exists(pid_file))


def mptcp_available():
    try:
        socket.socket(socket.AF_INET, socket.SOCK_STREAM, 262).close()
        return True
    except OSError:
        return False


class LogFile(unittest.TestCase):
    def test_the_log_is_appended_to_the_file(self):
        with tempfile.TemporaryDirectory() as tmp:
            log = os.path.join(tmp, "ss-server.log")
            with open(log, "w") as f:
                f.write("an earlier line\n")
            server = sslib.Proc([sslib.binary("ss-server"), "-s", "127.0.0.1", "-p", 0, "-m",
                                 METHOD, "-k", PASSWORD, "--log-file", log])
            with sslib.running(server):
                text = sslib.file_text_once(log, "listening on")
                self.assertTrue(text.startswith("an earlier line\n"), text)
                self.assertIn("listening on 127.0.0.1:", text)
                self.assertNotIn("listening on", server.text())  # not on standard error

    def test_a_file_that_cannot_be_written_is_a_config_error(self):
        r = subprocess.run([sslib.binary("ss-server"), "-p", "0", "-k", PASSWORD, "--log-file",
                            "/nonexistent-directory/ss.log"], capture_output=True, text=True,
                           timeout=20)
        self.assertEqual(r.returncode, 2)
        self.assertIn('--log-file: cannot write "/nonexistent-directory/ss.log"', r.stderr)
        self.assertEqual(len(r.stderr.strip().splitlines()), 1, r.stderr)


class Multipath(unittest.TestCase):
    @unittest.skipUnless(mptcp_available() and shutil.which("ss"),
                         "no MPTCP in this kernel, or no ss(8)")
    def test_mptcp_between_local_and_server(self):
        server, server_port = sslib.our_server(METHOD, PASSWORD, "--mptcp")
        local, local_port = sslib.our_local(server_port, METHOD, PASSWORD, "--mptcp")
        with sslib.running(server, local):
            # ss-server's listener is an MPTCP socket ...
            out = subprocess.run(["ss", "-Mltn", f"sport = :{server_port}"], capture_output=True,
                                 text=True, timeout=10).stdout
            self.assertIn(f":{server_port}", out)
            # ... and the relay works through an MPTCP connection.
            relay_works(local_port)
            self.assertNotIn("multipath TCP is not available", local.text() + server.text())

    def test_mptcp_key_is_accepted_everywhere(self):
        for name in ("ss-server", "ss-local", "ss-tunnel"):
            with self.subTest(name=name):
                r = subprocess.run([sslib.binary(name), "--help"], capture_output=True, text=True,
                                   timeout=20)
                self.assertIn("--mptcp", r.stdout)


class Mtu(unittest.TestCase):
    def test_a_datagram_the_mtu_would_fragment_is_logged_and_relayed(self):
        echo = sslib.UdpServer()
        server, server_port = sslib.our_server(METHOD, PASSWORD, "-u", "-v", "--mtu", 1000)
        local, local_port = sslib.our_local(server_port, METHOD, PASSWORD, "-u")
        try:
            with sslib.running(server, local):
                control, relay = sslib.socks5_udp_associate(local_port)
                with control, sslib.udp_client(timeout=5 * sslib.SLOW) as c:
                    payload = os.urandom(1200)
                    c.sendto(sslib.udp_wrap("127.0.0.1", echo.port, payload), relay)
                    self.assertEqual(sslib.udp_unwrap(c.recv(65535))[2], payload)
                server.wait_for(re.escape("will be fragmented: an MTU of 1000 leaves room for 905"))
        finally:
            echo.stop()

    def test_mtu_out_of_range_is_refused(self):
        r = subprocess.run([sslib.binary("ss-server"), "-p", "0", "-k", PASSWORD, "--mtu", "100"],
                           capture_output=True, text=True, timeout=20)
        self.assertEqual(r.returncode, 2)
        self.assertIn("--mtu: must be from 576 to 65535 bytes", r.stderr)


def hosts_only_name():
    """A name /etc/hosts maps to 127.0.0.1 that the system resolver also knows, other than
    localhost; None if there is none."""
    with open("/etc/hosts") as f:
        for line in f:
            fields = line.split("#")[0].split()
            for name in fields[1:] if fields and fields[0] == "127.0.0.1" else []:
                if not name.startswith("localhost") and "." not in name.rstrip("."):
                    try:
                        if socket.gethostbyname(name) == "127.0.0.1":
                            return name.lower()
                    except OSError:
                        pass
    return None


class Nameserver(unittest.TestCase):
    NAME = "only-in-our-dns.example"

    def fetch(self, local_port, host, port):
        with sslib.socks5_connect(local_port, host, port) as s:
            s.settimeout(10 * sslib.SLOW)
            s.sendall(b"hello")
            return sslib.recv_all(s)

    def test_d_resolves_through_that_server_and_not_etc_hosts(self):
        dns = sslib.TinyDns(self.NAME)
        srv, port = sslib.serve(lambda sock: sock.sendall(b"target says hi"))
        server, server_port = sslib.our_server(METHOD, PASSWORD, "-v", "-d",
                                               f"127.0.0.1:{dns.port}")
        local, local_port = sslib.our_local(server_port, METHOD, PASSWORD)
        try:
            with sslib.running(server, local):
                self.assertEqual(self.fetch(local_port, self.NAME, port), b"target says hi")
                self.assertIn(self.NAME, dns.asked)
                # A name /etc/hosts knows and this name server does not: it is the one asked.
                # (Not "localhost", which c-ares answers itself, as RFC 6761 allows.)
                name = hosts_only_name()
                if name is None:
                    self.skipTest("/etc/hosts names no loopback address but localhost")
                self.assertEqual(self.fetch(local_port, name, port), b"")
                self.assertIn(name, dns.asked)
                server.wait_for(re.escape(name) + r":\d+: cannot connect")
        finally:
            sslib.stop_server(srv)
            dns.stop()

    def test_d_needs_ip_addresses(self):
        for bad in ("dns.example", "127.0.0.1:0", "1.1.1.1,,8.8.8.8"):
            with self.subTest(bad=bad):
                r = subprocess.run([sslib.binary("ss-server"), "-p", "0", "-k", PASSWORD, "-d", bad],
                                   capture_output=True, text=True, timeout=20)
                self.assertEqual(r.returncode, 2, r.stderr)
                self.assertIn("-d: must be IP addresses", r.stderr)


class OpenSslConfig(unittest.TestCase):
    """The system's openssl.cnf is not read (nothing in it applies, and reading it costs memory
    at start); a file named by OPENSSL_CONF is."""

    def opened_files(self, env):
        """The files ss-server opens from start until it listens, by strace."""
        with tempfile.TemporaryDirectory() as tmp:
            trace = os.path.join(tmp, "trace")
            p = sslib.Proc(["strace", "-f", "-e", "trace=open,openat", "-o", trace,
                            sslib.binary("ss-server"), "-s", "127.0.0.1", "-p", 0, "-m", METHOD,
                            "-k", PASSWORD], name="ss-server", env=env)
            try:
                p.listen_port()
            finally:
                # strace leaves its tracee running when it is stopped itself: stop the daemon
                # (strace's child, which this test started), and strace ends with it.
                with open(f"/proc/{p.p.pid}/task/{p.p.pid}/children") as f:
                    for child in f.read().split():
                        os.kill(int(child), signal.SIGTERM)
                p.p.wait(timeout=10 * sslib.SLOW)
                p.cleanup()
            with open(trace) as f:
                return f.read()

    @unittest.skipUnless(shutil.which("strace"), "needs strace")
    def test_only_a_config_named_in_the_environment_is_read(self):
        env = {k: v for k, v in os.environ.items() if k != "OPENSSL_CONF"}
        self.assertNotIn("openssl.cnf", self.opened_files(env))
        with tempfile.NamedTemporaryFile("w", suffix=".cnf") as conf:
            conf.write("# read by OpenSSL when OPENSSL_CONF names it\n")
            conf.flush()
            self.assertIn(conf.name, self.opened_files(dict(env, OPENSSL_CONF=conf.name)))


if __name__ == "__main__":
    unittest.main(verbosity=2)
