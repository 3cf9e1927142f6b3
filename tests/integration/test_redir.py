#!/usr/bin/env python3
"""ss-redir on real kernels, ours and shadowsocks-libev's under the same rules, without
touching the machine's network: the test process moves into a network namespace of its own
(the gateway) and makes two more, a LAN with the client and a "far" network with ss-server and
the targets, linked to the gateway by veth pairs and addressed from the documentation ranges
(192.0.2.0/24, 198.51.100.0/24, 2001:db8::/32). The gateway does not forward: a client reaches
a target only through the nftables rules installed here (REDIRECT for TCP, TPROXY for UDP and,
with -T, for TCP) and ss-redir -> ss-server. Each target answers with the address it saw the
request come from, which tells a relayed request (from the far network) from a direct one."""
import contextlib
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
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import sslib  # noqa: E402

METHOD, PASSWORD = "aes-256-gcm", "redir test secret"
LAN4, GW_LAN4, GW_FAR4, FAR4 = "192.0.2.2", "192.0.2.1", "198.51.100.1", "198.51.100.2"
TARGET4, BYPASSED4 = "198.51.100.80", "198.51.100.81"
LAN6, GW_LAN6, GW_FAR6, FAR6 = "2001:db8:1::2", "2001:db8:1::1", "2001:db8:2::1", "2001:db8:2::2"
TARGET6 = "2001:db8:2::80"

NO_NETNS = sslib.enter_new_netns()
if NO_NETNS is None and shutil.which("nft") is None:
    NO_NETNS = "nft (nftables) is not installed"

lan = far = None
targets = {}  # (address, "tcp" | "udp") -> port
stoppers = []


def peer_echo(sock):
    """Answers a request with the address it came from and the request."""
    data = sock.recv(1000)
    sock.sendall(sock.getpeername()[0].encode() + b" " + data)


def udp_peer_echo(sock):
    while True:
        try:
            data, peer = sock.recvfrom(2000)
        except OSError:
            return
        sock.sendto(peer[0].encode() + b" " + data, peer)


def setUpModule():
    global lan, far
    if sslib.PORTABLE:
        return  # no transparent sockets: only PortableBuild runs
    if NO_NETNS is not None:
        raise unittest.SkipTest(NO_NETNS)
    ip = sslib.ip
    lan, far = sslib.Netns(), sslib.Netns()
    sslib.veth("gw-lan", lan, "lan0")
    sslib.veth("gw-far", far, "far0")
    for dev, a4, a6 in (("gw-lan", GW_LAN4 + "/24", GW_LAN6 + "/64"),
                        ("gw-far", GW_FAR4 + "/24", GW_FAR6 + "/64")):
        ip("addr", "add", a4, "dev", dev)
        ip("-6", "addr", "add", a6, "dev", dev, "nodad")
        ip("link", "set", dev, "up")
    for ns, dev, addrs, gw4, gw6 in (
            (lan, "lan0", [LAN4 + "/24", LAN6 + "/64"], GW_LAN4, GW_LAN6),
            (far, "far0", [FAR4 + "/24", FAR6 + "/64", TARGET4 + "/32", BYPASSED4 + "/32",
                           TARGET6 + "/128"], GW_FAR4, GW_FAR6)):
        for a in addrs:
            ip(*(["-6"] if ":" in a else []), "addr", "add", a, "dev", dev,
               *(["nodad"] if ":" in a else []), ns=ns)
        ip("link", "set", dev, "up", ns=ns)
        ip("route", "add", "default", "via", gw4, ns=ns)
        ip("-6", "route", "add", "default", "via", gw6, ns=ns)
    # The targets, in the far network.
    with far.entered():
        for address in (TARGET4, BYPASSED4, TARGET6):
            srv, port = sslib.serve(peer_echo, host=address)
            stoppers.append(lambda s=srv: sslib.stop_server(s))
            targets[address, "tcp"] = port
            u = socket.socket(socket.AF_INET6 if ":" in address else socket.AF_INET,
                              socket.SOCK_DGRAM)
            u.bind((address, 0))
            targets[address, "udp"] = u.getsockname()[1]
            threading.Thread(target=udp_peer_echo, args=(u,), daemon=True).start()
            stoppers.append(u.close)
    # TPROXY's policy routing: marked packets are delivered locally.
    ip("rule", "add", "fwmark", "1", "lookup", "100")
    ip("route", "add", "local", "0.0.0.0/0", "dev", "lo", "table", "100")
    ip("-6", "rule", "add", "fwmark", "1", "lookup", "100")
    ip("-6", "route", "add", "local", "::/0", "dev", "lo", "table", "100")


