#!/usr/bin/env python3
"""Listening sockets handed to the process instead of bound by it (issue 33). Socket
activation, with systemd's own `systemd-socket-activate` holding the sockets: a connection or
a datagram that arrives before the server runs waits in the socket and is served once it does;
a socket the configuration does not name is closed with a warning; variables meant for another
process are left alone."""

import os
import shutil
import socket
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import sslib  # noqa: E402

METHOD = "chacha20-ietf-poly1305"
PASSWORD = "hand-over test password"
ACTIVATE = shutil.which("systemd-socket-activate")


def activated(*listen, datagram=False, program="ss-server", args=()):
    """`program` started by systemd-socket-activate, which listens on `listen` (HOST:PORT) and
    starts it at the first connection or datagram, handing the sockets over."""
    cmd = [ACTIVATE, *(["--datagram"] if datagram else [])]
    for address in listen:
        cmd += ["-l", address]
    p = sslib.Proc([*cmd, sslib.binary(program), *args], name=program)
    p.ours = True  # it is our program once started (the same process)
    return p


@unittest.skipUnless(ACTIVATE, "systemd-socket-activate is not installed")
class SocketActivation(sslib.EchoTargetsTestCase):

    def test_a_connection_made_before_the_server_runs_is_served(self):
        port = sslib.free_port()
        server = activated(f"127.0.0.1:{port}",
                           args=["-s", "127.0.0.1", "-p", port, "-m", METHOD, "-k", PASSWORD,
                                 "--outbound-allow-private", "-v"])
        # systemd-socket-activate's socket (a connection to check would start the server).
        sslib.wait_listen_state(port)
        local, local_port = sslib.our_local(port, METHOD, PASSWORD)
        with sslib.running(local, server):
            self.assertNotIn("Execing", server.text())
            # This connection starts the server and waits in the socket until it accepts.
            self.assertTrue(sslib.echoes_through(local_port, "127.0.0.1", self.echo4_port))
            server.wait_for(r"listening on 127\.0\.0\.1:%d " % port)
            for _ in range(3):
                self.assertTrue(sslib.echoes_through(local_port, "127.0.0.1", self.echo4_port))

    def test_a_datagram_sent_before_the_server_runs_is_answered(self):
        port = sslib.free_port("127.0.0.1")
        echo = sslib.UdpServer("127.0.0.1")
        server = activated(f"127.0.0.1:{port}", datagram=True,
                           args=["-s", "127.0.0.1", "-p", port, "-m", METHOD, "-k", PASSWORD,
                                 "-U", "--outbound-allow-private"])
        local, local_port = sslib.our_local(port, METHOD, PASSWORD, "-u")
        try:
            with sslib.running(local, server):
                control, relay = sslib.socks5_udp_associate(local_port)
                with control, sslib.udp_client(timeout=10.0 * sslib.SLOW) as client:
                    for payload in (b"first, before the server ran", b"second"):
                        _, _, answer = sslib.udp_roundtrip(client, relay, "127.0.0.1",
                                                           echo.port, payload)
                        self.assertEqual(answer, payload)
        finally:
            echo.stop()

    def test_a_socket_the_configuration_does_not_name_is_closed(self):
        port, other = sslib.free_port(), sslib.free_port()
        server = activated(f"127.0.0.1:{port}", f"127.0.0.1:{other}",
                           args=["-s", "127.0.0.1", "-p", port, "-m", METHOD, "-k", PASSWORD,
                                 "--outbound-allow-private"])
        local, local_port = sslib.our_local(port, METHOD, PASSWORD)
        with sslib.running(local, server):
            self.assertTrue(sslib.echoes_through(local_port, "127.0.0.1", self.echo4_port))
            server.wait_for(r"socket activation: 127\.0\.0\.1:%d \(TCP\) is no listen address "
                            r"of the configuration; closed" % other)

    def test_variables_meant_for_another_process_are_ignored(self):
        # LISTEN_PID names another process: nothing is taken, the port is bound as usual, and
        # descriptor 3 (not a socket handed over) is left alone.
        env = dict(os.environ, LISTEN_PID="1", LISTEN_FDS="1")
        server = sslib.Proc([sslib.binary("ss-server"), "-s", "127.0.0.1", "-p", 0, "-m",
                             METHOD, "-k", PASSWORD, "--outbound-allow-private"], env=env)
        with sslib.running(server):
            port = server.listen_port()
            local, local_port = sslib.our_local(port, METHOD, PASSWORD)
            with sslib.running(local):
                self.assertTrue(sslib.echoes_through(local_port, "127.0.0.1", self.echo4_port))
            self.assertNotIn("socket activation", server.text())


if __name__ == "__main__":
    unittest.main()
