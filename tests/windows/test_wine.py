#!/usr/bin/env python3
"""The Windows build (issue 31) under Wine, with outside peers: curl through ss-local.exe's
SOCKS5 and HTTP proxy to our Linux ss-server and to shadowsocks-libev's for every AEAD method,
libev's ss-local to ss-server.exe, ss-local.exe to ss-server.exe, UDP ASSOCIATE, a 2022 method
with an identity header, an ACL file, failover, a SIP003 plugin started and ended with us,
Ctrl-C's drain, the refusals and the messages of a bad configuration, 64 MiB intact,
--service under Wine's service manager, --print-url, %APPDATA% in paths, and SIP008 verified
against Windows' trusted root store.

Environment (tests/windows/CMakeLists.txt): SS_WIN_BIN_DIR (the .exe files), SS_BIN_DIR (our
Linux build, for its ss-server and for the messages to compare), SS_WINE (wine64),
WINEPREFIX (made once per run by `prefix`), SS_FORWARDER (the test plugin's .exe),
SS_ROOT_STORE (tests/tools/root_store.cpp's .exe)."""

import hashlib
import http.server
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "integration"))
import sslib  # noqa: E402

WIN_BIN_DIR = os.environ.get("SS_WIN_BIN_DIR", "")
WINE = os.environ.get("SS_WINE", "/usr/lib/wine/wine64")
FORWARDER = os.environ.get("SS_FORWARDER", "")
ROOT_STORE = os.environ.get("SS_ROOT_STORE", "")
PASSWORD = "wine-test-password-0123456789"
WINE_ENV = dict(os.environ, WINEDEBUG="-all")
# Starting a program under Wine takes about a second; everything waits a little longer.
STARTUP = 30.0


def exe(name):
    return os.path.join(WIN_BIN_DIR, name + ".exe")


def windows_path(path):
    """A Linux path as the Windows program sees it (Wine's Z: drive is /)."""
    return "Z:" + path.replace("/", "\\")


class WinProc(sslib.Proc):
    """One of our .exe files under Wine; Ctrl-C (SIGINT, which Wine turns into CTRL_C_EVENT)
    stops it, and it must exit 0."""

    def __init__(self, name, *args, env=None):
        super().__init__([WINE, exe(name), *args], name=name + ".exe", env=env or WINE_ENV)
        self.ours = True

    def listen_port(self):
        m = self.wait_for(r"listening on (\S+?):(\d+)[ ,]", timeout=STARTUP)
        return int(m.group(2))

    def stop(self, sig=signal.SIGINT, timeout=15.0):
        return super().stop(sig, timeout)


def run_exe(name, *args, timeout=60):
    """Runs a .exe to its end: (exit code, output). The output goes through a file, not a
    pipe, which a Windows process Wine starts on the side could hold open."""
    with tempfile.TemporaryFile() as out:
        p = subprocess.run([WINE, exe(name), *map(str, args)], env=WINE_ENV, stdout=out,
                           stderr=subprocess.STDOUT, timeout=timeout * sslib.SLOW,
                           stdin=subprocess.DEVNULL)
        out.seek(0)
        return p.returncode, out.read().decode(errors="replace")


def local_exe(server_port, method, *extra, password=PASSWORD):
    p = WinProc("ss-local", "-s", "127.0.0.1", "-p", server_port, "-l", 0, "-m", method,
                "-k", password, *extra)
    return p, p.listen_port()


def plugin_running():
    """Whether the test plugin runs in our Wine prefix (each Windows process is a Linux one;
    Wine's tasklist lists nothing)."""
    prefix = ("WINEPREFIX=" + os.environ.get("WINEPREFIX", "")).encode()
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if b"sip003_forwarder.exe" not in f.read():
                    continue
            with open(f"/proc/{pid}/environ", "rb") as f:
                if prefix in f.read().split(b"\0"):
                    return True
        except OSError:
            continue
    return False


def curl(*args, timeout=60):
    p = subprocess.run(["curl", "-sS", "--max-time", str(timeout), *map(str, args)],
                       capture_output=True, timeout=timeout + 10)
    if p.returncode != 0:
        raise AssertionError(f"curl {' '.join(map(str, args))}: {p.stderr.decode(errors='replace')}")
    return p.stdout


