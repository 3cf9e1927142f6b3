#!/usr/bin/env python3
"""Many servers in one ss-server process (issue 17): libev's port_password and
shadowsocks-rust's servers list, TCP and UDP, with clients of ours and of libev; a reload that
adds, removes and changes servers while the others keep their connections; --print-url for
every server."""

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import sslib  # noqa: E402

KEY_2022 = "MDEyMzQ1Njc4OWFiY2RlZg=="  # 16 bytes, for 2022-blake3-aes-128-gcm


def write_json(path, obj):
    with open(path + ".tmp", "w") as f:
        json.dump(obj, f)
    os.replace(path + ".tmp", path)  # never half a file, as a config manager writes it


class ManyServers(sslib.EchoTargetsTestCase):

    def setUp(self):
        self.dir = tempfile.mkdtemp()
        self.path = os.path.join(self.dir, "server.json")
        self.udp_echo = sslib.UdpServer()
        self.addCleanup(self.udp_echo.stop)

    def tearDown(self):
        for name in os.listdir(self.dir):
            os.unlink(os.path.join(self.dir, name))
        os.rmdir(self.dir)

    def start_server(self, cfg):
        base = {"server": "127.0.0.1", "outbound_allow_private": True, "mode": "tcp_and_udp"}
        write_json(self.path, dict(base, **cfg))
        server = sslib.Proc([sslib.binary("ss-server"), "-c", self.path, "--workers", 2])
        self.addCleanup(server.cleanup)
        return server

    def reload(self, server, cfg):
        base = {"server": "127.0.0.1", "outbound_allow_private": True, "mode": "tcp_and_udp"}
        write_json(self.path, dict(base, **cfg))
        before = server.text().count("configuration reloaded")
        server.p.send_signal(signal.SIGHUP)
        server.wait_for(r"(?s)" + r"configuration reloaded.*" * (before + 1))

    def local(self, port, method, password):
        p, local_port = sslib.our_local(port, method, password, "-u")
        self.addCleanup(p.cleanup)
        return local_port

    def udp_works(self, local_port):
        ctl, relay = sslib.socks5_udp_associate(local_port)
        with ctl, sslib.udp_client() as c:
            try:
                _, _, data = sslib.udp_roundtrip(c, relay, "127.0.0.1", self.udp_echo.port,
                                                 b"datagram")
            except socket.timeout:
                return False
            return data == b"datagram"

    def test_port_password_serves_each_port_with_its_own_password(self):
        ports = [sslib.free_port(), sslib.free_port()]
        server = self.start_server({"method": "aes-256-gcm", "port_password": {
            str(ports[0]): "password of the first port", str(ports[1]): "password of port two"}})
        server.wait_for(rf"listening on 127.0.0.1:{ports[1]}")
        first = self.local(ports[0], "aes-256-gcm", "password of the first port")
        second = self.local(ports[1], "aes-256-gcm", "password of port two")
        crossed = self.local(ports[1], "aes-256-gcm", "password of the first port")
        for local_port in (first, second):
            self.assertTrue(sslib.echoes_through(local_port, "127.0.0.1", self.echo4_port))
            self.assertTrue(self.udp_works(local_port))
        self.assertFalse(sslib.echoes_through(crossed, "127.0.0.1", self.echo4_port))
        # A client we did not write, on the second port.
        libev_port = sslib.free_port()
        libev = sslib.libev("ss-local", "-s", "127.0.0.1", "-p", ports[1], "-l", libev_port,
                            "-m", "aes-256-gcm", "-k", "password of port two", port=libev_port)
        self.addCleanup(libev.cleanup)
        self.assertTrue(sslib.echoes_through(libev_port, "127.0.0.1", self.echo4_port))

    def test_servers_list_with_methods_of_their_own(self):
        top, alice, bob = sslib.free_port(), sslib.free_port(), sslib.free_port()
        server = self.start_server({
            "server_port": top, "method": "chacha20-ietf-poly1305",
            "password": "the top-level password",
            "servers": [
                {"server_port": alice, "method": "aes-128-gcm", "password": "alice's password",
                 "name": "alice"},
                {"server_port": bob, "method": "2022-blake3-aes-128-gcm", "password": KEY_2022,
                 "name": "bob"}]})
        server.wait_for(rf"listening on 127.0.0.1:{bob} \(tcp_and_udp\), server bob, "
                        r"method 2022-blake3-aes-128-gcm")
        clients = [self.local(top, "chacha20-ietf-poly1305", "the top-level password"),
                   self.local(alice, "aes-128-gcm", "alice's password"),
                   self.local(bob, "2022-blake3-aes-128-gcm", KEY_2022)]
        for local_port in clients:
            self.assertTrue(sslib.echoes_through(local_port, "127.0.0.1", self.echo4_port))
            self.assertTrue(self.udp_works(local_port))
        # --print-url: one URL per server, named by its tag.
        r = subprocess.run([sslib.binary("ss-server"), "-c", self.path, "--print-url"],
                           capture_output=True, text=True, timeout=20)
        self.assertEqual(r.returncode, 0, r.stderr)
        urls = r.stdout.split()
        self.assertEqual(len(urls), 3)
        self.assertTrue(urls[0].endswith(f"@127.0.0.1:{top}"))
        self.assertTrue(urls[1].endswith(f"@127.0.0.1:{alice}#alice"))
        self.assertTrue(urls[2].startswith("ss://2022-blake3-aes-128-gcm:"))

    def test_reload_adds_removes_and_changes_servers_without_touching_the_others(self):
        kept, removed, changed, added = (sslib.free_port() for _ in range(4))
        method = "aes-256-gcm"
        cfg = {"method": method, "port_password": {
            str(kept): "kept password here", str(removed): "removed password here",
            str(changed): "old password here"}}
        server = self.start_server(cfg)
        server.wait_for(rf"listening on 127.0.0.1:{changed}")
        kept_local = self.local(kept, method, "kept password here")
        removed_local = self.local(removed, method, "removed password here")
        old_local = self.local(changed, method, "old password here")
        new_local = self.local(changed, method, "new password here")
        added_local = self.local(added, method, "added password here")
        # Connections held open across the reload, on the kept and the changed port.
        held = [sslib.socks5_connect(p, "127.0.0.1", self.echo4_port, timeout=10)
                for p in (kept_local, old_local)]
        for s in held:
            s.sendall(b"before")
            self.assertEqual(sslib.recv_exact(s, 6), b"before")
        self.assertFalse(sslib.echoes_through(added_local, "127.0.0.1", self.echo4_port))

        self.reload(server, {"method": method, "port_password": {
            str(kept): "kept password here", str(changed): "new password here",
            str(added): "added password here"}})
        server.wait_for(r"1 added, 1 removed, 0 bound again")
        for s in held:
            s.sendall(b"after the reload")
            self.assertEqual(sslib.recv_exact(s, 16), b"after the reload")
            s.close()
        self.assertTrue(sslib.echoes_through(kept_local, "127.0.0.1", self.echo4_port))
        self.assertTrue(sslib.echoes_through(new_local, "127.0.0.1", self.echo4_port))
        self.assertTrue(sslib.echoes_through(added_local, "127.0.0.1", self.echo4_port))
        self.assertTrue(self.udp_works(added_local))
        self.assertFalse(sslib.echoes_through(old_local, "127.0.0.1", self.echo4_port))
        self.assertFalse(sslib.echoes_through(removed_local, "127.0.0.1", self.echo4_port))
        with self.assertRaises(OSError):
            socket.create_connection(("127.0.0.1", removed), timeout=2).close()

        # A server whose mode changes is bound again; the others are not touched.
        self.reload(server, {"method": method, "port_password": {
            str(kept): "kept password here", str(changed): "new password here"},
            "servers": [{"server_port": added, "password": "added password here",
                         "mode": "tcp_only"}]})
        server.wait_for(r"0 added, 0 removed, 1 bound again")
        self.assertTrue(sslib.echoes_through(added_local, "127.0.0.1", self.echo4_port))
        self.assertFalse(self.udp_works(added_local))
        self.assertTrue(sslib.echoes_through(kept_local, "127.0.0.1", self.echo4_port))

    def test_many_keys_on_one_port_found_by_trying_them(self):
        port = sslib.free_port()
        users = [{"server_port": port, "name": f"user{i}", "password": f"password of user {i}",
                  "method": "aes-128-gcm" if i % 3 == 0 else "chacha20-ietf-poly1305"}
                 for i in range(30)]
        server = self.start_server({"servers": users})
        server.wait_for(rf"listening on 127.0.0.1:{port} ")
        picked = [users[0], users[14], users[29]]
        locals_ = [self.local(port, u["method"], u["password"]) for u in picked]
        for local_port in locals_:
            self.assertTrue(sslib.echoes_through(local_port, "127.0.0.1", self.echo4_port))
            self.assertTrue(self.udp_works(local_port))
        # A client we did not write, with one of the keys.
        libev_port = sslib.free_port()
        libev = sslib.libev("ss-local", "-s", "127.0.0.1", "-p", port, "-l", libev_port, "-u",
                            "-m", users[7]["method"], "-k", users[7]["password"],
                            port=libev_port)
        self.addCleanup(libev.cleanup)
        self.assertTrue(sslib.echoes_through(libev_port, "127.0.0.1", self.echo4_port))
        self.assertTrue(self.udp_works(libev_port))
        # A key of nobody: silence, and the log says why without naming anyone.
        stranger = self.local(port, "chacha20-ietf-poly1305", "nobody's password")
        self.assertFalse(sslib.echoes_through(stranger, "127.0.0.1", self.echo4_port))
        server.wait_for(r"invalid request: no key of this port opens it")
        self.assertFalse(self.udp_works(stranger))
        server.wait_for(rf"listening on 127.0.0.1:{port} \(tcp_and_udp\), server user0, "
                        r"method aes-128-gcm, 30 keys")
        held = sslib.socks5_connect(locals_[1], "127.0.0.1", self.echo4_port, timeout=10)
        held.sendall(b"before")
        self.assertEqual(sslib.recv_exact(held, 6), b"before")
        # A reload that removes user29: its client stops; user14's connection goes on.
        self.reload(server, {"servers": users[:29]})
        held.sendall(b"after")
        self.assertEqual(sslib.recv_exact(held, 5), b"after")
        held.close()
        self.assertFalse(sslib.echoes_through(locals_[2], "127.0.0.1", self.echo4_port))
        self.assertFalse(self.udp_works(locals_[2]))
        self.assertTrue(sslib.echoes_through(locals_[0], "127.0.0.1", self.echo4_port))
        self.assertTrue(self.udp_works(locals_[1]))

    def test_a_bad_entry_is_refused_naming_it(self):
        write_json(self.path, {"server": "127.0.0.1", "method": "aes-256-gcm", "servers": [
            {"server_port": sslib.free_port(), "password": "long enough password"},
            {"server_port": sslib.free_port(), "password": "x", "method": "rc4"}]})
        r = subprocess.run([sslib.binary("ss-server"), "-c", self.path], capture_output=True,
                           text=True, timeout=20)
        self.assertEqual(r.returncode, 2)
        self.assertEqual(len(r.stderr.splitlines()), 1, r.stderr)
        self.assertRegex(r.stderr, r"^ss-server: servers\[1\]\.method: ")


if __name__ == "__main__":
    unittest.main(verbosity=2)
