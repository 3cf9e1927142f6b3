#!/usr/bin/env python3
"""SIP003 plugins (issue 14) with Debian's simple-obfs (obfs-local/obfs-server, http and tls)
and v2ray-plugin (ss-v2ray-plugin, WebSocket): ours <-> ours, ours <-> libev both ways, a killed
plugin restarted, no plugin left behind (also after SIGKILL), UDP past a TCP plugin."""

import json
import os
import re
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

SIZE = 4 << 20
PASSWORD = "plugin-interop-password"
METHOD = "aes-256-gcm"

# (client plugin, client options, server plugin, server options)
OBFS_HTTP = ("obfs-local", "obfs=http;obfs-host=www.example.com", "obfs-server", "obfs=http")
OBFS_TLS = ("obfs-local", "obfs=tls;obfs-host=www.example.com", "obfs-server", "obfs=tls")
V2RAY_WS = ("ss-v2ray-plugin", "", "ss-v2ray-plugin", "server")


def our_server(plugin, opts, *extra):
    """Our ss-server behind `plugin` on a port picked here; up once the plugin listens."""
    port = sslib.free_port()
    p = sslib.Proc([sslib.binary("ss-server"), "-s", "127.0.0.1", "-p", port, "-m", METHOD,
                    "-k", PASSWORD, "--outbound-allow-private", "--plugin", plugin,
                    "--plugin-opts", opts, *extra])
    p.wait_for(r"plugin \S+ \(pid \d+\) listening on port")
    return p, port


def our_local(server_port, plugin, opts, *extra):
    p, port = sslib.our_local(server_port, METHOD, PASSWORD, "--plugin", plugin, "--plugin-opts",
                              opts, *extra)
    return p, port


def libev_server(plugin, opts, *extra):
    port = sslib.free_port()
    p = sslib.libev("ss-server", "-s", "127.0.0.1", "-p", port, "-k", PASSWORD, "-m", METHOD,
                    "--plugin", plugin, "--plugin-opts", opts, *extra, port=port)
    return p, port


def libev_local(server_port, plugin, opts, *extra):
    port = sslib.free_port()
    p = sslib.libev("ss-local", "-s", "127.0.0.1", "-p", server_port, "-l", port, "-k",
                    PASSWORD, "-m", METHOD, "--plugin", plugin, "--plugin-opts", opts, *extra,
                    port=port)
    return p, port


def plugin_pids(proc):
    """The plugin process ids a daemon of ours reported starting."""
    return [int(m) for m in re.findall(r"plugin \S+ (?:\(pid |restarted \(pid )(\d+)\)",
                                       proc.text())]


def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def wait_gone(pid, seconds=10):
    deadline = time.monotonic() + seconds * sslib.SLOW
    while alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


@unittest.skipUnless(shutil.which("obfs-local") and shutil.which("ss-server"),
                     "simple-obfs or shadowsocks-libev missing")
