#!/usr/bin/env python3
"""ss-local's one port for every client (issue 15), driven by clients we did not write: curl
through SOCKS5 (with and without RFC 1929 username/password), SOCKS4 and SOCKS4a, and the HTTP
proxy (absolute-form requests and CONNECT to nginx over HTTPS with a certificate made here),
headless Chromium with --proxy-server=http://..., and raw sockets for what no polite client
sends (garbage, a 64 KiB header line, a smuggling attempt, origin-form)."""

import hashlib
import http.server
import json
import os
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

PASSWORD = "local-port-interop-password"
METHOD = "chacha20-ietf-poly1305"
USERS = {"password": {"users": [{"user_name": "alice", "password": "wonder land"},
                                {"user_name": "bob", "password": "b0b:with:colons"}]}}


class Origin:
    """An HTTP/1.1 origin server (keep-alive) in a thread that records what it receives: each
    request's line, headers and the connection it came on. /hello answers with its name,
    /echo with the body's length and SHA-256 (Content-Length or chunked), /chunked answers in
    chunks, /slow answers after 5 s."""

    def __init__(self, name, files=None):
        origin = self
        self.name = name
        self.files = files or {}  # path -> (content type, body)
        self.requests = []  # (connection number, request line, headers dict)
        self.connections = 0
        self.lock = threading.Lock()

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self):
                super().setup()
                with origin.lock:
                    origin.connections += 1
                    self.number = origin.connections

            def log_message(self, *args):
                pass

            def record(self):
                with origin.lock:
                    origin.requests.append((self.number, self.requestline,
                                            {k.lower(): v for k, v in self.headers.items()}))

            def reply(self, body, status=200, chunks=None):
                self.send_response(status)
                if chunks is None:
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    return
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                for c in chunks:
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(c), c))
                self.wfile.write(b"0\r\n\r\n")

            def read_body(self):
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    body = bytearray()
                    while True:
                        size = int(self.rfile.readline().split(b";")[0], 16)
                        if size == 0:
                            while self.rfile.readline() not in (b"\r\n", b""):
                                pass
                            return bytes(body), True
                        body += self.rfile.read(size)
                        self.rfile.readline()
                return self.rfile.read(int(self.headers.get("Content-Length", 0))), False

            def do_GET(self):
                self.record()
                path = self.path.split("?")[0]
                if path in origin.files:
                    kind, body = origin.files[path]
                    self.send_response(200)
                    self.send_header("Content-Type", kind)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                elif path == "/hello":
                    self.reply(f"hello from {origin.name}".encode())
                elif path == "/headers":
                    self.reply(json.dumps({"line": self.requestline,
                                           "headers": dict(self.headers.items())}).encode())
                elif path == "/chunked":
                    self.reply(b"", chunks=[b"first,", b"second,", b"third"])
                elif path == "/slow":
                    time.sleep(5)
                    self.reply(b"late")
                else:
                    self.reply(b"not here", status=404)

            def do_HEAD(self):
                self.record()
                self.send_response(200)
                self.send_header("Content-Length", "12345")
                self.end_headers()

            def do_POST(self):
                self.record()
                body, chunked = self.read_body()
                self.reply(json.dumps({"length": len(body), "chunked": chunked,
                                       "sha256": hashlib.sha256(body).hexdigest()}).encode())

        class Server(http.server.ThreadingHTTPServer):
            daemon_threads = True

        self.server = Server(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, path):
        return f"http://127.0.0.1:{self.port}{path}"

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def start_nginx(directory, server_block):
    """nginx (Debian's nginx-light) in the foreground, as the current user, with everything it
    writes in `directory`, serving `server_block`; returns its Proc once `listen` is up."""
    conf = os.path.join(directory, "nginx.conf")
    with open(conf, "w") as f:
        f.write(f"""
master_process off;
pid {directory}/nginx.pid;
error_log {directory}/error.log;
events {{ worker_connections 64; }}
http {{
  access_log off;
  types {{ text/html html; application/javascript js; }}
  client_body_temp_path {directory}; proxy_temp_path {directory};
  fastcgi_temp_path {directory}; uwsgi_temp_path {directory}; scgi_temp_path {directory};
  server {{ {server_block} }}
}}
""")
    return sslib.Proc(["nginx", "-c", conf, "-p", directory, "-g", "daemon off;"], name="nginx")


