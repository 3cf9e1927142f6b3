#!/usr/bin/env python3
"""It runs where it was not built (issue 28): the static executable, in a network namespace of
the test's own,

- from an otherwise empty root directory (a chroot holding the executable, its links, two
  configs and a CA bundle: no libraries, no /etc/hosts, no /etc/passwd, no /proc, no /dev),
  relays TCP and UDP (ss-local -> ss-server -> a target) for aes-256-gcm and
  2022-blake3-aes-128-gcm; with an /etc/hosts and an /etc/resolv.conf added, ss-server finds
  target names in both (c-ares, no glibc NSS); with an /etc/passwd and /etc/group, `-a` runs
  it as that user with its groups;
- in a Debian 11 root made with debootstrap from Debian's archive (glibc 2.31, older than the
  one it was built with), does the same with Debian 11's own files. The root is kept in
  SS_TEST_CACHE (default /var/tmp/shadowsocks-cpp-test-cache) between runs; the test is
  skipped, saying why, where the archive cannot be reached.

Needs root (chroot, namespaces) and SS_STATIC=1 (a dynamic executable cannot run in an empty
root)."""

import base64
import contextlib
import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "../integration"))
import sslib  # noqa: E402

STATIC = os.environ.get("SS_STATIC") == "1"
EXE = os.path.join(sslib.BIN_DIR, "shadowsocks-cpp")
CACHE = os.environ.get("SS_TEST_CACHE", "/var/tmp/shadowsocks-cpp-test-cache")
CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
DEBIAN_MIRROR = "http://deb.debian.org/debian"
PASSWORD = "portable-test-password-of-some-length"
METHODS = {"aes-256-gcm": lambda: PASSWORD,
           "2022-blake3-aes-128-gcm": lambda: base64.b64encode(os.urandom(16)).decode()}
TARGET_NAME = "target.example.test"  # what the name server of the test answers
HOSTS_NAME = "hosts-only.example.test"  # what /etc/hosts of the root answers


def why_not():
    if not STATIC:
        return "not the static build (SS_STATIC=1 runs these)"
    if os.geteuid() != 0:
        return "chroot and network namespaces need root"
    return None


def install_executable(root, where="/"):
    """The executable and its links in `root` at `where`; returns its folder in the root."""
    folder = os.path.join(root, where.lstrip("/"))
    os.makedirs(folder, exist_ok=True)
    shutil.copy2(EXE, os.path.join(folder, "shadowsocks-cpp"))
    for name in ("ss-local", "ss-server"):
        link = os.path.join(folder, name)
        if not os.path.lexists(link):
            os.symlink("shadowsocks-cpp", link)
    return where.rstrip("/")


def write(root, path, text, mode=0o644):
    full = os.path.join(root, path.lstrip("/"))
    os.makedirs(os.path.dirname(full), exist_ok=True)
    with open(full, "w") as f:
        f.write(text)
    os.chmod(full, mode)


class Pair:
    """ss-server and ss-local chrooted into `root`, each from its config in the root's /etc."""

    def __init__(self, root, bin_in_root, method, server_extra=None):
        self.server_port, self.local_port = sslib.free_port(), sslib.free_port()
        password = METHODS[method]()
        server = {"server": "127.0.0.1", "server_port": self.server_port, "method": method,
                  "password": password, "mode": "tcp_and_udp", "workers": 1,
                  "outbound_allow_private": True, **(server_extra or {})}
        local = {"server": "127.0.0.1", "server_port": self.server_port, "method": method,
                 "password": password, "mode": "tcp_and_udp", "local_address": "127.0.0.1",
                 "local_port": self.local_port, "workers": 1}
        write(root, "/etc/shadowsocks/server.json", json.dumps(server), 0o600)
        write(root, "/etc/shadowsocks/local.json", json.dumps(local), 0o600)
        self.server = sslib.Proc(["chroot", root, f"{bin_in_root}/ss-server", "-v", "-c",
                                  "/etc/shadowsocks/server.json"], name="chroot-ss-server")
        self.local = sslib.Proc(["chroot", root, f"{bin_in_root}/ss-local", "-c",
                                 "/etc/shadowsocks/local.json"], name="chroot-ss-local")
        sslib.wait_listening(self.server_port)
        sslib.wait_listening(self.local_port)

    def close(self):
        for p in (self.local, self.server):
            code = p.stop()
            if code != 0:
                raise AssertionError(f"{p.name} exited with {code} on SIGTERM:\n{p.text()}")


