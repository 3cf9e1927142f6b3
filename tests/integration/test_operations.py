#!/usr/bin/env python3
"""Everyday operation (issue 7): systemd readiness notifications on a NOTIFY_SOCKET the test
creates, live reload on SIGHUP, SIP002 ss:// URLs (--server-url, server_url, --print-url) and
the QR code, decoded by zbarimg (a decoder we did not write)."""

import json
import os
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

METHOD = "aes-256-gcm"


def run(name, *args, timeout=20):
    r = subprocess.run([sslib.binary(name), *map(str, args)], capture_output=True, text=True,
                       timeout=timeout * sslib.SLOW, stdin=subprocess.DEVNULL)
    return r.returncode, r.stdout, r.stderr.strip().splitlines()


def write_json(path, obj):
    with open(path + ".tmp", "w") as f:
        json.dump(obj, f)
    os.replace(path + ".tmp", path)  # as an editor or config manager would: never half a file


class NotifySocket:
    """An AF_UNIX datagram socket standing in for systemd's notification socket."""

    def __init__(self):
        self.dir = tempfile.mkdtemp()
        self.path = os.path.join(self.dir, "notify")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.settimeout(10 * sslib.SLOW)

    def env(self):
        return dict(os.environ, NOTIFY_SOCKET=self.path)

    def expect(self, key):
        """The next message that sets `key` (e.g. "READY=1"); fails after the timeout."""
        deadline = time.monotonic() + 10 * sslib.SLOW
        seen = []
        while time.monotonic() < deadline:
            try:
                msg = self.sock.recv(4096).decode()
            except socket.timeout:
                break
            seen.append(msg)
            if key in msg.split("\n"):
                return msg
        raise AssertionError(f"no {key} on the notify socket; got {seen}")

    def close(self):
        self.sock.close()
        shutil.rmtree(self.dir, ignore_errors=True)


class SystemdNotify(unittest.TestCase):
    def setUp(self):
        if sslib.PORTABLE and self._testMethodName != "test_without_systemd_nothing_changes":
            self.skipTest("the portable build tells no service manager")

    def check_lifecycle(self, args):
        n = NotifySocket()
        try:
            p = sslib.Proc(args, env=n.env())
            ready = n.expect("READY=1")
            self.assertTrue(any(l.startswith("STATUS=serving on 127.0.0.1:")
                                for l in ready.split("\n")), ready)
            p.listen_port()  # ready means listening: the log says so too
            p.p.send_signal(signal.SIGHUP)
            reloading = n.expect("RELOADING=1")
            self.assertRegex(reloading, r"MONOTONIC_USEC=\d+")
            n.expect("READY=1")
            p.p.send_signal(signal.SIGTERM)
            n.expect("STOPPING=1")
            p.cleanup()
        finally:
            n.close()

    def test_server_ready_reloading_stopping(self):
        self.check_lifecycle([sslib.binary("ss-server"), "-s", "127.0.0.1", "-p", 0, "-m", METHOD,
                              "-k", "pw"])

    def test_local_and_tunnel_too(self):
        self.check_lifecycle([sslib.binary("ss-local"), "-s", "127.0.0.1", "-p", 9, "-l", 0,
                              "-m", METHOD, "-k", "pw"])
        self.check_lifecycle([sslib.binary("ss-tunnel"), "-s", "127.0.0.1", "-p", 9, "-l", 0,
                              "-m", METHOD, "-k", "pw", "-L", "127.0.0.1:9"])

    def test_without_systemd_nothing_changes(self):
        env = {k: v for k, v in os.environ.items() if k != "NOTIFY_SOCKET"}
        p = sslib.Proc([sslib.binary("ss-server"), "-s", "127.0.0.1", "-p", 0, "-m", METHOD,
                        "-k", "pw"], env=env)
        with sslib.running(p):
            p.listen_port()
            self.assertNotIn("notify", p.text())


class WithEchoTarget(sslib.TargetTestCase):
    """Tests that talk to a local echo server through a proxy."""

    target_handler = staticmethod(sslib.echo_handler)

    def echo_once(self, socks_port, payload=b"ping"):
        with sslib.socks5_connect(socks_port, "127.0.0.1", self.target_port, timeout=10) as s:
            s.sendall(payload)
            return sslib.recv_exact(s, len(payload))