def curl(*args, timeout=20):
    """curl's exit code, standard output and standard error."""
    r = subprocess.run(["curl", "-sS", "--max-time", str(int(timeout * sslib.SLOW)),
                        *[str(a) for a in args]], capture_output=True, timeout=timeout * 2)
    return r.returncode, r.stdout, r.stderr.decode(errors="replace")


def raw_exchange(port, data, timeout=5.0):
    """Sends `data` to the local port (then FIN) and returns everything that comes back
    until the proxy closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout * sslib.SLOW) as s:
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)  # all sent: the proxy need not wait for more
        out = bytearray()
        while True:
            try:
                chunk = s.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            out += chunk
        return bytes(out)


def udp_echo_through(test, port, auth=None):
    """One datagram through a UDP association on the local port to an echo server and back."""
    echo = sslib.UdpServer()
    try:
        control, relay = sslib.socks5_udp_associate(port, auth=auth)
        with control, sslib.udp_client() as c:
            _, echo_port, data = sslib.udp_roundtrip(c, relay, "127.0.0.1", echo.port, b"ping")
            test.assertEqual((echo_port, data), (echo.port, b"ping"))
    finally:
        echo.stop()


class LocalPortTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="ss-local-port-")
        cls.a = Origin("a")
        cls.b = Origin("b")
        cls.server, cls.server_port = sslib.our_server(METHOD, PASSWORD, "-v", "-u")
        cls.local, cls.port = sslib.our_local(cls.server_port, METHOD, PASSWORD, "-v", "-u")

    @classmethod
    def tearDownClass(cls):
        cls.local.cleanup()
        cls.server.cleanup()
        cls.a.stop()
        cls.b.stop()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def proxy(self, scheme="http"):
        return f"{scheme}://127.0.0.1:{self.port}"

    def test_curl_through_socks5_socks4_and_http(self):
        for scheme in ("socks5", "socks5h", "socks4", "socks4a", "http"):
            with self.subTest(scheme=scheme):
                code, out, err = curl("-x", self.proxy(scheme), self.a.url("/hello"))
                self.assertEqual((code, out), (0, b"hello from a"), err)
        # socks4a and socks5h hand the name to the proxy: the server resolves it.
        for scheme in ("socks4a", "socks5h", "http"):
            with self.subTest(scheme=scheme, host="localhost"):
                code, out, err = curl("-x", self.proxy(scheme),
                                      f"http://localhost:{self.a.port}/hello", "-4")
                self.assertEqual((code, out), (0, b"hello from a"), err)

    def test_absolute_form_is_forwarded_in_origin_form_without_hop_by_hop_fields(self):
        code, out, err = curl("-x", self.proxy(), self.a.url("/headers?x=1#frag"),
                              "-H", "Connection: X-Private, keep-alive", "-H", "X-Private: 1",
                              "-H", "Keep-Alive: timeout=5", "-H", "TE: trailers",
                              "-H", "Proxy-Connection: keep-alive", "-H", "Upgrade: h2c",
                              "-H", "Trailer: X-T", "-H", "X-Kept: yes")
        self.assertEqual(code, 0, err)
        seen = json.loads(out)
        self.assertEqual(seen["line"], "GET /headers?x=1 HTTP/1.1")
        names = {k.lower(): v for k, v in seen["headers"].items()}
        self.assertEqual(names["host"], f"127.0.0.1:{self.a.port}")
        self.assertEqual(names["x-kept"], "yes")
        for gone in ("connection", "x-private", "keep-alive", "te", "proxy-connection",
                     "upgrade", "trailer", "proxy-authorization"):
            self.assertNotIn(gone, names)

    def test_post_bodies_with_length_and_chunked_and_a_chunked_response(self):
        body = os.urandom(3 << 20)
        path = os.path.join(self.tmp, "body.bin")
        with open(path, "wb") as f:
            f.write(body)
        digest = hashlib.sha256(body).hexdigest()
        code, out, err = curl("-x", self.proxy(), "--data-binary", "@" + path,
                              self.a.url("/echo"))
        self.assertEqual(code, 0, err)
        self.assertEqual(json.loads(out), {"length": len(body), "chunked": False,
                                           "sha256": digest})
        code, out, err = curl("-x", self.proxy(), "-H", "Transfer-Encoding: chunked",
                              "--data-binary", "@" + path, self.a.url("/echo"))
        self.assertEqual(code, 0, err)
        self.assertEqual(json.loads(out), {"length": len(body), "chunked": True,
                                           "sha256": digest})
        code, out, err = curl("-x", self.proxy(), self.a.url("/chunked"))
        self.assertEqual((code, out), (0, b"first,second,third"), err)
        # HTTP/1.0 client: the chunks arrive as plain data and the connection ends the body.
        code, out, err = curl("-0", "-x", self.proxy(), self.a.url("/chunked"))
        self.assertEqual((code, out), (0, b"first,second,third"), err)
        code, out, err = curl("-I", "-x", self.proxy(), self.a.url("/hello"))
        self.assertEqual(code, 0, err)
        self.assertIn(b"Content-Length: 12345", out)

    def test_keep_alive_across_requests_to_two_hosts(self):
        before_a = len([r for r in self.a.requests])
        urls = [self.a.url("/hello"), self.a.url("/hello"), self.b.url("/hello"),
                self.b.url("/hello"), self.a.url("/hello")]
        code, out, err = curl("-v", "-x", self.proxy(), *urls)
        self.assertEqual(code, 0, err)
        self.assertEqual(out, b"hello from a" * 2 + b"hello from b" * 2 + b"hello from a")
        # One client connection for all five (curl says it re-used it four times) ...
        self.assertEqual(err.count("Re-using existing connection"), 4, err)
        # ... and one upstream per run of the same host: a's first two came on one connection.
        mine = self.a.requests[before_a:]
        self.assertEqual(len(mine), 3)
        self.assertEqual(mine[0][0], mine[1][0])
        self.assertNotEqual(mine[1][0], mine[2][0])

    def test_https_through_connect_to_nginx(self):
        nginx_dir = os.path.join(self.tmp, "nginx")
        os.makedirs(nginx_dir, exist_ok=True)
        cert, key = sslib.self_signed(nginx_dir, "127.0.0.1")
        page = os.urandom(200_000)
        with open(os.path.join(nginx_dir, "page.bin"), "wb") as f:
            f.write(page)
        port = sslib.free_port()
        nginx = start_nginx(nginx_dir, f"listen 127.0.0.1:{port} ssl; ssl_certificate {cert}; "
                                       f"ssl_certificate_key {key}; root {nginx_dir};")
        with sslib.running(nginx):
            sslib.wait_listening(port)
            code, out, err = curl("--cacert", cert, "-x", self.proxy(),
                                  f"https://127.0.0.1:{port}/page.bin")
            self.assertEqual(code, 0, err)
            self.assertEqual(hashlib.sha256(out).digest(), hashlib.sha256(page).digest())
            self.assertRegex(self.local.text(), rf"HTTP CONNECT 127\.0\.0\.1:{port}")

    def test_chromium_loads_a_page_and_a_script_of_a_second_origin(self):
        chromium = shutil.which("chromium")
        if chromium is None:
            self.fail("chromium is not installed (scripts/install-deps.sh installs it)")
        site = os.path.join(self.tmp, "site")
        os.makedirs(site, exist_ok=True)
        # The second origin (another port): a script that adds to the page.
        other = Origin("script", files={"/script.js": (
            "application/javascript",
            b"document.body.insertAdjacentHTML('beforeend', '<p id=b>script ran</p>');")})
        try:
            script_url = other.url("/script.js")
            with open(os.path.join(site, "page.html"), "w") as f:
                f.write(f'<html><body><p id="a">page loaded</p>'
                        f'<script src="{script_url}"></script></body></html>')
            page_port = sslib.free_port()
            nginx = start_nginx(site, f"listen 127.0.0.1:{page_port}; root {site};")
            with sslib.running(nginx):
                sslib.wait_listening(page_port)
                profile = os.path.join(self.tmp, "chromium-profile")
                r = subprocess.run(
                    [chromium, "--headless", "--no-sandbox", "--disable-gpu",
                     "--no-first-run", "--disable-background-networking",
                     "--disable-component-update", "--disable-sync",
                     "--disable-dev-shm-usage", f"--user-data-dir={profile}",
                     f"--proxy-server=http://127.0.0.1:{self.port}",
                     # Chromium never proxies loopback unless told to.
                     "--proxy-bypass-list=<-loopback>",
                     "--virtual-time-budget=5000", "--dump-dom",
                     f"http://127.0.0.1:{page_port}/page.html"],
                    capture_output=True, timeout=120 * sslib.SLOW)
                dom = r.stdout.decode(errors="replace")
                self.assertIn("page loaded", dom, r.stderr.decode(errors="replace")[-3000:])
                self.assertIn("script ran", dom, r.stderr.decode(errors="replace")[-3000:])
                log = self.local.text()
                self.assertRegex(log, rf"GET 127\.0\.0\.1:{page_port} -> 200")
                self.assertRegex(log, rf"GET 127\.0\.0\.1:{other.port} -> 200")
        finally:
            other.stop()

    def test_udp_associate_still_works_on_the_mixed_port(self):
        udp_echo_through(self, self.port)

    def test_malformed_inputs_are_answered_and_nothing_is_forwarded(self):
        before = len(self.a.requests)
        host = f"127.0.0.1:{self.a.port}"
        # Neither SOCKS nor HTTP: closed without a byte.
        self.assertEqual(raw_exchange(self.port, b"\x16\x03\x01\x02\x00" + os.urandom(64)), b"")
        self.assertEqual(raw_exchange(self.port, b"\x00\x00"), b"")
        # A header line of 64 KiB: 431.
        big = (f"GET http://{host}/hello HTTP/1.1\r\nHost: {host}\r\nX-Big: ".encode() +
               b"a" * 65536 + b"\r\n\r\n")
        self.assertTrue(raw_exchange(self.port, big).startswith(b"HTTP/1.1 431 "))
        # Content-Length and Transfer-Encoding together (request smuggling): 400, either order.
        for fields in (b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n",
                       b"Transfer-Encoding: chunked\r\nContent-Length: 5\r\n",
                       b"Transfer-Encoding: gzip\r\nContent-Length: 5\r\n",
                       b"Transfer-Encoding: gzip\r\n"):
            with self.subTest(fields=fields):
                req = (f"POST http://{host}/echo HTTP/1.1\r\nHost: {host}\r\n".encode() + fields +
                       b"\r\n0\r\n\r\nGET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
                self.assertTrue(raw_exchange(self.port, req).startswith(b"HTTP/1.1 400 "))
        # Origin-form: a request for a server, not a proxy.
        answer = raw_exchange(self.port, f"GET /hello HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
        self.assertTrue(answer.startswith(b"HTTP/1.1 400 "), answer)
        # A CONNECT without a port, and an https:// URL (that is what CONNECT is for).
        for line in (b"CONNECT 127.0.0.1 HTTP/1.1", f"GET https://{host}/ HTTP/1.1".encode()):
            answer = raw_exchange(self.port, line + b"\r\nHost: x\r\n\r\n")
            self.assertTrue(answer.startswith(b"HTTP/1.1 400 "), answer)
        # SOCKS4 BIND: rejected (0x5B).
        self.assertEqual(raw_exchange(self.port, b"\x04\x02\x00\x50\x7f\x00\x00\x01\x00"),
                         b"\x00\x5b" + bytes(6))
        time.sleep(0.2)
        self.assertEqual(len(self.a.requests), before, self.a.requests[before:])
        # And the daemon goes on serving.
        code, out, err = curl("-x", self.proxy(), self.a.url("/hello"))
        self.assertEqual((code, out), (0, b"hello from a"), err)


class AuthenticationTest(unittest.TestCase):
    """A local port with users: SOCKS5 needs username/password, HTTP Proxy-Authorization,
    and SOCKS4 is refused; SIGHUP reads the users again."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="ss-local-auth-")
        cls.users = os.path.join(cls.tmp, "users.json")
        with open(cls.users, "w") as f:
            json.dump(USERS, f)
        os.chmod(cls.users, 0o600)
        cls.a = Origin("a")
        cls.server, cls.server_port = sslib.our_server(METHOD, PASSWORD, "-u")
        cls.local, cls.port = sslib.our_local(cls.server_port, METHOD, PASSWORD, "-u",
                                              "--socks5-auth-config-path", cls.users)

    @classmethod
    def tearDownClass(cls):
        cls.local.cleanup()
        cls.server.cleanup()
        cls.a.stop()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def fetch(self, scheme, *extra):
        return curl("-x", f"{scheme}://127.0.0.1:{self.port}", *extra, self.a.url("/hello"))

    def test_socks5_needs_the_right_username_and_password(self):
        code, out, err = self.fetch("socks5", "-U", "alice:wonder land")
        self.assertEqual((code, out), (0, b"hello from a"), err)
        code, out, err = self.fetch("socks5h", "-U", "bob:b0b:with:colons")
        self.assertEqual((code, out), (0, b"hello from a"), err)
        for wrong in ("alice:wonder", "alice:wonder land ", "carol:wonder land",
                      "bob:wonder land"):
            with self.subTest(credentials=wrong):
                code, out, err = self.fetch("socks5", "-U", wrong)
                self.assertNotEqual(code, 0)
                self.assertEqual(out, b"")
        code, out, err = self.fetch("socks5")  # offers no authentication at all
        self.assertNotEqual(code, 0)
        # The wire answers: 05 FF to a greeting without method 2, 01 01 to wrong credentials.
        self.assertEqual(raw_exchange(self.port, b"\x05\x01\x00"), b"\x05\xff")
        self.assertEqual(raw_exchange(self.port, b"\x05\x01\x02\x01\x05alice\x01x"),
                         b"\x05\x02\x01\x01")
        self.assertRegex(self.local.text(), r"127\.0\.0\.1:\d+: wrong SOCKS5 username or password")
        self.assertNotIn("wonder", self.local.text())

    def test_udp_associate_after_authentication(self):
        udp_echo_through(self, self.port, auth=("alice", "wonder land"))

    def test_socks4_is_refused_and_http_needs_proxy_authorization(self):
        for scheme in ("socks4", "socks4a"):
            code, out, err = self.fetch(scheme)
            self.assertNotEqual(code, 0)
        self.assertEqual(raw_exchange(self.port, b"\x04\x01\x00\x50\x7f\x00\x00\x01\x00"),
                         b"\x00\x5b" + bytes(6))
        code, out, err = self.fetch("http", "--proxy-user", "alice:wonder land")
        self.assertEqual((code, out), (0, b"hello from a"), err)
        code, out, err = self.fetch("http", "--proxy-user", "bob:b0b:with:colons", "-p")
        self.assertEqual(code, 0, err)  # -p: through CONNECT
        self.assertEqual(out, b"hello from a")
        for extra in ((), ("--proxy-user", "alice:nope")):
            with self.subTest(extra=extra):
                code, out, err = self.fetch("http", "-i", *extra)
                self.assertEqual(code, 0, err)
                self.assertTrue(out.startswith(b"HTTP/1.1 407 "), out)
                self.assertIn(b'Proxy-Authenticate: Basic realm="shadowsocks"', out)
        # A refused request with a large body still gets its answer whole (the proxy reads
        # and drops the rest before closing, instead of resetting the connection).
        body = os.path.join(self.tmp, "refused.bin")
        with open(body, "wb") as f:
            f.write(os.urandom(2 << 20))
        code, out, err = self.fetch("http", "-i", "-H", "Expect:", "--data-binary", "@" + body)
        self.assertEqual(code, 0, err)
        self.assertTrue(out.startswith(b"HTTP/1.1 407 "), out[:200])
        self.assertRegex(self.local.text(), r"127\.0\.0\.1:\d+: wrong HTTP proxy credentials")

    def test_sighup_reads_the_users_again(self):
        changed = {"password": {"users": [{"user_name": "alice", "password": "new pass"}]}}
        with open(self.users, "w") as f:
            json.dump(changed, f)
        try:
            self.reload()
            self.assertIn("1 proxy user(s)", self.local.text())
            deadline = time.monotonic() + 10 * sslib.SLOW
            while time.monotonic() < deadline:
                code, _, _ = self.fetch("socks5", "-U", "alice:new pass")
                if code == 0:
                    break
                time.sleep(0.1)
            self.assertEqual(code, 0)
            code, _, _ = self.fetch("socks5", "-U", "alice:wonder land")
            self.assertNotEqual(code, 0)
        finally:
            with open(self.users, "w") as f:
                json.dump(USERS, f)
            self.reload()

    def reload(self):
        """SIGHUP, and wait for the line that says the configuration was reloaded."""
        seen = self.local.text().count("configuration reloaded")
        self.local.p.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 10 * sslib.SLOW
        while self.local.text().count("configuration reloaded") <= seen:
            self.assertLess(time.monotonic(), deadline, self.local.text())
            time.sleep(0.02)