class RelayChecks:
    """What both roots must do; `root` and `bin_in_root` come from the class."""

    root = None
    bin_in_root = "/"

    def relay_tcp(self, local_port, host):
        target, port = sslib.serve(sslib.echo_handler)
        try:
            data = os.urandom(256 * 1024)
            with sslib.socks5_connect(local_port, host, port) as s:
                s.sendall(data)
                s.shutdown(socket.SHUT_WR)
                back = sslib.recv_all(s)
            self.assertEqual(hashlib.sha256(back).hexdigest(), hashlib.sha256(data).hexdigest())
        finally:
            sslib.stop_server(target)

    def relay_udp(self, pair):
        echo = sslib.UdpServer()
        try:
            control, relay = sslib.socks5_udp_associate(pair.local_port)
            with control, sslib.udp_client() as c:
                for i in range(3):
                    payload = os.urandom(100 + i)
                    _, port, data = sslib.udp_roundtrip(c, relay, "127.0.0.1", echo.port, payload)
                    self.assertEqual((port, data), (echo.port, payload))
        finally:
            echo.stop()

    def test_tcp_and_udp_for_each_method(self):
        for method in METHODS:
            with self.subTest(method=method):
                pair = Pair(self.root, self.bin_in_root, method)
                try:
                    self.relay_tcp(pair.local_port, "127.0.0.1")
                    self.relay_udp(pair)
                finally:
                    pair.close()

    def test_target_names_from_hosts_and_resolv_conf(self):
        write(self.root, "/etc/hosts", f"127.0.0.1 localhost\n127.0.0.1 {HOSTS_NAME}\n")
        write(self.root, "/etc/resolv.conf", "nameserver 127.0.0.1\n")
        dns = sslib.TinyDns(TARGET_NAME, port=53)
        pair = Pair(self.root, self.bin_in_root, "aes-256-gcm")
        try:
            self.relay_tcp(pair.local_port, HOSTS_NAME)
            self.assertNotIn(HOSTS_NAME, dns.asked)  # /etc/hosts answered it
            self.relay_tcp(pair.local_port, TARGET_NAME)
            self.assertIn(TARGET_NAME, dns.asked)  # resolv.conf's name server answered it
        finally:
            pair.close()
            dns.stop()

    def test_runs_as_the_user_of_a_given_name(self):
        user = self.user_with_groups()
        pair = Pair(self.root, self.bin_in_root, "aes-256-gcm", {"user": user["name"]})
        try:
            pair.server.wait_for(r"listening on")
            status = self.status_of(pair.server.p.pid, user["uid"])
            self.assertIn(f"Uid:\t{user['uid']}\t{user['uid']}", status)
            groups = status.split("Groups:")[1].split("\n")[0].split()
            self.assertEqual(sorted(int(g) for g in groups), sorted(user["groups"]))
            self.relay_tcp(pair.local_port, "127.0.0.1")
        finally:
            pair.close()

    def status_of(self, pid, uid):
        """/proc/PID/status once the process runs as `uid` (it switches after binding)."""
        deadline = time.monotonic() + 10
        while True:
            with open(f"/proc/{pid}/status") as f:
                text = f.read()
            if f"Uid:\t{uid}\t" in text or time.monotonic() > deadline:
                return text
            time.sleep(0.05)