class Reload(WithEchoTarget):

    def refused(self, socks_port):
        """True when a request through this ss-local gets nothing back (wrong password)."""
        with sslib.socks5_connect(socks_port, "127.0.0.1", self.target_port, timeout=10) as s:
            s.settimeout(3 * sslib.SLOW)
            s.sendall(b"ping")
            try:
                return s.recv(16) == b""
            except (socket.timeout, ConnectionError):
                return True

    def test_new_password_for_new_connections_only_and_bad_config_refused(self):
        tmp = tempfile.mkdtemp()
        path = os.path.join(tmp, "server.json")
        base = {"server": "127.0.0.1", "server_port": 0, "method": METHOD,
                "outbound_allow_private": True, "timeout": 60}
        write_json(path, dict(base, password="old-password"))
        server = sslib.Proc([sslib.binary("ss-server"), "-c", path, "--workers", 2])
        port = server.listen_port()
        old_local, old_port = sslib.our_local(port, METHOD, "old-password")
        new_local, new_port = sslib.our_local(port, METHOD, "new-password")
        with sslib.running(server, old_local, new_local):
            self.assertEqual(self.echo_once(old_port), b"ping")
            self.assertTrue(self.refused(new_port))
            # An established connection under the old password...
            held = sslib.socks5_connect(old_port, "127.0.0.1", self.target_port, timeout=10)
            held.sendall(b"before")
            self.assertEqual(sslib.recv_exact(held, 6), b"before")

            write_json(path, dict(base, password="new-password"))
            server.p.send_signal(signal.SIGHUP)
            server.wait_for(r"configuration reloaded")
            # ...keeps flowing; new connections need the new password.
            held.sendall(b"after reload")
            self.assertEqual(sslib.recv_exact(held, 12), b"after reload")
            self.assertEqual(self.echo_once(new_port), b"ping")
            self.assertTrue(self.refused(old_port))

            # A broken config is refused with a log line; the running one stays.
            write_json(path, dict(base, password="third", method="rc4-md5"))
            server.p.send_signal(signal.SIGHUP)
            line = server.wait_for(r"reload refused.*method.*").group(0)
            self.assertNotIn("third", line)
            self.assertEqual(self.echo_once(new_port), b"ping")
            with open(path, "w") as f:
                f.write("{ not json")
            server.p.send_signal(signal.SIGHUP)
            server.wait_for(r"reload refused.*not valid JSON")
            self.assertEqual(self.echo_once(new_port), b"ping")
            held.sendall(b"still")
            self.assertEqual(sslib.recv_exact(held, 5), b"still")
            held.close()
        shutil.rmtree(tmp)

    def test_listen_port_change_waits_for_restart(self):
        tmp = tempfile.mkdtemp()
        path = os.path.join(tmp, "server.json")
        cfg = {"server": "127.0.0.1", "server_port": 0, "method": METHOD, "password": "pw",
               "outbound_allow_private": True}
        write_json(path, cfg)
        server = sslib.Proc([sslib.binary("ss-server"), "-c", path])
        port = server.listen_port()
        local, local_port = sslib.our_local(port, METHOD, "pw")
        with sslib.running(server, local):
            write_json(path, dict(cfg, server_port=sslib.free_port()))
            server.p.send_signal(signal.SIGHUP)
            server.wait_for(r"reload: server_port changed; the change takes effect at the next "
                            r"restart")
            server.wait_for(r"configuration reloaded")
            self.assertEqual(self.echo_once(local_port), b"ping")
        shutil.rmtree(tmp)


