#!/usr/bin/env python3
"""ss-server with an ACL file (issue 16): clients refused by [black_list] / [white_list] under
[accept_all] / [reject_all], targets refused by [outbound_block_list], by address, network,
name and expression, TCP and UDP. The TCP decisions are checked against shadowsocks-libev's
ss-server given the same file (libev's UDP relay ignores the ACL; ours applies it)."""

import os
import signal
import socket
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "integration"))
import sslib  # noqa: E402

PASSWORD = "acl-server-interop-password"
METHOD = "aes-256-gcm"


def server(kind, acl_path, *extra):
    """ss-server (ours or libev's) on 127.0.0.1 and ::1, one port; returns (proc, port)."""
    port = sslib.free_port()
    args = ["-s", "127.0.0.1", "-s", "::1", "-p", port, "-m", METHOD, "-k", PASSWORD,
            "--acl", acl_path, *extra]
    if kind == "ours":
        p = sslib.Proc([sslib.binary("ss-server"), "--outbound-allow-private", *args])
        p.wait_for("listening on")
    else:
        p = sslib.libev("ss-server", *args, port=port)
    return p, port


class AclServerTest(sslib.EchoTargetsTestCase):
    def outcomes(self, kind, acl_text, targets, via=("127.0.0.1", "::1")):
        """{(client address, target): reached?} through `kind`'s ss-server with the ACL."""
        path = sslib.write_temp(acl_text, ".acl")
        try:
            srv, port = server(kind, path)
            with sslib.running(srv):
                out = {}
                for server_host in via:
                    local, local_port = sslib.our_local(port, METHOD, PASSWORD,
                                                        server=server_host)
                    with sslib.running(local):
                        for host, target_port in targets:
                            out[(server_host, host)] = sslib.echoes_through(
                                local_port, host, target_port)
                return out
        finally:
            os.unlink(path)

    def same_as_libev(self, acl_text, targets, expected, via=("127.0.0.1", "::1")):
        ours = self.outcomes("ours", acl_text, targets, via)
        self.assertEqual(ours, expected, "ours")
        libev = self.outcomes("libev", acl_text, targets, via)
        self.assertEqual(libev, expected, "libev")

    def test_black_list_under_accept_all(self):
        targets = [("127.0.0.1", self.echo4_port)]
        self.same_as_libev("[accept_all]\n[black_list]\n127.0.0.0/8\n", targets,
                           {("127.0.0.1", "127.0.0.1"): False, ("::1", "127.0.0.1"): True})

    def test_white_list_under_reject_all(self):
        targets = [("127.0.0.1", self.echo4_port)]
        self.same_as_libev("[reject_all]\n[white_list]\n::1\n", targets,
                           {("127.0.0.1", "127.0.0.1"): False, ("::1", "127.0.0.1"): True})
        # In both lists: the black list wins.
        self.same_as_libev("[reject_all]\n[white_list]\n::1\n[black_list]\n::1/128\n", targets,
                           {("127.0.0.1", "127.0.0.1"): False, ("::1", "127.0.0.1"): False})

    def test_outbound_block_list_by_address_and_expression(self):
        targets = [("127.0.0.1", self.echo4_port), ("::1", self.echo6_port)]
        self.same_as_libev("[outbound_block_list]\n127.0.0.1\n", targets,
                           {("127.0.0.1", "127.0.0.1"): False, ("127.0.0.1", "::1"): True},
                           via=("127.0.0.1",))
        self.same_as_libev("[outbound_block_list]\n::/0\n", targets,
                           {("127.0.0.1", "127.0.0.1"): True, ("127.0.0.1", "::1"): False},
                           via=("127.0.0.1",))

    def test_outbound_block_list_by_name_ours(self):
        # shadowsocks-rust's name rules (libev reads them as expressions that match anything),
        # and a name whose addresses are blocked: both refused.
        for rules in ("|localhost\n", "||localhost\n", "^LOCALHOST$\n", "127.0.0.1\n::1\n"):
            with self.subTest(rules=rules):
                out = self.outcomes("ours", "[outbound_block_list]\n" + rules,
                                    [("localhost", self.echo4_port),
                                     ("127.0.0.1", self.echo4_port)],
                                    via=("::1",))
                self.assertFalse(out[("::1", "localhost")])
                self.assertEqual(out[("::1", "127.0.0.1")], not rules.startswith("127"))
        srv_log = self.blocked_log()
        self.assertIn("refused by the ACL's [outbound_block_list]", srv_log)

    def blocked_log(self):
        path = sslib.write_temp("[outbound_block_list]\n127.0.0.1\n", ".acl")
        try:
            srv, port = server("ours", path)
            with sslib.running(srv):
                local, local_port = sslib.our_local(port, METHOD, PASSWORD)
                with sslib.running(local):
                    self.assertFalse(
                        sslib.echoes_through(local_port, "127.0.0.1", self.echo4_port))
                srv.wait_for("outbound_block_list")
                return srv.text()
        finally:
            os.unlink(path)

    def test_udp_follows_the_same_lists(self):
        echo = sslib.UdpServer()
        path = sslib.write_temp("[accept_all]\n[black_list]\n127.0.0.1\n", ".acl")
        try:
            srv, port = server("ours", path, "-u")
            with sslib.running(srv):
                for server_host, answered in (("127.0.0.1", False), ("::1", True)):
                    local, local_port = sslib.our_local(port, METHOD, PASSWORD, "-u",
                                                        server=server_host)
                    with sslib.running(local):
                        control, relay = sslib.socks5_udp_associate(local_port)
                        with control, sslib.udp_client(timeout=1.0) as c:
                            try:
                                _, _, data = sslib.udp_roundtrip(c, relay, "127.0.0.1",
                                                                 echo.port, b"ping")
                                got = data == b"ping"
                            except socket.timeout:
                                got = False
                            self.assertEqual(got, answered, server_host)
            # A target in [outbound_block_list] gets no datagram.
            with open(path, "w") as f:
                f.write("[outbound_block_list]\n127.0.0.1\n")
            srv, port = server("ours", path, "-u")
            with sslib.running(srv):
                local, local_port = sslib.our_local(port, METHOD, PASSWORD, "-u")
                with sslib.running(local):
                    before = echo.received
                    control, relay = sslib.socks5_udp_associate(local_port)
                    with control, sslib.udp_client(timeout=1.0) as c:
                        c.sendto(sslib.udp_wrap("127.0.0.1", echo.port, b"ping"), relay)
                        sslib.expect_silence(c)
                    self.assertEqual(echo.received, before)
        finally:
            echo.stop()
            os.unlink(path)

    def test_reload_swaps_the_list_and_a_bad_file_keeps_the_running_one(self):
        path = sslib.write_temp("[accept_all]\n[black_list]\n127.0.0.1\n", ".acl")
        config = tempfile.NamedTemporaryFile("w", suffix=".json", delete=False)
        config.write('{"server": "127.0.0.1", "server_port": %d, "method": "%s", '
                     '"password": "%s", "acl": "%s", "outbound_allow_private": true}'
                     % (sslib.free_port(), METHOD, PASSWORD, path))
        config.close()
        try:
            srv = sslib.Proc([sslib.binary("ss-server"), "-c", config.name])
            port = srv.listen_port()
            with sslib.running(srv):
                local, local_port = sslib.our_local(port, METHOD, PASSWORD)
                with sslib.running(local):
                    target = ("127.0.0.1", self.echo4_port)
                    self.assertFalse(sslib.echoes_through(local_port, *target))
                    with open(path, "w") as f:
                        f.write("[accept_all]\n[black_list]\n192.0.2.1\n")
                    self.reload(srv)
                    self.assertTrue(sslib.echoes_through(local_port, *target))
                    with open(path, "w") as f:
                        f.write("[accept_all]\n[black_list]\n127.0.0.1/99\n")
                    srv.p.send_signal(signal.SIGHUP)
                    srv.wait_for(r"reload refused.*\.acl:3: \"127\.0\.0\.1/99\"")
                    self.assertTrue(sslib.echoes_through(local_port, *target))
        finally:
            os.unlink(path)
            os.unlink(config.name)

    def reload(self, proc):
        seen = proc.text().count("configuration reloaded")
        proc.p.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 10 * sslib.SLOW
        while proc.text().count("configuration reloaded") <= seen:
            self.assertLess(time.monotonic(), deadline, proc.text())
            time.sleep(0.02)


if __name__ == "__main__":
    unittest.main()