class EmptyRoot(RelayChecks, unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        reason = why_not() or NETNS_PROBLEM
        if reason:
            raise unittest.SkipTest(reason)
        cls.tmp = tempfile.mkdtemp(prefix="ss-empty-root-")
        cls.root = os.path.join(cls.tmp, "root")
        install_executable(cls.root)
        # The CA bundle, for a client that fetches a SIP008 list; nothing else.
        os.makedirs(os.path.join(cls.root, "etc/ssl/certs"))
        shutil.copy(CA_BUNDLE, os.path.join(cls.root, CA_BUNDLE.lstrip("/")))

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def setUp(self):
        # Each test starts from the empty root: no hosts, resolv.conf, passwd or group.
        for name in ("hosts", "resolv.conf", "passwd", "group"):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(os.path.join(self.root, "etc", name))

    def test_the_root_is_empty(self):
        found = []
        for folder, _, files in os.walk(self.root):
            found += [os.path.relpath(os.path.join(folder, f), self.root) for f in files]
        # The configs come and go with the tests; nothing else is there.
        configs = {"etc/shadowsocks/local.json", "etc/shadowsocks/server.json"}
        self.assertEqual(sorted(set(found) - configs),
                         ["etc/ssl/certs/ca-certificates.crt", "shadowsocks-cpp", "ss-local",
                          "ss-server"])

    def test_a_sip008_list_over_https_trusted_through_the_roots_ca_bundle(self):
        # The static OpenSSL's own default paths (Debian's /usr/lib/ssl) are not in this root:
        # the system's bundle at /etc/ssl/certs/ca-certificates.crt is what must be trusted.
        # Here it holds the test's CA alone.
        import test_online_config
        tmp = tempfile.mkdtemp(dir=self.tmp)
        ca = test_online_config.TestCa(tmp)
        bundle = os.path.join(self.root, CA_BUNDLE.lstrip("/"))
        shutil.copy(ca.path, bundle)
        self.addCleanup(shutil.copy, CA_BUNDLE, bundle)
        doc = test_online_config.DocumentServer(ca.leaf("doc.pem", ["127.0.0.1"]))
        self.addCleanup(doc.stop)
        server, server_port = sslib.our_server("aes-256-gcm", PASSWORD)
        doc.serve([{"server": "127.0.0.1", "server_port": server_port, "password": PASSWORD,
                    "method": "aes-256-gcm"}])
        local_port = sslib.free_port()
        write(self.root, "/etc/shadowsocks/local.json", json.dumps(
            {"local_address": "127.0.0.1", "local_port": local_port,
             "online_config": {"config_url": f"https://127.0.0.1:{doc.port}/",
                               "cache_file": "/etc/shadowsocks/sip008.json"}}), 0o600)
        self.addCleanup(os.unlink, os.path.join(self.root, "etc/shadowsocks/sip008.json"))
        env = {k: v for k, v in os.environ.items() if not k.startswith("SSL_CERT_")}
        local = sslib.Proc(["chroot", self.root, "/ss-local", "-v", "-c",
                            "/etc/shadowsocks/local.json"], name="chroot-ss-local", env=env)
        with sslib.running(server, local):
            local.wait_for(r"online_config: 1 server\(s\) from https://127\.0\.0\.1", timeout=20)
            sslib.wait_listening(local_port)
            self.relay_tcp(local_port, "127.0.0.1")
        self.assertGreaterEqual(doc.requests, 1)

    def user_with_groups(self):
        write(self.root, "/etc/passwd", "root:x:0:0::/:/nonexistent\n"
                                        "relay:x:4242:4243::/nonexistent:/nonexistent\n")
        write(self.root, "/etc/group", "root:x:0:\nrelay:x:4243:\nextra:x:4244:someone,relay\n"
                                       "other:x:4245:someone\n")
        return {"name": "relay", "uid": 4242, "groups": [4243, 4244]}


def debian11_root():
    """A Debian 11 (bullseye) minbase root from Debian's archive, made once and kept in CACHE;
    (path, None), or (None, why it cannot be had)."""
    root = os.path.join(CACHE, "debian11-root")
    if os.path.exists(os.path.join(root, ".complete")):
        return root, None
    if not shutil.which("debootstrap"):
        return None, "debootstrap is not installed"
    os.makedirs(CACHE, exist_ok=True)
    partial = tempfile.mkdtemp(prefix="debian11-", dir=CACHE)
    r = subprocess.run(["debootstrap", "--variant=minbase", "bullseye", partial, DEBIAN_MIRROR],
                       capture_output=True, text=True, timeout=1200)
    if r.returncode != 0:
        shutil.rmtree(partial, ignore_errors=True)
        last = (r.stdout + r.stderr).strip().splitlines()[-1:] or ["no output"]
        return None, f"debootstrap bullseye from {DEBIAN_MIRROR} failed: {last[0]}"
    with open(os.path.join(partial, ".complete"), "w"):
        pass
    shutil.rmtree(root, ignore_errors=True)
    os.rename(partial, root)
    return root, None


# Set by setUpModule: the Debian 11 root (made while this process still has the machine's
# network), then the network namespace every test runs in.
DEBIAN11 = (None, "not made")
NETNS_PROBLEM = None


def setUpModule():
    global DEBIAN11, NETNS_PROBLEM
    if why_not():
        return
    root, reason = debian11_root()
    DEBIAN11 = (root, None if root else f"no Debian 11 root: {reason}")
    NETNS_PROBLEM = sslib.enter_new_netns()


class Debian11Root(RelayChecks, unittest.TestCase):
    bin_in_root = "/opt/shadowsocks-cpp"

    @classmethod
    def setUpClass(cls):
        reason = why_not() or NETNS_PROBLEM or DEBIAN11[1]
        if reason:
            raise unittest.SkipTest(reason)
        cls.root = DEBIAN11[0]
        install_executable(cls.root, cls.bin_in_root)

    def test_it_is_debian_11_with_an_older_glibc(self):
        with open(os.path.join(self.root, "etc/debian_version")) as f:
            self.assertTrue(f.read().startswith("11."))
        libc = [n for n in os.listdir(os.path.join(self.root, "usr/lib/x86_64-linux-gnu"))
                if n.startswith("libc-2.")]
        self.assertEqual(libc, ["libc-2.31.so"])

    def user_with_groups(self):
        # Debian 11's own nobody (65534, group nogroup) from its passwd and group files.
        return {"name": "nobody", "uid": 65534, "groups": [65534]}


if __name__ == "__main__":
    unittest.main(verbosity=2)