class ServerUrl(WithEchoTarget):
    def echo_through(self, socks_port):
        self.assertEqual(self.echo_once(socks_port, b"hello"), b"hello")

    def test_print_url_feeds_server_url(self):
        password = "p@ss:w/rd 密码?#"
        server, port = sslib.our_server(METHOD, password)
        with sslib.running(server):
            code, out, err = run("ss-server", "-s", "127.0.0.1", "-p", port, "-m", METHOD,
                                 "-k", password, "--print-url")
            self.assertEqual(code, 0, err)
            url = out.strip()
            self.assertTrue(url.startswith("ss://"), out)
            self.assertEqual(len(out.splitlines()), 1, "no QR code when stdout is not a terminal")
            self.assertIn(f"@127.0.0.1:{port}", url)
            # The URL alone configures ss-local, as a flag and as a JSON key.
            local = sslib.Proc([sslib.binary("ss-local"), "--server-url", url, "-l", 0])
            with sslib.running(local):
                self.echo_through(local.listen_port())
            tmp = tempfile.mkdtemp()
            path = os.path.join(tmp, "local.json")
            write_json(path, {"server_url": url, "local_port": 0})
            local = sslib.Proc([sslib.binary("ss-local"), "-c", path])
            with sslib.running(local):
                self.echo_through(local.listen_port())
            shutil.rmtree(tmp)

    def test_plain_userinfo_form(self):
        server, port = sslib.our_server("chacha20-ietf-poly1305", "a+b/c=")
        url = f"ss://chacha20-ietf-poly1305:a%2Bb%2Fc%3D@127.0.0.1:{port}/#plain%20form"
        with sslib.running(server):
            local = sslib.Proc([sslib.binary("ss-tunnel"), "--server-url", url, "-l", 0, "-L",
                                f"127.0.0.1:{self.target_port}"])
            with sslib.running(local):
                with socket.create_connection(("127.0.0.1", local.listen_port())) as s:
                    s.sendall(b"tunnel")
                    self.assertEqual(sslib.recv_exact(s, 6), b"tunnel")

    def test_public_host_and_unspecified_listen_address(self):
        code, out, err = run("ss-server", "-s", "0.0.0.0", "-p", 8388, "-k", "pw", "--print-url")
        self.assertEqual(code, 2)
        self.assertEqual(len(err), 1, err)
        self.assertIn("--public-host", err[0])
        code, out, err = run("ss-server", "-s", "0.0.0.0", "-p", 8388, "-k", "pw", "-m", METHOD,
                             "--print-url", "--public-host", "vps.example.org")
        self.assertEqual(code, 0, err)
        self.assertEqual(out.strip(),
                         "ss://" + "YWVzLTI1Ni1nY206cHc" + "@vps.example.org:8388")
        code, out, err = run("ss-server", "-p", 8388, "-k", "pw", "--print-url", "--public-host",
                             "not a host!")
        self.assertEqual(code, 2)
        self.assertEqual(err, ["ss-server: --public-host: host is not a host name or IP address"])
        code, out, err = run("ss-server", "-p", 8388, "--key",
                             "qBBSBGBKCxHpFvOHmq47C85cafdYUUFJ2mBau/FoAZQ=", "-m", METHOD,
                             "--print-url", "--public-host", "h")
        self.assertEqual(code, 2)
        self.assertIn("needs a password", err[0])

    def test_malformed_urls_are_one_line_naming_the_part(self):
        cases = [
            ("http://x@h:1", "scheme"),
            ("ss://h:1", "userinfo"),
            ("ss://%%%@h:1", "userinfo"),
            ("ss://YWVzLTI1Ni1nY206cHc@h", "port"),
            ("ss://YWVzLTI1Ni1nY206cHc@h:99999", "port"),
            ("ss://YWVzLTI1Ni1nY206cHc@:1", "host"),
            ("ss://YWVzLTI1Ni1nY206cHc@h:1/?plugin=obfs-absent%3Bobfs%3Dhttp", "not installed"),
            ("ss://cmM0LW1kNTpwYXNzd2Q@192.168.100.1:8888", "stream cipher"),
        ]
        for url, needle in cases:
            with self.subTest(url=url):
                code, _, err = run("ss-local", "--server-url", url)
                self.assertEqual(code, 2, err)
                self.assertEqual(len(err), 1, err)
                self.assertTrue(err[0].startswith("ss-local: --server-url: "), err[0])
                self.assertIn(needle, err[0])
        code, _, err = run("ss-local", "--server-url", "ss://YWVzLTI1Ni1nY206cHc@h:1", "-k", "x")
        self.assertEqual(code, 2)
        self.assertIn("conflicts with -k", err[0])
        self.assertEqual(len(err), 1, err)  # not also "server: is required" and the like

    @unittest.skipUnless(shutil.which("zbarimg"), "zbar-tools is not installed")
    def test_qr_code_on_a_terminal_decodes_to_the_url(self):
        code, out, err = sslib.run_on_terminal(
            [sslib.binary("ss-server"), "-s", "203.0.113.7", "-p", "8388", "-m", METHOD, "-k",
             "correct horse battery staple", "--print-url"])
        self.assertEqual(code, 0, err)
        lines = out.splitlines()
        url, art = lines[0], [l for l in lines[1:] if l]
        self.assertTrue(url.startswith("ss://"), url)
        self.assertGreater(len(art), 10, "a QR code follows the URL on a terminal")
        # Back to modules: a full block is two light modules, a space two dark ones.
        halves = {"\u2588": (0, 0), "\u2580": (0, 1), "\u2584": (1, 0), " ": (1, 1)}
        rows = []
        for line in art:
            top, bottom = zip(*(halves[c] for c in line))
            rows += [top, bottom]
        scale, border = 8, 4
        width = len(rows[0]) + 2 * border
        height = len(rows) + 2 * border
        blank = [0] * width
        padded = [blank] * border + [[0] * border + list(r) + [0] * border for r in rows] + \
                 [blank] * border
        tmp = tempfile.mkdtemp()
        pbm = os.path.join(tmp, "qr.pbm")
        with open(pbm, "w") as f:
            f.write(f"P1\n{width * scale} {height * scale}\n")
            for r in padded:
                line = " ".join(str(v) for v in r for _ in range(scale))
                for _ in range(scale):
                    f.write(line + "\n")
        r = subprocess.run(["zbarimg", "--raw", "-q", pbm], capture_output=True, text=True,
                           timeout=30)
        shutil.rmtree(tmp)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.strip(), url)


if __name__ == "__main__":
    unittest.main(verbosity=2)