class Files(http.server.BaseHTTPRequestHandler):
    """GET /N: N bytes from a fixed seed (so that the client can check them); /: a page. Sets
    `requested` for each request."""

    requested = threading.Event()

    def do_GET(self):
        Files.requested.set()
        size = int(self.path[1:]) if self.path[1:].isdigit() else 0
        body = pattern(size) if size else b"<html>shadowsocks-cpp under Wine</html>\n"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


_patterns = {}


def pattern(size):
    if size not in _patterns:
        block = hashlib.sha256(b"wine").digest() * 2048  # 64 KiB
        _patterns[size] = (block * (size // len(block) + 1))[:size]
    return _patterns[size]


class WebTarget(unittest.TestCase):
    """An HTTP server on 127.0.0.1 for the whole class."""

    @classmethod
    def setUpClass(cls):
        cls.web = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Files)
        cls.web_port = cls.web.server_address[1]
        threading.Thread(target=cls.web.serve_forever, daemon=True).start()

    @classmethod
    def tearDownClass(cls):
        cls.web.shutdown()
        cls.web.server_close()

    def fetch_all_ways(self, local_port):
        """The page through the local port: SOCKS5 with an IPv4 target and with a domain
        target, and as an HTTP proxy."""
        page = b"<html>shadowsocks-cpp under Wine</html>\n"
        url = f"http://127.0.0.1:{self.web_port}/"
        self.assertEqual(curl("--socks5", f"127.0.0.1:{local_port}", url), page)
        self.assertEqual(curl("--socks5-hostname", f"127.0.0.1:{local_port}",
                              f"http://localhost:{self.web_port}/"), page)
        self.assertEqual(curl("-x", f"http://127.0.0.1:{local_port}", url), page)


class LocalExe(WebTarget):
    """ss-local.exe against servers on Linux: ours and libev's."""

    def test_every_aead_method_through_our_server_and_libevs(self):
        for method in sslib.METHODS:
            with self.subTest(method=method, server="ours"):
                server, server_port = sslib.our_server(method, PASSWORD)
                local, local_port = local_exe(server_port, method)
                with sslib.running(local, server):
                    self.fetch_all_ways(local_port)
            if not shutil.which("ss-server"):
                continue
            with self.subTest(method=method, server="libev"):
                server_port = sslib.free_port()
                server = sslib.libev("ss-server", "-s", "127.0.0.1", "-p", server_port, "-k",
                                     PASSWORD, "-m", method, port=server_port)
                local, local_port = local_exe(server_port, method)
                with sslib.running(local, server):
                    self.fetch_all_ways(local_port)

    def test_64_mib_arrive_intact(self):
        server, server_port = sslib.our_server("aes-256-gcm", PASSWORD)
        local, local_port = local_exe(server_port, "aes-256-gcm")
        with sslib.running(local, server):
            size = 64 << 20
            body = curl("--socks5", f"127.0.0.1:{local_port}",
                        f"http://127.0.0.1:{self.web_port}/{size}", timeout=300)
            self.assertEqual(len(body), size)
            self.assertEqual(hashlib.sha256(body).digest(), hashlib.sha256(pattern(size)).digest())

    def test_udp_associate_carries_1_byte_to_8_kib(self):
        echo = sslib.UdpServer("127.0.0.1")
        server, server_port = sslib.our_server("chacha20-ietf-poly1305", PASSWORD, "-u")
        local, local_port = local_exe(server_port, "chacha20-ietf-poly1305", "-u")
        try:
            with sslib.running(local, server):
                control, relay = sslib.socks5_udp_associate(local_port, timeout=STARTUP)
                with control, sslib.udp_client(timeout=10.0 * sslib.SLOW) as client:
                    for size in (1, 100, 1400, 4096, 8192):
                        payload = os.urandom(size)
                        with self.subTest(size=size):
                            _, _, answer = sslib.udp_roundtrip(client, relay, "127.0.0.1",
                                                               echo.port, payload)
                            self.assertEqual(answer, payload)
        finally:
            echo.stop()

    def test_2022_with_an_identity_header(self):
        # Our Linux server with users (SIP023): the client names itself with iPSK:uPSK.
        method = "2022-blake3-aes-256-gcm"
        keys = {}
        for name in ("server", "alice"):
            code, out = run_exe("ss-local", "--keygen", "-m", method)
            self.assertEqual(code, 0, out)
            keys[name] = out.strip().splitlines()[-1]
        with tempfile.TemporaryDirectory() as d:
            config = os.path.join(d, "server.json")
            with open(config, "w") as f:
                json.dump({"users": [{"name": "alice", "password": keys["alice"]}]}, f)
            server, server_port = sslib.our_server(method, keys["server"], "-c", config)
            local, local_port = local_exe(server_port, method,
                                          password=f"{keys['server']}:{keys['alice']}")
            with sslib.running(local, server):
                # A server with users serves no request without a known identity header.
                self.fetch_all_ways(local_port)

    def test_an_acl_file_sends_bypassed_targets_direct(self):
        # No server runs: only the ACL's direct route can reach the target.
        dead = sslib.free_port()
        with tempfile.TemporaryDirectory() as d:
            acl = os.path.join(d, "bypass.acl")
            with open(acl, "w") as f:
                f.write("[proxy_all]\n\n[bypass_list]\n127.0.0.0/8\n")
            local, local_port = local_exe(dead, "aes-128-gcm", "--acl", windows_path(acl))
            with sslib.running(local):
                self.assertEqual(
                    curl("--socks5", f"127.0.0.1:{local_port}", f"http://127.0.0.1:{self.web_port}/"),
                    b"<html>shadowsocks-cpp under Wine</html>\n")

    def test_two_servers_one_down_fails_over(self):
        dead = sslib.free_port()
        server, server_port = sslib.our_server("aes-256-gcm", PASSWORD)
        with tempfile.TemporaryDirectory() as d:
            config = os.path.join(d, "local.json")
            with open(config, "w") as f:
                json.dump({"local_address": "127.0.0.1", "local_port": 0, "method": "aes-256-gcm",
                           "servers": [
                               {"server": "127.0.0.1", "server_port": dead, "password": PASSWORD,
                                "name": "down"},
                               {"server": "127.0.0.1", "server_port": server_port,
                                "password": PASSWORD, "name": "up"}]}, f)
            local = WinProc("ss-local", "-c", windows_path(config))
            local_port = local.listen_port()
            with sslib.running(local, server):
                for _ in range(4):  # whichever server a connection starts with
                    self.fetch_all_ways(local_port)

    def test_a_plugin_starts_and_ends_with_us(self):
        server, server_port = sslib.our_server("aes-128-gcm", PASSWORD)
        local, local_port = local_exe(server_port, "aes-128-gcm", "--plugin",
                                      windows_path(FORWARDER), "--plugin-opts", "mode=test")
        with sslib.running(server):
            try:
                local.wait_for(r'forwarder: listening on port \d+, to port %d, options "mode=test"'
                               % server_port, timeout=STARTUP)
                self.fetch_all_ways(local_port)
                self.assertTrue(plugin_running())
                self.assertEqual(local.stop(), 0, local.text())
                self.assertFalse(plugin_running(), "the plugin outlived ss-local.exe")
            finally:
                local.cleanup()

    def test_a_plugin_dies_with_a_killed_local(self):
        # The job object: when ss-local.exe is killed outright, Windows ends the plugin too.
        server, server_port = sslib.our_server("aes-128-gcm", PASSWORD)
        local, local_port = local_exe(server_port, "aes-128-gcm", "--plugin",
                                      windows_path(FORWARDER))
        with sslib.running(server):
            try:
                local.wait_for(r"forwarder: listening", timeout=STARTUP)
                self.assertTrue(plugin_running())
                local.p.kill()
                local.p.wait()
                deadline = time.monotonic() + 10 * sslib.SLOW
                while plugin_running() and time.monotonic() < deadline:
                    time.sleep(0.1)
                self.assertFalse(plugin_running(), "the plugin outlived ss-local.exe")
            finally:
                local.log.close()

    def test_the_log_goes_to_a_file_in_windows_form(self):
        server, server_port = sslib.our_server("aes-256-gcm", PASSWORD)
        with tempfile.TemporaryDirectory() as d, sslib.running(server):
            log = os.path.join(d, "ss-local.log")
            local = WinProc("ss-local", "-s", "127.0.0.1", "-p", server_port, "-l", 0, "-m",
                            "aes-256-gcm", "-k", PASSWORD, "--log-file", windows_path(log))
            with sslib.running(local):
                text = sslib.file_text_once(log, "listening on", timeout=STARTUP)
                self.assertRegex(text, r"info ss-local \S+ listening on 127\.0\.0\.1:")

    def test_ctrl_c_lets_an_open_connection_finish(self):
        server, server_port = sslib.our_server("aes-256-gcm", PASSWORD)
        local, local_port = local_exe(server_port, "aes-256-gcm")
        with sslib.running(server):
            try:
                # A download the target sends slowly: it is still open when Ctrl-C comes.
                result = {}

                def fetch():
                    result["body"] = curl("--socks5", f"127.0.0.1:{local_port}", "--limit-rate",
                                          "1M", f"http://127.0.0.1:{self.web_port}/{2 << 20}")

                Files.requested.clear()
                t = threading.Thread(target=fetch)
                t.start()
                self.assertTrue(Files.requested.wait(STARTUP), "the download did not start")
                local.p.send_signal(signal.SIGINT)
                local.wait_for(r"SIGINT received: stopping \(1 open connection", timeout=STARTUP)
                t.join(60)
                self.assertEqual(result.get("body"), pattern(2 << 20))
                self.assertEqual(local.p.wait(30), 0, local.text())
                self.assertIn("ss-local stopped", local.text())
            finally:
                local.cleanup()


class Service(WebTarget):
    """--service install, under Wine's service control manager: started at once (and at boot),
    serving, then stopped with the drain and removed by --service uninstall."""

    def test_install_serve_uninstall(self):
        server, server_port = sslib.our_server("aes-256-gcm", PASSWORD)
        with tempfile.TemporaryDirectory() as d, sslib.running(server):
            log = os.path.join(d, "service.log")
            code, out = run_exe("ss-local", "--service", "install", "-s", "127.0.0.1", "-p",
                                server_port, "-l", 0, "-m", "aes-256-gcm", "-k", PASSWORD,
                                "--log-file", windows_path(log))
            try:
                self.assertEqual(code, 0, out)
                self.assertIn("service shadowsocks-cpp-ss-local installed and started", out)
                text = sslib.file_text_once(log, "listening on", timeout=STARTUP)
                m = re.search(r"listening on 127\.0\.0\.1:(\d+)", text)
                self.assertIsNotNone(m, text)
                self.fetch_all_ways(int(m.group(1)))
            finally:
                code, out = run_exe("ss-local", "--service", "uninstall")
            self.assertEqual(code, 0, out)
            self.assertIn("service shadowsocks-cpp-ss-local stopped and removed", out)
            with open(log) as f:
                text = f.read()
            self.assertIn("SIGTERM received: stopping", text)
            self.assertIn("ss-local stopped", text)
            # Gone: a second uninstall finds no such service.
            code, out = run_exe("ss-local", "--service", "uninstall")
            self.assertEqual(code, 1, out)

    def test_a_wrong_action_is_refused(self):
        code, out = run_exe("ss-local", "--service", "start")
        self.assertEqual(code, 2, out)
        self.assertIn('--service: must be install, uninstall or run, not "start"', out)


class Refusals(unittest.TestCase):
    """Bad input gets the same one line as on Linux, and exit code 2."""

    def linux(self, *args):
        p = subprocess.run([sslib.binary("ss-local"), *map(str, args)], capture_output=True,
                           text=True, timeout=30, stdin=subprocess.DEVNULL)
        return p.returncode, p.stdout + p.stderr

    def test_a_bad_config_gets_the_linux_message(self):
        with tempfile.TemporaryDirectory() as d:
            config = os.path.join(d, "bad.json")
            with open(config, "w") as f:
                json.dump({"server": "127.0.0.1", "server_port": 8388, "password": PASSWORD,
                           "method": "aes-256-gcn", "local_port": 1080}, f)
            code, out = run_exe("ss-local", "-c", windows_path(config))
            linux_code, linux_out = self.linux("-c", config)
        self.assertEqual(code, 2, out)
        self.assertEqual(linux_code, 2, linux_out)
        self.assertEqual(out.strip(), linux_out.strip().replace(config, windows_path(config)))
        self.assertEqual(len(out.strip().splitlines()), 1, out)

    def test_a_missing_file_in_windows_form(self):
        path = "C:\\Users\\nobody\\shadowsocks\\local.json"
        code, out = run_exe("ss-local", "-c", path)
        self.assertEqual(code, 2, out)
        self.assertIn(f'ss-local: -c: cannot read "{path}"', out)
        self.assertEqual(len(out.strip().splitlines()), 1, out)

    def test_what_windows_cannot_do_is_refused(self):
        common = ["-s", "127.0.0.1", "-p", 8388, "-k", PASSWORD, "-m", "aes-256-gcm"]
        for args, expected in (
                (["-a", "nobody"], "-a: is not available on Windows"),
                (["-f", "C:\\ss.pid"], "-f: is not available on Windows"),
                (["--mptcp"], "--mptcp: is not available on Windows"),
                (["--workers", 2], "--workers: must be 1 on Windows")):
            with self.subTest(args=args):
                code, out = run_exe("ss-local", *common, *args)
                self.assertEqual(code, 2, out)
                self.assertIn(expected, out)
        code, out = run_exe("ss-redir", *common, "-l", 0)
        self.assertNotEqual(code, 0, out)
        self.assertIn("transparent", out)


class ServerExe(unittest.TestCase):
    """ss-server.exe: libev's ss-local and our ss-local.exe as its clients."""

    target_handler = staticmethod(sslib.exchange_handler)

    @classmethod
    def setUpClass(cls):
        cls.target, cls.target_port = sslib.serve(sslib.exchange_handler)

    @classmethod
    def tearDownClass(cls):
        sslib.stop_server(cls.target)

    def server_exe(self, method, *extra):
        p = WinProc("ss-server", "-s", "127.0.0.1", "-p", 0, "-m", method, "-k", PASSWORD,
                    "--outbound-allow-private", *extra)
        return p, p.listen_port()

    @unittest.skipUnless(shutil.which("ss-local"), "shadowsocks-libev is not installed")
    def test_libev_local_to_server_exe_every_method(self):
        for method in sslib.METHODS:
            with self.subTest(method=method):
                server, server_port = self.server_exe(method)
                local_port = sslib.free_port()
                local = sslib.libev("ss-local", "-s", "127.0.0.1", "-p", server_port, "-l",
                                    local_port, "-k", PASSWORD, "-m", method, port=local_port)
                with sslib.running(local, server):
                    with sslib.socks5_connect(local_port, "127.0.0.1", self.target_port) as s:
                        sslib.exchange(s, 1 << 20, 1 << 20)

    def test_local_exe_to_server_exe(self):
        for method in ("chacha20-ietf-poly1305", "2022-blake3-aes-128-gcm"):
            with self.subTest(method=method):
                password = PASSWORD
                if method.startswith("2022"):
                    code, out = run_exe("ss-server", "--keygen", "-m", method)
                    password = out.strip().splitlines()[-1]
                server = WinProc("ss-server", "-s", "127.0.0.1", "-p", 0, "-m", method, "-k",
                                 password, "--outbound-allow-private")
                server_port = server.listen_port()
                local, local_port = local_exe(server_port, method, password=password)
                with sslib.running(local, server):
                    with sslib.socks5_connect(local_port, "127.0.0.1", self.target_port) as s:
                        sslib.exchange(s, 4 << 20, 4 << 20)


def wine_run(*args):
    """A Windows command of Wine's own (cmd, ...) run to its end: its output."""
    with tempfile.TemporaryFile() as out:
        subprocess.run([WINE, *args], env=WINE_ENV, stdout=out, stderr=subprocess.DEVNULL,
                       stdin=subprocess.DEVNULL, timeout=60 * sslib.SLOW, check=True)
        out.seek(0)
        return out.read().decode(errors="replace")


class Commands(WebTarget):
    """--print-url as on Linux, %APPDATA% in -c and in the config's paths, and SIP008 over
    HTTPS with the certificate verified against Windows' trusted root store."""

    def test_print_url_prints_what_linux_prints(self):
        code, key = run_exe("ss-server", "--keygen", "-m", "2022-blake3-aes-128-gcm")
        self.assertEqual(code, 0, key)
        key = key.strip().splitlines()[-1]
        for args in (["-s", "198.51.100.7", "-p", 8388, "-m", "aes-256-gcm", "-k", PASSWORD],
                     ["-s", "0.0.0.0", "-p", 8389, "-m", "2022-blake3-aes-128-gcm", "-k", key,
                      "--public-host", "vpn.example.com"]):
            with self.subTest(method=args[5]):
                code, out = run_exe("ss-server", "--print-url", *args)
                linux = subprocess.run([sslib.binary("ss-server"), "--print-url",
                                        *map(str, args)],
                                       capture_output=True, text=True, timeout=30,
                                       stdin=subprocess.DEVNULL)
                self.assertEqual(code, 0, out)
                self.assertEqual(linux.returncode, 0, linux.stderr)
                self.assertTrue(out.startswith("ss://"), out)
                self.assertEqual(out.replace("\r\n", "\n"), linux.stdout)

    def test_appdata_in_the_config_path_and_in_its_paths(self):
        # As PowerShell passes it: `-c %APPDATA%\...` reaches the program unexpanded, and the
        # JSON file names its ACL the same way. No server runs: only the ACL's direct route
        # can reach the target, so the page proves that the ACL was read.
        appdata = wine_run("cmd", "/c", "echo %APPDATA%").strip()
        self.assertRegex(appdata, r"^[A-Z]:\\")
        folder = os.path.join(os.environ["WINEPREFIX"], "drive_" + appdata[0].lower(),
                              *appdata[3:].split("\\"), "shadowsocks-cpp-test")
        os.makedirs(folder, exist_ok=True)
        try:
            with open(os.path.join(folder, "bypass.acl"), "w") as f:
                f.write("[proxy_all]\n\n[bypass_list]\n127.0.0.0/8\n")
            with open(os.path.join(folder, "local.json"), "w") as f:
                json.dump({"server": "127.0.0.1", "server_port": sslib.free_port(),
                           "password": PASSWORD, "method": "aes-128-gcm",
                           "local_address": "127.0.0.1", "local_port": 0,
                           "acl": "%APPDATA%\\shadowsocks-cpp-test\\bypass.acl"}, f)
            local = WinProc("ss-local", "-c", "%APPDATA%\\shadowsocks-cpp-test\\local.json")
            local_port = local.listen_port()
            with sslib.running(local):
                self.assertEqual(curl("--socks5", f"127.0.0.1:{local_port}",
                                      f"http://127.0.0.1:{self.web_port}/"),
                                 b"<html>shadowsocks-cpp under Wine</html>\n")
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    def test_sip008_trusts_the_windows_root_store(self):
        from test_online_config import DocumentServer, TestCa
        from cryptography.hazmat.primitives import serialization
        server, server_port = sslib.our_server("aes-256-gcm", PASSWORD)
        with tempfile.TemporaryDirectory() as d, sslib.running(server):
            ca = TestCa(d)
            der = os.path.join(d, "ca.der")
            with open(der, "wb") as f:
                f.write(ca.cert.public_bytes(serialization.Encoding.DER))
            documents = DocumentServer(ca.leaf("leaf.pem", ["localhost", "127.0.0.1"]))
            documents.serve([{"id": "one", "server": "127.0.0.1", "server_port": server_port,
                              "password": PASSWORD, "method": "aes-256-gcm"}])
            config = os.path.join(d, "local.json")
            with open(config, "w") as f:
                json.dump({"local_address": "127.0.0.1", "local_port": 0,
                           "online_config": {
                               "config_url": f"https://localhost:{documents.port}/list.json",
                               "update_interval": 3600,
                               "cache_file": windows_path(os.path.join(d, "cache.json"))}}, f)
            # Wine hands the Linux environment on: only Windows' store may vouch for the CA.
            env = {k: v for k, v in WINE_ENV.items() if not k.startswith("SSL_CERT_")}

            def local():
                return WinProc("ss-local", "-c", windows_path(config), env=env)

            try:
                # Not yet trusted: refused, and nothing served.
                untrusted = local()
                with sslib.running(untrusted):
                    untrusted.wait_for(r"certificate is refused: unable to get local issuer",
                                       timeout=STARTUP)
                self.assertEqual(documents.requests, 0)
                # In the user's trusted roots (as certmgr.msc puts it there): the list comes.
                code = subprocess.run([WINE, ROOT_STORE, "add", windows_path(der)], env=env,
                                      stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                      timeout=60 * sslib.SLOW).returncode
                self.assertEqual(code, 0, "root_store add failed")
                trusted = local()
                with sslib.running(trusted):
                    trusted.wait_for(r"online_config: 1 server\(s\) from https://localhost",
                                     timeout=STARTUP)
                    port = int(trusted.wait_for(r"listening on 127\.0\.0\.1:(\d+)").group(1))
                    self.fetch_all_ways(port)
                self.assertGreaterEqual(documents.requests, 1)
            finally:
                subprocess.run([WINE, ROOT_STORE, "remove", windows_path(der)], env=env,
                               stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, timeout=60 * sslib.SLOW)
                documents.stop()


if __name__ == "__main__":
    unittest.main()
