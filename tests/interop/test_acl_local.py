#!/usr/bin/env python3
"""ss-local and ss-tunnel routing TCP by an ACL file (issue 16). The path a request takes is
observable: the server address is a port where nothing listens, so a request reaches its
target only when the ACL sends it directly. The same files run against shadowsocks-libev's
ss-local, which must decide the same where its behaviour is the one we chose."""

import os
import signal
import socket
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "integration"))
import sslib  # noqa: E402

PASSWORD = "acl-local-interop-password"
METHOD = "aes-256-gcm"


def local(kind, acl_path, *extra):
    """ss-local (ours or libev's) whose server is a dead port; returns (proc, port)."""
    dead = sslib.free_port()
    if kind == "ours":
        return sslib.our_local(dead, METHOD, PASSWORD, "--acl", acl_path, *extra)
    port = sslib.free_port()
    p = sslib.libev("ss-local", "-s", "127.0.0.1", "-p", dead, "-l", port, "-m", METHOD,
                    "-k", PASSWORD, "--acl", acl_path, *extra, port=port)
    return p, port


class AclLocalTest(sslib.EchoTargetsTestCase):
    def outcomes(self, kind, acl_text, targets):
        path = sslib.write_temp(acl_text, ".acl")
        try:
            proc, port = local(kind, path)
            with sslib.running(proc):
                return {host: sslib.echoes_through(port, host, target_port)
                        for host, target_port in targets}
        finally:
            os.unlink(path)

    def same_as_libev(self, acl_text, expected):
        targets = [(h, self.echo6_port if h == "::1" else self.echo4_port) for h in expected]
        self.assertEqual(self.outcomes("ours", acl_text, targets), expected, "ours")
        self.assertEqual(self.outcomes("libev", acl_text, targets), expected, "libev")

    def test_addresses_and_networks_under_both_defaults(self):
        self.same_as_libev("[proxy_all]\n[bypass_list]\n127.0.0.0/8\n",
                           {"127.0.0.1": True, "::1": False})
        self.same_as_libev("[bypass_all]\n[proxy_list]\n::1\n",
                           {"127.0.0.1": True, "::1": False})
        # In both lists: the bypass list first (libev's order).
        self.same_as_libev("[bypass_all]\n[proxy_list]\n127.0.0.1\n[bypass_list]\n127.0.0.1\n",
                           {"127.0.0.1": True})

    def test_names_by_expression_and_by_their_addresses(self):
        self.same_as_libev("[proxy_all]\n[bypass_list]\n^localhost$\n", {"localhost": True})
        self.same_as_libev("[bypass_all]\n[proxy_list]\n(^|\\.)localhost$\n",
                           {"localhost": False, "127.0.0.1": True})
        # A name no rule names, under [proxy_all] with networks to bypass: its addresses decide.
        self.same_as_libev("[proxy_all]\n[bypass_list]\n127.0.0.0/8\n::1\n", {"localhost": True})

    def test_rust_name_rules_ours(self):
        for rules, reached in (("||localhost\n", True), ("|localhost\n", True),
                               ("|other.localhost\n", False)):
            with self.subTest(rules=rules):
                out = self.outcomes("ours", "[proxy_all]\n[bypass_list]\n" + rules,
                                    [("localhost", self.echo4_port)])
                self.assertEqual(out, {"localhost": reached})

    def test_an_unmatched_name_is_not_resolved_locally_without_networks_to_test(self):
        # No network rule could bypass it: proxied, so never resolved here (the server is dead,
        # so it does not arrive). libev resolves it locally first, then proxies it too.
        self.same_as_libev("[proxy_all]\n[bypass_list]\n^nothing$\n", {"localhost": False})

    def test_http_proxy_and_tunnel_follow_the_list(self):
        path = sslib.write_temp("[bypass_all]\n", ".acl")
        try:
            proc, port = local("ours", path, "-v")
            with sslib.running(proc):
                r = subprocess.run(["curl", "-sS", "--http0.9", "--max-time", "2", "-x",
                                    f"http://127.0.0.1:{port}", "-p",
                                    f"http://127.0.0.1:{self.echo4_port}/"],
                                   capture_output=True)
                # The echo server sends the request back: CONNECT went straight to it.
                self.assertIn(b"GET / HTTP/1.1", r.stdout, r.stderr)
                proc.wait_for(rf"-> \(direct\) 127\.0\.0\.1:{self.echo4_port}")
            dead = sslib.free_port()
            tunnel, tport = sslib.our_tunnel(dead, METHOD, PASSWORD,
                                             f"127.0.0.1:{self.echo4_port}", "--acl", path)
            with sslib.running(tunnel):
                with socket.create_connection(("127.0.0.1", tport), timeout=5) as s:
                    s.sendall(b"tunnel")
                    self.assertEqual(s.recv(16), b"tunnel")
        finally:
            os.unlink(path)

    def test_udp_follows_the_list_too(self):
        # libev's UDP relay ignores the ACL; ours routes datagrams as it routes connections.
        echo = sslib.UdpServer()
        try:
            for acl_text, answered in (("[bypass_all]\n", True), ("[proxy_all]\n", False),
                                       ("[proxy_all]\n[bypass_list]\n127.0.0.1\n", True),
                                       ("[proxy_all]\n[bypass_list]\n||localhost\n", True)):
                with self.subTest(acl=acl_text):
                    path = sslib.write_temp(acl_text, ".acl")
                    try:
                        proc, port = local("ours", path, "-u")
                        with sslib.running(proc):
                            host = "localhost" if "localhost" in acl_text else "127.0.0.1"
                            self.assertEqual(udp_answered(port, host, echo.port), answered)
                    finally:
                        os.unlink(path)
            # An IPv6 destination goes from the IPv6 socket.
            echo6 = sslib.UdpServer("::1")
            path = sslib.write_temp("[proxy_all]\n[bypass_list]\n::1/128\n", ".acl")
            try:
                proc, port = local("ours", path, "-u")
                with sslib.running(proc):
                    self.assertTrue(udp_answered(port, "::1", echo6.port))
                    self.assertFalse(udp_answered(port, "127.0.0.1", echo.port))
            finally:
                echo6.stop()
                os.unlink(path)
            # ss-tunnel -u with the destination bypassed.
            path = sslib.write_temp("[bypass_all]\n", ".acl")
            try:
                tunnel, tport = sslib.our_tunnel(sslib.free_port(), METHOD, PASSWORD,
                                                 f"127.0.0.1:{echo.port}", "-u", "--acl", path)
                with sslib.running(tunnel), sslib.udp_client() as c:
                    c.sendto(b"tunnel", ("127.0.0.1", tport))
                    self.assertEqual(c.recvfrom(100)[0], b"tunnel")
            finally:
                os.unlink(path)
        finally:
            echo.stop()


