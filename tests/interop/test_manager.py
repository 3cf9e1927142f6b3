#!/usr/bin/env python3
"""libev's ss-manager protocol (issue 17): our ss-manager answers a command sequence with the
same bytes as libev's own ss-manager (apart from the port numbers, which differ); our
ss-manager serves, counts, removes and (with a state file) restores the ports it is given;
and our ss-server runs under libev's ss-manager, which shows the traffic our ss-server
pushes."""

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

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "integration"))
import sslib  # noqa: E402

METHOD = "aes-256-gcm"


class ManagerClient:
    """A Unix datagram client of a manager socket (bound, so that replies can come back)."""

    def __init__(self, directory, manager_path):
        self.path = os.path.join(directory, f"client-{os.getpid()}-{id(self)}.sock")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.manager = manager_path

    def ask(self, command, timeout=5.0):
        """The reply to `command`, or None when none comes within `timeout`."""
        self.sock.settimeout(timeout * sslib.SLOW)
        self.sock.sendto(command.encode(), self.manager)
        try:
            return self.sock.recv(65536).decode()
        except socket.timeout:
            return None

    def close(self):
        self.sock.close()
        os.unlink(self.path)


def wait_socket(path, proc, timeout=10.0):
    deadline = time.monotonic() + timeout * sslib.SLOW
    while not os.path.exists(path):
        if proc.p.poll() is not None or time.monotonic() > deadline:
            raise AssertionError(f"no manager socket at {path}:\n{proc.text()}")
        time.sleep(0.02)