class PluginInterop(sslib.TargetTestCase):
    target_handler = staticmethod(sslib.exchange_handler)

    def transfer(self, socks_port, size=SIZE):
        with sslib.socks5_connect(socks_port, "127.0.0.1", self.target_port, timeout=60) as s:
            sslib.exchange(s, size, size)

    def transfer_soon(self, socks_port, size=SIZE):
        """A transfer that may fail while a plugin is still starting: libev's ss-local opens
        its SOCKS5 port before its plugin listens, and a restarted plugin takes a moment."""
        deadline = time.monotonic() + 10 * sslib.SLOW
        while True:
            try:
                return self.transfer(socks_port, size)
            except (AssertionError, OSError, ConnectionError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def test_ours_to_ours(self):
        plugins = [OBFS_HTTP, OBFS_TLS]
        if shutil.which("ss-v2ray-plugin"):
            plugins.append(V2RAY_WS)
        for cp, copts, sp, sopts in plugins:
            with self.subTest(plugin=cp, opts=copts):
                server, port = our_server(sp, sopts)
                local, local_port = our_local(port, cp, copts)
                with sslib.running(local, server):
                    self.transfer(local_port)

    def test_ours_to_libev_and_libev_to_ours(self):
        plugins = [OBFS_HTTP, OBFS_TLS]
        if shutil.which("ss-v2ray-plugin"):
            plugins.append(V2RAY_WS)
        for cp, copts, sp, sopts in plugins:
            with self.subTest(plugin=cp, direction="ours -> libev"):
                server, port = libev_server(sp, sopts)
                local, local_port = our_local(port, cp, copts)
                with sslib.running(local, server):
                    self.transfer(local_port)
            with self.subTest(plugin=cp, direction="libev -> ours"):
                server, port = our_server(sp, sopts)
                local, local_port = libev_local(port, cp, copts)
                with sslib.running(local, server):
                    self.transfer_soon(local_port)

    @unittest.skipUnless(shutil.which("ss-v2ray-plugin"), "v2ray-plugin missing")
    def test_v2ray_tls_with_a_self_signed_certificate(self):
        with tempfile.TemporaryDirectory() as tmp:
            cert, key = sslib.self_signed(tmp, "proxy.test")
            server_opts = f"server;tls;host=proxy.test;cert={cert};key={key}"
            client_opts = f"tls;host=proxy.test;cert={cert}"
            for name, start_server, start_local in (
                    ("ours -> ours", our_server, our_local),
                    ("ours -> libev", libev_server, our_local),
                    ("libev -> ours", our_server, libev_local)):
                with self.subTest(name):
                    server, port = start_server("ss-v2ray-plugin", server_opts)
                    local, local_port = start_local(port, "ss-v2ray-plugin", client_opts)
                    with sslib.running(local, server):
                        if start_local is libev_local:
                            self.transfer_soon(local_port)
                        else:
                            self.transfer(local_port)

    def test_a_reload_with_new_plugin_options_restarts_the_plugin(self):
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "server.json")
            with open(path, "w") as f:
                json.dump({"plugin_opts": "obfs=http"}, f)
            port = sslib.free_port()
            server = sslib.Proc([sslib.binary("ss-server"), "-c", path, "-s", "127.0.0.1", "-p",
                                 port, "-m", METHOD, "-k", PASSWORD, "--outbound-allow-private",
                                 "--plugin", "obfs-server"])
            server.wait_for(r"plugin obfs-server \(pid \d+\) listening")
            with sslib.running(server):
                local, local_port = our_local(port, *OBFS_HTTP[:2])
                with sslib.running(local):
                    self.transfer(local_port, 1 << 20)
                with open(path, "w") as f:
                    json.dump({"plugin_opts": "obfs=tls"}, f)
                server.p.send_signal(signal.SIGHUP)
                server.wait_for(r"plugin settings changed: restarting obfs-server")
                server.wait_for(r"plugin obfs-server restarted \(pid \d+\)")
                local, local_port = our_local(port, *OBFS_TLS[:2])
                with sslib.running(local):
                    self.transfer_soon(local_port, 1 << 20)

    def test_ready_only_once_the_plugin_listens(self):
        from test_operations import NotifySocket
        n = NotifySocket()
        try:
            port = sslib.free_port()
            server = sslib.Proc([sslib.binary("ss-server"), "-s", "127.0.0.1", "-p", port, "-m",
                                 METHOD, "-k", PASSWORD, "--plugin", "obfs-server",
                                 "--plugin-opts", "obfs=http"], env=n.env())
            with sslib.running(server):
                n.expect("READY=1")
                # At READY the plugin takes connections on the public port already.
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                self.assertIn("plugin obfs-server (pid", server.text())
                # Its own output is in our log under its name.
                server.wait_for(r"\[obfs-server\] .*listening at 127\.0\.0\.1:" + str(port))
        finally:
            n.close()

    def test_a_killed_plugin_is_restarted(self):
        server, port = our_server(*OBFS_HTTP[2:])
        local, local_port = our_local(port, *OBFS_HTTP[:2])
        with sslib.running(local, server):
            self.transfer(local_port, 1 << 20)
            for proc in (local, server):
                (pid,) = plugin_pids(proc)
                os.kill(pid, signal.SIGKILL)
                proc.wait_for(r"plugin obfs-\w+ was killed by signal 9; restarting it in 1 s")
                proc.wait_for(r"plugin obfs-\w+ restarted \(pid \d+\)")
            # Both restarted plugins listen again within a moment.
            self.transfer_soon(local_port, 1 << 20)

    @unittest.skipIf(sslib.PORTABLE, "the portable build cannot have the kernel end a plugin")
    def test_no_plugin_outlives_us_even_after_sigkill(self):
        server, port = our_server(*OBFS_HTTP[2:])
        local, local_port = our_local(port, *OBFS_HTTP[:2])
        with sslib.running(server):
            with sslib.running(local):
                self.transfer(local_port, 1 << 20)
                (local_plugin,) = plugin_pids(local)
                local.p.send_signal(signal.SIGKILL)
                local.p.wait()
                local.ours = False  # its exit status is our doing
            self.assertTrue(wait_gone(local_plugin), "obfs-local outlived a SIGKILLed ss-local")
            (server_plugin,) = plugin_pids(server)
        self.assertTrue(wait_gone(server_plugin), "obfs-server outlived ss-server")

    def test_udp_goes_past_a_tcp_plugin_with_libev_too(self):
        # As libev: UDP to and from the public port, beside the plugin's TCP.
        echo = sslib.UdpServer("127.0.0.1")
        try:
            for name, start_server, start_local in (
                    ("ours -> ours", our_server, our_local),
                    ("ours -> libev", libev_server, our_local),
                    ("libev -> ours", our_server, libev_local)):
                with self.subTest(name):
                    server, port = start_server(*OBFS_HTTP[2:], "-u")
                    local, local_port = start_local(port, *OBFS_HTTP[:2], "-u")
                    with sslib.running(local, server):
                        if start_local is libev_local:
                            self.transfer_soon(local_port, 1 << 20)
                        else:
                            self.transfer(local_port, 1 << 20)
                        control, relay = sslib.socks5_udp_associate(local_port)
                        with control, sslib.udp_client() as c:
                            for _ in range(5):
                                payload = os.urandom(700)
                                got = sslib.udp_roundtrip(c, relay, "127.0.0.1", echo.port,
                                                          payload)[2]
                                self.assertEqual(got, payload)
        finally:
            echo.stop()

    def test_a_missing_or_failing_plugin_is_exit_2_naming_it(self):
        for plugin, says in (("obfs-nonexistent", '"obfs-nonexistent" is not installed'),
                             ("false", "plugin false exited with status 1 at start")):
            r = subprocess.run([sslib.binary("ss-local"), "-s", "127.0.0.1", "-p", "1", "-l",
                                "0", "-m", METHOD, "-k", PASSWORD, "--plugin", plugin],
                               capture_output=True, text=True, timeout=30, check=False)
            self.assertEqual(r.returncode, 2, r.stderr)
            self.assertIn(says, r.stderr)

    def test_url_carries_the_plugin(self):
        port = sslib.free_port()
        r = subprocess.run([sslib.binary("ss-server"), "-s", "127.0.0.1", "-p", str(port),
                            "-m", METHOD, "-k", PASSWORD, "--plugin", "obfs-server",
                            "--plugin-opts", "obfs=http", "--print-url"],
                           capture_output=True, text=True, timeout=10, check=True)
        url = r.stdout.strip()
        self.assertTrue(url.endswith("/?plugin=obfs-local%3Bobfs%3Dhttp"), url)
        server, port = our_server(*OBFS_HTTP[2:])
        url = re.sub(r":\d+/", f":{port}/", url)  # to the server started here
        local = sslib.Proc([sslib.binary("ss-local"), "--server-url", url, "-l", 0])
        with sslib.running(local, server):
            self.transfer(local.listen_port(), 1 << 20)
            local.wait_for(r"plugin obfs-local \(pid")


if __name__ == "__main__":
    unittest.main(verbosity=2)
