#!/usr/bin/env python3
"""ss-local's hint that the server's password or method differs (issue 29): it comes at the
third unanswered connection when the key is wrong, against our ss-server and libev's, and
never for connections the server answered by closing because it could not reach the target
(a name that does not resolve, a refused port), as Chromium's requests to hosts that are down
make them."""

import http.server
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "integration"))
import sslib  # noqa: E402

METHOD = "aes-256-gcm"
PASSWORD = "password-hint-test-password"
HINT = "answered none"


def libev_server(port, *extra):
    return sslib.Proc(["ss-server", "-s", "127.0.0.1", "-p", port, "-m", METHOD, "-k", PASSWORD,
                       *extra], name="libev-ss-server")


def unanswered(local_port, host, port, give_up=False):
    """What comes back for a request through ss-local: waiting for the server's answer or
    close, as a browser does, or (`give_up`) half-closing at once, as a client that gives up."""
    with sslib.socks5_connect(local_port, host, port) as s:
        s.sendall(b"GET / HTTP/1.0\r\nHost: x\r\n\r\n")
        if give_up:
            s.shutdown(socket.SHUT_WR)
        s.settimeout(20 * sslib.SLOW)
        return sslib.recv_all(s)


class WrongKey(unittest.TestCase):
    def check_hint_at_the_third(self, server_port):
        wrong, wrong_port = sslib.our_local(server_port, METHOD, "not-the-servers-password")
        srv, port = sslib.serve(sslib.exchange_handler)
        with sslib.running(wrong):
            try:
                for i in range(3):
                    self.assertEqual(unanswered(wrong_port, "127.0.0.1", port, give_up=True),
                                     b"")
                    if i < 2:
                        time.sleep(0.2 * sslib.SLOW)
                        self.assertNotIn(HINT, wrong.text())
                line = wrong.wait_for(r"warning the server answered none of the last 3 .*")
                self.assertIn("password or method", line.group(0))
            finally:
                sslib.stop_server(srv)

    def test_against_our_server(self):
        server, server_port = sslib.our_server(METHOD, PASSWORD)
        with sslib.running(server):
            self.check_hint_at_the_third(server_port)

    def test_against_libevs_server(self):
        port = sslib.free_port()
        server = libev_server(port, "-t", "5")
        with sslib.running(server):
            sslib.wait_listening(port)
            self.check_hint_at_the_third(port)


class UnreachableTargets(unittest.TestCase):
    """The right key; the server cannot reach what is asked for."""

    def check_no_hint(self, server_port):
        local, local_port = sslib.our_local(server_port, METHOD, PASSWORD)
        refused = sslib.free_port()  # nothing listens there
        with sslib.running(local):
            for _ in range(3):
                self.assertEqual(unanswered(local_port, "127.0.0.1", refused), b"")
                self.assertEqual(unanswered(local_port, "nowhere.invalid", 80), b"")
            time.sleep(0.3 * sslib.SLOW)
            self.assertNotIn(HINT, local.text())

    def test_against_our_server(self):
        dns = sslib.TinyDns("reachable.test")  # NXDOMAIN for every other name
        self.addCleanup(dns.stop)
        server, server_port = sslib.our_server(METHOD, PASSWORD, "-d", f"127.0.0.1:{dns.port}")
        with sslib.running(server):
            self.check_no_hint(server_port)

    def test_against_libevs_server(self):
        port = sslib.free_port()
        server = libev_server(port)
        with sslib.running(server):
            sslib.wait_listening(port)
            self.check_no_hint(port)


class Page(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@unittest.skipUnless(shutil.which("chromium"), "chromium is not installed")
class Chromium(unittest.TestCase):
    def test_a_page_with_requests_to_hosts_that_are_down_gives_no_hint(self):
        tmp = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, tmp, True)
        dns = sslib.TinyDns("page.test")  # the page's host; every other name: NXDOMAIN
        self.addCleanup(dns.stop)
        httpd = http.server.ThreadingHTTPServer(
            ("127.0.0.1", 0), lambda *a: Page(*a, directory=tmp))
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        self.addCleanup(httpd.server_close)
        self.addCleanup(httpd.shutdown)
        page_port, refused = httpd.server_address[1], sslib.free_port()
        # Images from hosts that do not resolve and from a port where nothing listens: what
        # a page with a dead tracker or a host that is down makes a browser ask for.
        images = "".join(f'<img src="http://gone-{i}.test/x.png">' for i in range(4))
        images += "".join(f'<img src="http://page.test:{refused}/{i}.png">' for i in range(3))
        with open(os.path.join(tmp, "page.html"), "w") as f:
            f.write(f'<html><body><p id="a">page loaded</p>{images}</body></html>')
        server, server_port = sslib.our_server(METHOD, PASSWORD, "-d", f"127.0.0.1:{dns.port}",
                                               "-v")
        local, local_port = sslib.our_local(server_port, METHOD, PASSWORD)
        with sslib.running(server, local):
            r = subprocess.run(
                ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                 "--disable-dev-shm-usage", f"--user-data-dir={os.path.join(tmp, 'profile')}",
                 f"--proxy-server=socks5://127.0.0.1:{local_port}",
                 "--virtual-time-budget=5000", "--dump-dom",
                 f"http://page.test:{page_port}/page.html"],
                capture_output=True, timeout=120 * sslib.SLOW)
            dom = r.stdout.decode(errors="replace")
            self.assertIn("page loaded", dom, r.stderr.decode(errors="replace")[-3000:])
            time.sleep(0.5 * sslib.SLOW)
            # The server saw the requests it could not serve, and ss-local gave no hint.
            log = server.text()
            self.assertGreaterEqual(log.count("cannot connect"), 3, log[-3000:])
            self.assertTrue(any(n.startswith("gone-") for n in dns.asked), dns.asked)
            self.assertNotIn(HINT, local.text())


if __name__ == "__main__":
    unittest.main(verbosity=2)