class Manager(sslib.EchoTargetsTestCase):

    def setUp(self):
        self.dir = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, self.dir, True)

    def ours(self, *extra, name="ours"):
        path = os.path.join(self.dir, f"{name}.sock")
        p = sslib.Proc([sslib.binary("ss-manager"), "--manager-address", path, "-s",
                        "127.0.0.1", "-m", METHOD, "--outbound-allow-private", *extra])
        self.addCleanup(p.cleanup)
        wait_socket(path, p)
        client = ManagerClient(self.dir, path)
        self.addCleanup(client.close)
        return p, client

    def libev_manager(self, *extra):
        path = os.path.join(self.dir, "libev.sock")
        home = os.path.join(self.dir, "home")
        os.makedirs(home, exist_ok=True)
        # libev's ss-manager keeps each port's config and pid file under $HOME/.shadowsocks.
        env = dict(os.environ, HOME=home)
        p = sslib.Proc(["ss-manager", "--manager-address", path, "-s", "127.0.0.1", "-m",
                        METHOD, *extra], name="libev-ss-manager", env=env)
        self.addCleanup(p.cleanup)
        wait_socket(path, p)
        client = ManagerClient(self.dir, path)
        self.addCleanup(client.close)
        return p, client

    def test_the_same_replies_as_libevs_ss_manager(self):
        _, ours = self.ours()
        _, libev = self.libev_manager()
        ports = {"ours": [sslib.free_port(), sslib.free_port()],
                 "libev": [sslib.free_port(), sslib.free_port()]}
        sequence = [
            "ping",
            "list",
            'add: {"server_port": P0, "password": "first password"}',
            "list",
            "ping",
            'add: {"server_port": "P1", "password": "second", "method": "chacha20-ietf-poly1305"}',
            'add: {"server_port": P1}',  # no password
            "add: not json",
            'remove: {"password": "x"}',  # no port
            'remove: {"server_port": P0}',
            "list",
            'remove: {"server_port": P0}',  # not there: still "ok"
            "hello",  # unknown: no answer
            'remove: {"server_port": P1}',
            "ping",
        ]
        for command in sequence:
            replies = {}
            for who, client in (("ours", ours), ("libev", libev)):
                text = command.replace("P0", str(ports[who][0])).replace("P1", str(ports[who][1]))
                reply = client.ask(text, timeout=1.0 if command == "hello" else 5.0)
                if reply is not None:
                    for i, port in enumerate(ports[who]):
                        reply = reply.replace(str(port), f"P{i}")
                replies[who] = reply
            self.assertEqual(replies["ours"], replies["libev"], command)

    def test_ports_added_serve_count_go_and_come_back_after_a_restart(self):
        state = os.path.join(self.dir, "manager.state")
        mgr, client = self.ours("--manager-state-file", state, "-u")
        port = sslib.free_port()
        self.assertEqual(client.ask(f'add: {{"server_port": {port}, "password": "pw of the port"}}'),
                         "ok")
        local, local_port = sslib.our_local(port, METHOD, "pw of the port")
        self.addCleanup(local.cleanup)
        with sslib.socks5_connect(local_port, "127.0.0.1", self.echo4_port) as s:
            s.sendall(b"x" * 5000)
            self.assertEqual(len(sslib.recv_exact(s, 5000)), 5000)
        self.assertEqual(client.ask("ping"), f'stat: {{"{port}":10000}}')
        # A port in use by someone else: libev's answer.
        with socket.socket() as busy:
            busy.bind(("127.0.0.1", 0))
            busy.listen()
            taken = busy.getsockname()[1]
            self.assertEqual(client.ask(f'add: {{"server_port": {taken}, "password": "x"}}'),
                             "port is not available")
        # The state file has the port (and its password: owner-only).
        self.assertEqual(os.stat(state).st_mode & 0o777, 0o600)
        with open(state) as f:
            self.assertEqual([e["server_port"] for e in json.load(f)["added"]], [port])
        # A restart brings it back.
        mgr.stop()
        mgr2, client2 = self.ours("--manager-state-file", state, "-u", name="again")
        mgr2.wait_for(rf"listening on 127.0.0.1:{port} ")
        self.assertTrue(sslib.echoes_through(local_port, "127.0.0.1", self.echo4_port))
        self.assertIn(f'"server_port":"{port}"', client2.ask("list"))
        # Removed: new connections are refused at once.
        self.assertEqual(client2.ask(f'remove: {{"server_port": {port}}}'), "ok")
        with self.assertRaises(OSError):
            socket.create_connection(("127.0.0.1", port), timeout=2).close()
        self.assertEqual(client2.ask("list"), "[\n]")

    def test_each_refusal_is_one_log_line_in_the_commands_terms(self):
        mgr, client = self.ours()
        port = sslib.free_port()
        cases = [
            ('add: {"server_port": %d}' % port, "err", r'"add" refused: no password'),
            ("add: not json", "err", r'"add" refused: no JSON object'),
            ('remove: {"password": "x"}', "err",
             r'"remove" refused: no server_port from 1 to 65535'),
            ("hello", None, r'"hello" refused: unknown command \(no answer'),
            # A setting of the add: named as the add named it, not as servers[N].method.
            ('add: {"server_port": %d, "password": "a long enough password", '
             '"method": "rc4-md5"}' % port, "err", r"add of port \d+ refused: method: "),
            # Any key a port may set by the key table is the port's, checked as in a config.
            ('add: {"server_port": %d, "password": "a long enough password", '
             '"timeout": -5}' % port, "err", r"add of port \d+ refused: timeout: "),
        ]
        for command, reply, line in cases:
            with self.subTest(command=command):
                self.assertEqual(client.ask(command, timeout=1.0 if reply is None else 5.0),
                                 reply)
                mgr.wait_for(line)
        self.assertNotIn("servers[", mgr.text())

    def test_a_short_password_is_warned_about_as_ss_server_does(self):
        mgr, client = self.ours()
        port = sslib.free_port()
        self.assertEqual(client.ask('add: {"server_port": %d, "password": "12345"}' % port), "ok")
        mgr.wait_for(rf"manager: port {port}: password: 5 characters is short enough to guess")
        # A long one (or a 2022 key, checked for its size instead) is not.
        other = sslib.free_port()
        self.assertEqual(client.ask('add: {"server_port": %d, "password": "%s"}'
                                    % (other, "x" * 24)), "ok")
        time.sleep(0.3)
        self.assertNotIn(f"port {other}: password", mgr.text())

    def test_a_remote_api_address_needs_the_explicit_option(self):
        r = subprocess.run([sslib.binary("ss-manager"), "--manager-address", "192.0.2.1:8839",
                            "-m", METHOD], capture_output=True, text=True, timeout=20)
        self.assertEqual(r.returncode, 1)
        self.assertIn("manager_allow_remote", r.stderr)

    def test_our_ss_server_under_libevs_ss_manager(self):
        # libev's ss-manager starts "EXECUTABLE --manager-address ... -f PIDFILE -c CONF ...";
        # the wrapper adds what the test's loopback target needs.
        wrapper = os.path.join(self.dir, "ss-server-wrapper")
        with open(wrapper, "w") as f:
            f.write(f'#!/bin/sh\nexec {sslib.binary("ss-server")} --outbound-allow-private "$@"\n')
        os.chmod(wrapper, 0o755)
        mgr, client = self.libev_manager("--executable", wrapper)
        port = sslib.free_port()
        self.assertEqual(client.ask(f'add: {{"server_port": {port}, "password": "libev runs us"}}'),
                         "ok")
        sslib.wait_listening(port)
        local, local_port = sslib.our_local(port, METHOD, "libev runs us")
        self.addCleanup(local.cleanup)
        with sslib.socks5_connect(local_port, "127.0.0.1", self.echo4_port) as s:
            s.sendall(b"y" * 3000)
            self.assertEqual(len(sslib.recv_exact(s, 3000)), 3000)
        # Our ss-server pushes "stat:" every 10 s; libev's manager reports it on ping.
        deadline = time.monotonic() + 30 * sslib.SLOW
        reply = None
        while time.monotonic() < deadline:
            reply = client.ask("ping")
            if reply == f'stat: {{"{port}":6000}}':
                break
            time.sleep(0.5)
        self.assertEqual(reply, f'stat: {{"{port}":6000}}', mgr.text())
        self.assertEqual(client.ask(f'remove: {{"server_port": {port}}}'), "ok")
        deadline = time.monotonic() + 10 * sslib.SLOW
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
            except OSError:
                break
            time.sleep(0.1)
        else:
            self.fail("libev's ss-manager did not stop our ss-server")


if __name__ == "__main__":
    unittest.main(verbosity=2)