def tearDownModule():
    for stop in stoppers:
        with contextlib.suppress(Exception):
            stop()
    for ns in (lan, far):
        if ns is not None:
            ns.close()


def nft(rules):
    subprocess.run(["nft", "-f", "-"], input=rules, text=True, check=True)


def install_rules(port4, port6, tcp_tproxy):
    """The gateway's rules for a redir listening on port4 (IPv4) and port6 (IPv6)."""
    nft("flush ruleset\n")
    tcp = ""
    if not tcp_tproxy:
        tcp = f"""
  chain nat {{
    type nat hook prerouting priority dstnat; policy accept;
    iifname "gw-lan" ip daddr {{ {TARGET4}, {BYPASSED4} }} meta l4proto tcp redirect to :{port4}
    iifname "gw-lan" ip6 daddr {TARGET6} meta l4proto tcp redirect to :{port6}
  }}"""
    proxied = "{ tcp, udp }" if tcp_tproxy else "udp"
    nft(f"""table inet sstest {{{tcp}
  chain mangle {{
    type filter hook prerouting priority mangle; policy accept;
    iifname "gw-lan" ip daddr {{ {TARGET4}, {BYPASSED4} }} meta l4proto {proxied} tproxy ip to :{port4} meta mark set 1 accept
    iifname "gw-lan" ip6 daddr {TARGET6} meta l4proto {proxied} tproxy ip6 to :{port6} meta mark set 1 accept
  }}
}}
""")


def our_redir(server_port, bind, *extra):
    p = sslib.Proc([sslib.binary("ss-redir"), "-s", FAR4, "-p", server_port, "-b", bind,
                    "-l", 0, "-m", METHOD, "-k", PASSWORD, "-u", *extra])
    return p, p.listen_port()


def libev_redir(server_port, bind, *extra):
    port = sslib.free_port()
    p = sslib.Proc(["ss-redir", "-s", FAR4, "-p", server_port, "-b", bind, "-l", port, "-m",
                    METHOD, "-k", PASSWORD, "-u", *extra], name="libev-ss-redir")
    sslib.wait_listen_state(port)
    return p, port


def client_socket(family, kind, here):
    """A socket in the LAN, or (`here`) in the gateway itself."""
    if here:
        return socket.socket(family, kind)
    with lan.entered():
        return socket.socket(family, kind)


def tcp_through(address, here=False):
    """A request from the LAN (or the gateway itself) to `address`'s TCP target: the address
    the target saw it from."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    s = client_socket(family, socket.SOCK_STREAM, here)
    with s:
        s.settimeout(10 * sslib.SLOW)
        s.connect((address, targets[address, "tcp"]))
        s.sendall(b"hello over tcp")
        answer = sslib.recv_all(s)
    seen, _, rest = answer.partition(b" ")
    assert rest == b"hello over tcp", answer
    return seen.decode()


def udp_through(address, here=False):
    """The same with a datagram; the answer must come from the target's own address."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    s = client_socket(family, socket.SOCK_DGRAM, here)
    with s:
        s.settimeout(3 * sslib.SLOW)
        for _ in range(3):  # a datagram may be lost while the association is set up
            s.sendto(b"hello over udp", (address, targets[address, "udp"]))
            try:
                answer, source = s.recvfrom(2000)
                break
            except socket.timeout:
                continue
        else:
            raise AssertionError(f"no UDP answer from {address}")
    assert source[0] == address and source[1] == targets[address, "udp"], source
    seen, _, rest = answer.partition(b" ")
    assert rest == b"hello over udp", answer
    return seen.decode()


