#!/usr/bin/env python3
"""TCP Fast Open (`fast_open`, `--fast-open`) between ss-tunnel and ss-server, ours and
shadowsocks-libev's in both directions: the address header and the first data go in the SYN,
as the kernel's own counters (TCPFastOpenPassive) show. Runs in a network namespace of its own,
where net.ipv4.tcp_fastopen can be 3 (client and server) without touching the machine's."""
import os
import socket
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "integration"))
import sslib  # noqa: E402

METHOD, PASSWORD = "chacha20-ietf-poly1305", "fast open secret"
CONNECTIONS = 6
NO_NETNS = sslib.enter_new_netns()


def setUpModule():
    if NO_NETNS is not None:
        raise unittest.SkipTest(NO_NETNS)
    with open("/proc/sys/net/ipv4/tcp_fastopen", "w") as f:
        f.write("3")


def our_server():
    return sslib.our_server(METHOD, PASSWORD, "--fast-open")


def libev_server():
    port = sslib.free_port()
    return sslib.libev("ss-server", "-s", "127.0.0.1", "-p", port, "-k", PASSWORD, "-m", METHOD,
                       "--fast-open", port=port), port


def our_tunnel(server_port, dest):
    return sslib.our_tunnel(server_port, METHOD, PASSWORD, dest, "--fast-open")


def libev_tunnel(server_port, dest):
    port = sslib.free_port()
    return sslib.libev("ss-tunnel", "-s", "127.0.0.1", "-p", server_port, "-l", port, "-L", dest,
                       "-k", PASSWORD, "-m", METHOD, "--fast-open", port=port), port


class FastOpen(unittest.TestCase):
    def carried_in_syn(self, start_server, start_tunnel):
        """Sequential connections through the pair; how many SYNs carried data to ss-server."""
        echo, echo_port = sslib.serve(sslib.echo_handler)
        try:
            server, server_port = start_server()
            tunnel, tunnel_port = start_tunnel(server_port, f"127.0.0.1:{echo_port}")
            with sslib.running(server, tunnel):
                before = sslib.netstat_counters().get("TCPFastOpenPassive", 0)
                for i in range(CONNECTIONS):
                    with socket.create_connection(("127.0.0.1", tunnel_port), timeout=10) as s:
                        s.sendall(b"request %d" % i)
                        self.assertEqual(sslib.recv_exact(s, 9), b"request %d" % i)
                return sslib.netstat_counters().get("TCPFastOpenPassive", 0) - before
        finally:
            sslib.stop_server(echo)

    # The first connection fetches the server's cookie; every later one sends its first bytes
    # in the SYN. (The echo target does not take Fast Open: ss-server's own attempts toward it
    # fall back to a plain connect, as libev's do.)
    def test_ours_to_ours(self):
        self.assertGreaterEqual(self.carried_in_syn(our_server, our_tunnel), CONNECTIONS - 1)

    def test_our_tunnel_to_libev_server(self):
        self.assertGreaterEqual(self.carried_in_syn(libev_server, our_tunnel), CONNECTIONS - 1)

    def test_libev_tunnel_to_our_server(self):
        self.assertGreaterEqual(self.carried_in_syn(our_server, libev_tunnel), CONNECTIONS - 1)

    def test_without_the_switch_nothing_goes_in_the_syn(self):
        def plain_server():
            return sslib.our_server(METHOD, PASSWORD)

        def plain_tunnel(server_port, dest):
            return sslib.our_tunnel(server_port, METHOD, PASSWORD, dest)

        self.assertEqual(self.carried_in_syn(plain_server, plain_tunnel), 0)


if __name__ == "__main__":
    unittest.main()