class SwitchesAndFailuresTest(unittest.TestCase):
    def test_http_and_socks4_can_be_switched_off(self):
        a = Origin("a")
        server, server_port = sslib.our_server(METHOD, PASSWORD)
        local, port = sslib.our_local(server_port, METHOD, PASSWORD, "--no-http", "--no-socks4")
        with sslib.running(local, server):
            try:
                code, out, err = curl("-x", f"socks5://127.0.0.1:{port}", a.url("/hello"))
                self.assertEqual((code, out), (0, b"hello from a"), err)
                self.assertEqual(raw_exchange(port, b"GET http://x/ HTTP/1.1\r\n\r\n"), b"")
                self.assertEqual(raw_exchange(port, b"\x04\x01\x00\x50\x7f\x00\x00\x01\x00"),
                                 b"")
            finally:
                a.stop()

    def test_unreachable_server_is_502_and_a_silent_one_504(self):
        dead = sslib.free_port()  # nothing listens there
        local, port = sslib.our_local(dead, METHOD, PASSWORD)
        with sslib.running(local):
            for line in (b"GET http://127.0.0.1:9/ HTTP/1.1", b"CONNECT 127.0.0.1:9 HTTP/1.1"):
                answer = raw_exchange(port, line + b"\r\nHost: x\r\n\r\n")
                self.assertTrue(answer.startswith(b"HTTP/1.1 502 "), answer)
        a = Origin("a")
        server, server_port = sslib.our_server(METHOD, PASSWORD)
        local, port = sslib.our_local(server_port, METHOD, PASSWORD, "-t", "1")
        with sslib.running(local, server):
            try:
                code, out, err = curl("-i", "-x", f"http://127.0.0.1:{port}", a.url("/slow"))
                self.assertEqual(code, 0, err)
                self.assertTrue(out.startswith(b"HTTP/1.1 504 "), out)
            finally:
                a.stop()


if __name__ == "__main__":
    unittest.main()