DOCS = os.path.join(os.path.dirname(__file__), "..", "..", "docs", "redir.md")


def documented_rules(table, port4, port6, server):
    """The nftables table `table` as docs/redir.md gives it, with this test's interface, ports
    and server put in for the document's lan0, 1080, 1081 and 203.0.113.10."""
    with open(DOCS) as f:
        text = f.read()
    m = re.search(r"```\n(table inet " + table + r" \{\n.*?\n\})\n```", text, re.S)
    assert m, f"docs/redir.md has no table {table}"
    rules = m.group(1).replace('"lan0"', '"gw-lan"').replace("203.0.113.10", server)
    return rules.replace(":1080", f":{port4}").replace(":1081", f":{port6}")


def documented_iptables():
    """docs/redir.md's iptables commands for a gateway (IPv4): the set-up and the undo, each a
    list of command lines, with this test's interface, ports and server put in."""
    with open(DOCS) as f:
        text = f.read()
    section = text[text.index("### iptables"):text.index("## The machine's own traffic")]
    blocks = re.findall(r"```sh\n(.*?)```", section, re.S)
    assert len(blocks) == 2, "docs/redir.md: the iptables set-up and undo blocks"
    return [[line for line in block.splitlines() if line.strip()] for block in blocks]


class Redir(unittest.TestCase):
    """TCP and UDP, IPv4 and IPv6, through REDIRECT (TCP) and TPROXY (UDP; with -T, TCP too),
    for our ss-redir and libev's, each with our ss-server in the far network."""

    @classmethod
    def setUpClass(cls):
        if sslib.PORTABLE:
            raise unittest.SkipTest("the portable build has no transparent sockets")
        cls.server = sslib.Proc(far.cmd(sslib.binary("ss-server"), "-s", "0.0.0.0", "-p", 0,
                                        "-m", METHOD, "-k", PASSWORD, "-u",
                                        "--outbound-allow-private"), name="ss-server")
        cls.server_port = cls.server.listen_port()

    @classmethod
    def tearDownClass(cls):
        cls.server.cleanup()

    def carried(self, start_redir, tcp_tproxy, extra=()):
        flag = ["-T"] if tcp_tproxy else []
        r4, port4 = start_redir(self.server_port, "0.0.0.0", *flag, *extra)
        r6, port6 = start_redir(self.server_port, "::", *flag, *extra)
        with sslib.running(r4, r6):
            install_rules(port4, port6, tcp_tproxy)
            try:
                for address in (TARGET4, TARGET6):
                    with self.subTest(address=address, proto="tcp"):
                        seen = tcp_through(address)
                        # Relayed: ss-server (in the far network) connected, not the client.
                        self.assertNotIn(seen, (LAN4, LAN6))
                        self.assertEqual(seen, address)
                    with self.subTest(address=address, proto="udp"):
                        self.assertEqual(udp_through(address), address)
            finally:
                nft("flush ruleset\n")

    def test_ours_redirect(self):
        self.carried(our_redir, False)

    def test_ours_tproxy(self):
        self.carried(our_redir, True)

    def test_libev_redirect(self):
        self.carried(libev_redir, False)

    def test_libev_tproxy(self):
        self.carried(libev_redir, True)

    def test_the_documented_gateway_rules(self):
        # docs/redir.md's gateway table as written (TCP by REDIRECT, UDP by TPROXY).
        r4, port4 = our_redir(self.server_port, "0.0.0.0")
        r6, port6 = our_redir(self.server_port, "::")
        with sslib.running(r4, r6):
            nft("flush ruleset\n")
            nft(documented_rules("ss_redir", port4, port6, FAR4))
            try:
                for address in (TARGET4, TARGET6):
                    with self.subTest(address=address):
                        self.assertEqual(tcp_through(address), address)
                        self.assertEqual(udp_through(address), address)
            finally:
                nft("flush ruleset\n")

    def test_the_documented_rules_for_the_machines_own_traffic(self):
        # docs/redir.md's table for the machine's own traffic, in the gateway itself (which
        # reaches the far network directly). The server is not in the table's direct set:
        # only outbound_fwmark keeps ss-redir's own connections and datagrams from being
        # caught again.
        r4, port4 = our_redir(self.server_port, "127.0.0.1", "--outbound-fwmark", 255)
        r6, port6 = our_redir(self.server_port, "::1", "--outbound-fwmark", 255)
        with sslib.running(r4, r6):
            nft("flush ruleset\n")
            nft(documented_rules("ss_redir_own", port4, port6, "203.0.113.10"))
            try:
                for address in (TARGET4, TARGET6):
                    with self.subTest(address=address):
                        # Relayed by ss-server (the target sees itself), not direct (it would
                        # see the gateway's address).
                        self.assertEqual(tcp_through(address, here=True), address)
                        self.assertEqual(udp_through(address, here=True), address)
            finally:
                nft("flush ruleset\n")

    @unittest.skipUnless(shutil.which("iptables"), "iptables is not installed")
    def test_the_documented_iptables_rules(self):
        # docs/redir.md's iptables commands as written (IPv4), and its undo.
        setup, undo = documented_iptables()
        r4, port4 = our_redir(self.server_port, "0.0.0.0")

        def run(lines):
            for line in lines:
                line = line.replace("lan0", "gw-lan").replace("203.0.113.10", FAR4)
                subprocess.run(line.replace("1080", str(port4)).split(), check=True)

        with sslib.running(r4):
            nft("flush ruleset\n")
            try:
                run(setup)
                self.assertEqual(tcp_through(TARGET4), TARGET4)
                self.assertEqual(udp_through(TARGET4), TARGET4)
                run(undo)
                for table in ("nat", "mangle"):
                    rules = subprocess.run(["iptables", "-t", table, "-S"], capture_output=True,
                                           text=True, check=True).stdout
                    self.assertNotIn("SS_", rules)
            finally:
                nft("flush ruleset\n")

    def test_a_2022_method(self):
        key = subprocess.run([sslib.binary("ss-server"), "-m", "2022-blake3-aes-256-gcm",
                              "--keygen"], capture_output=True, text=True,
                             check=True).stdout.strip()
        server = sslib.Proc(far.cmd(sslib.binary("ss-server"), "-s", "0.0.0.0", "-p", 0, "-m",
                                    "2022-blake3-aes-256-gcm", "-k", key, "-u",
                                    "--outbound-allow-private"), name="ss-server-2022")
        with sslib.running(server):
            p = sslib.Proc([sslib.binary("ss-redir"), "-s", FAR4, "-p", server.listen_port(),
                            "-b", "0.0.0.0", "-l", 0, "-m", "2022-blake3-aes-256-gcm", "-k", key,
                            "-u"])
            port4 = p.listen_port()
            with sslib.running(p):
                install_rules(port4, port4, False)
                try:
                    self.assertEqual(tcp_through(TARGET4), TARGET4)
                    self.assertEqual(udp_through(TARGET4), TARGET4)
                finally:
                    nft("flush ruleset\n")

    def test_ours_across_an_upgrade(self):
        # SIGUSR2 (docs/operations.md): the new ss-redir takes the transparent listeners (TCP by
        # TPROXY, UDP) and carries what the rules send it; the old one leaves.
        p = sslib.Proc([sslib.binary("ss-redir"), "-s", FAR4, "-p", self.server_port, "-b",
                        "0.0.0.0", "-l", 0, "-m", METHOD, "-k", PASSWORD, "-u", "-T"])
        port4 = p.listen_port()
        with sslib.running(p):
            install_rules(port4, port4, True)
            try:
                self.assertEqual(tcp_through(TARGET4), TARGET4)
                p.p.send_signal(signal.SIGUSR2)
                new = int(p.wait_for(r"upgrade: process (\d+) serves", timeout=60).group(1))
                try:
                    self.assertEqual(p.p.wait(15 * sslib.SLOW), 0)
                    self.assertEqual(tcp_through(TARGET4), TARGET4)
                    self.assertEqual(udp_through(TARGET4), TARGET4)
                finally:
                    os.kill(new, signal.SIGTERM)
            finally:
                nft("flush ruleset\n")

    def test_several_servers_one_down(self):
        # Two servers, the first down (nothing listens there): every connection still arrives,
        # the ones that drew the first retried on the second.
        down = {"server": FAR4, "server_port": sslib.free_port(), "method": METHOD,
                "password": PASSWORD, "name": "down"}
        up = {"server": FAR4, "server_port": self.server_port, "method": METHOD,
              "password": PASSWORD, "name": "up"}
        # Checked once, against a target that answers at once (not HTTP: both fail the check,
        # and then both are tried): the default check URL would wait for DNS in these networks.
        check = f"http://{TARGET4}:{targets[TARGET4, 'tcp']}/"
        cfg = {"local_address": "0.0.0.0", "local_port": 0, "servers": [down, up],
               "balancer": {"check_interval": 3600, "check_url": check}}
        path = sslib.write_temp(json.dumps(cfg), ".json")
        self.addCleanup(os.unlink, path)
        p = sslib.Proc([sslib.binary("ss-redir"), "-c", path])
        port4 = p.listen_port()
        with sslib.running(p):
            install_rules(port4, port4, False)
            try:
                for _ in range(10):
                    self.assertEqual(tcp_through(TARGET4), TARGET4)
            finally:
                nft("flush ruleset\n")

    def test_acl_bypass_connects_directly(self):
        # BYPASSED4 is on the bypass list: ss-redir connects to it itself (from the gateway's
        # address); TARGET4 still goes through the server.
        with tempfile.NamedTemporaryFile("w", suffix=".acl", delete=False) as f:
            f.write(f"[proxy_all]\n\n[bypass_list]\n{BYPASSED4}\n")
        try:
            r4, port4 = our_redir(self.server_port, "0.0.0.0", "--acl", f.name)
            with sslib.running(r4):
                install_rules(port4, port4, False)
                try:
                    self.assertEqual(tcp_through(BYPASSED4), GW_FAR4)
                    self.assertEqual(udp_through(BYPASSED4), GW_FAR4)
                    self.assertEqual(tcp_through(TARGET4), TARGET4)
                finally:
                    nft("flush ruleset\n")
        finally:
            os.unlink(f.name)

    def test_without_cap_net_admin_the_error_names_it(self):
        # The capabilities dropped from the bounding set (the kernel takes CAP_NET_RAW for
        # IP_TRANSPARENT too): root's exec does not get them back.
        p = subprocess.run(["setpriv", "--bounding-set=-net_admin,-net_raw",
                            sslib.binary("ss-redir"),
                            "-s", FAR4, "-p", str(self.server_port), "-b", "0.0.0.0", "-l", "0",
                            "-m", METHOD, "-k", PASSWORD, "-u"],
                           capture_output=True, text=True, timeout=30 * sslib.SLOW)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("CAP_NET_ADMIN", p.stdout + p.stderr)

    def test_a_connection_not_redirected_is_closed(self):
        r4, port4 = our_redir(self.server_port, "0.0.0.0")
        with sslib.running(r4):
            # No rules: a connection made to the port itself has no original destination
            # elsewhere; carrying it to the port again would loop.
            with socket.create_connection(("127.0.0.1", port4), timeout=10) as s:
                self.assertEqual(sslib.recv_all(s), b"")
            r4.wait_for("not redirected here")


@unittest.skipUnless(sslib.PORTABLE, "only the portable build lacks transparent sockets")
class PortableBuild(unittest.TestCase):
    def test_ss_redir_says_it_cannot_work_here(self):
        out = subprocess.run([sslib.binary("ss-redir"), "-s", "127.0.0.1", "-p", "9", "-l", "0",
                              "-m", METHOD, "-k", PASSWORD], capture_output=True, text=True,
                             timeout=30)
        self.assertEqual(out.returncode, 1)
        self.assertIn("this build has no transparent sockets", out.stderr + out.stdout)
        usage = subprocess.run([sslib.binary("ss-redir"), "--help"], capture_output=True,
                               text=True, timeout=30)
        self.assertIn("not in this build", usage.stdout)


if __name__ == "__main__":
    unittest.main()