class AclLocalReloadTest(sslib.EchoTargetsTestCase):
    def test_reload_swaps_the_list_and_open_connections_keep_their_route(self):
        path = sslib.write_temp("[bypass_all]\n", ".acl")
        config = sslib.write_temp(
            '{"server": "127.0.0.1", "server_port": %d, "local_port": 0, "method": "%s", '
            '"password": "%s", "acl": "%s"}' % (sslib.free_port(), METHOD, PASSWORD, path),
            ".json")
        try:
            proc = sslib.Proc([sslib.binary("ss-local"), "-c", config])
            port = proc.listen_port()
            with sslib.running(proc):
                kept = sslib.socks5_connect(port, "127.0.0.1", self.echo4_port)
                with kept:
                    kept.sendall(b"one")
                    self.assertEqual(kept.recv(16), b"one")
                    with open(path, "w") as f:
                        f.write("[proxy_all]\n")
                    seen = proc.text().count("configuration reloaded")
                    proc.p.send_signal(signal.SIGHUP)
                    proc.wait_for("configuration reloaded" if seen == 0 else
                                  r"configuration reloaded(?:.|\n)*configuration reloaded")
                    # New connections follow the new list (through the dead server) ...
                    self.assertFalse(sslib.echoes_through(port, "127.0.0.1", self.echo4_port))
                    # ... the open one keeps going where it went.
                    kept.sendall(b"two")
                    self.assertEqual(kept.recv(16), b"two")
                # A list that does not parse is refused; the running one stays.
                with open(path, "w") as f:
                    f.write("[bypass_all]\n[nonsense]\n")
                proc.p.send_signal(signal.SIGHUP)
                proc.wait_for(r"reload refused.*\.acl:2: unknown section \[nonsense\]")
                self.assertFalse(sslib.echoes_through(port, "127.0.0.1", self.echo4_port))
        finally:
            os.unlink(path)
            os.unlink(config)


def udp_answered(local_port, host, port):
    """True when a datagram through a UDP association on ss-local comes back from the echo
    server at host:port."""
    control, relay = sslib.socks5_udp_associate(local_port)
    with control, sslib.udp_client(timeout=1.0) as c:
        try:
            _, answer_port, data = sslib.udp_roundtrip(c, relay, host, port, b"ping")
            return (answer_port, data) == (port, b"ping")
        except socket.timeout:
            return False


if __name__ == "__main__":
    unittest.main()
