#!/usr/bin/env python3
"""shadowsocks-cpp vs shadowsocks-libev, side by side on this machine, in one run.

Runs each benchmark for our pair and libev's pair in turns (ours, libev, ours, ...) with the same
method and password, takes the median of the runs, and prints a table with both and the ratio
(ours / libev). Writes results.json and, when Debian's python3-matplotlib is there, chart.png.

It installs nothing. It needs: our binaries (build/src, from the README's build), Debian's
shadowsocks-libev (ss-server, ss-tunnel, ss-local), iperf3, wrk, nginx (nginx-light),
simple-obfs (obfs-local, obfs-server: the plugin rows) and strace (the system-call rows).
The UDP and scale rows use bench/udp_load and bench/conn_load from the same build.
`scripts/install-deps.sh` installs all of them.

    bench/run.py            full run: 3 runs of 5 s per point (about 13 minutes)
    bench/run.py --quick    one run of 2 s per point, one method (about a minute)
    bench/run.py --smoke    one point of each kind for a second: checks that the suite works
"""

import argparse
import base64
import contextlib
import hashlib
import hmac
import json
import os
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PASSWORD = "bench-password-0123456789"
# The 2017 method each 2022 method is set against: libev has no 2022 edition, so libev runs
# this one, and so does our own pair once more, for the 2022-vs-2017 ratio.
COUNTERPART = {"2022-blake3-aes-128-gcm": "aes-128-gcm",
               "2022-blake3-aes-256-gcm": "aes-256-gcm",
               "2022-blake3-chacha20-poly1305": "chacha20-ietf-poly1305"}


def password_for(method):
    """A 2022 method takes a base64 key of its size (SIP022 2.1), the others the password."""
    if method.startswith("2022-"):
        size = 16 if "aes-128" in method else 32
        return base64.b64encode(bytes(range(size))).decode()
    return PASSWORD
TICKS = os.sysconf("SC_CLK_TCK")
GIB = 1 << 30


def free_port(kind=socket.SOCK_STREAM):
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_tcp(port, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        time.sleep(0.02)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port}")


def listening_inodes():
    """Socket inodes of every TCP socket on this machine in the LISTEN state, by port."""
    found = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError), open(table) as f:
            for row in f.readlines()[1:]:
                fields = row.split()
                if fields[3] == "0A":  # TCP_LISTEN
                    found[int(fields[9])] = int(fields[1].rsplit(":", 1)[1], 16)
    return found


def process_tree(pid):
    """`pid` and its descendants (a plugin is a child of the Shadowsocks process)."""
    tree, todo = [], [pid]
    while todo:
        p = todo.pop()
        tree.append(p)
        with contextlib.suppress(OSError):
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as f:
                    todo += [int(c) for c in f.read().split()]
    return tree


def socket_inodes(pid):
    inodes = set()
    with contextlib.suppress(OSError):
        for fd in os.listdir(f"/proc/{pid}/fd"):
            with contextlib.suppress(OSError):
                link = os.readlink(f"/proc/{pid}/fd/{fd}")
                if link.startswith("socket:["):
                    inodes.add(int(link[8:-1]))
    return inodes


def wait_listening(pid, port, timeout=10):
    """Until `port` is in the LISTEN state and every process of `pid`'s tree (its plugin too)
    listens on something. Never connects: a probe connection to a tunnel would be a real
    connection to its target (iperf3 takes a probe for a client that went away)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        listening = listening_inodes()
        if port in listening.values() and all(
                socket_inodes(p) & listening.keys() for p in process_tree(pid)):
            return
        time.sleep(0.02)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port}")


def cpu_split(pids):
    """User and system CPU seconds of `pids` (all their threads) so far."""
    user = system = 0
    for pid in pids:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        user, system = user + int(fields[11]), system + int(fields[12])  # utime, stime
    return user / TICKS, system / TICKS


def cpu_seconds(pids):
    return sum(cpu_split(pids))


def descendants(pid):
    """`pid` and its children's pids, recursively (nginx's master and worker)."""
    out = [pid]
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{task}/children") as f:
                for child in f.read().split():
                    out += descendants(int(child))
        except FileNotFoundError:
            pass
    return out


def rss_kib(pids):
    total = 0
    for pid in pids:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
    return total


class Procs:
    """Processes started for one measurement; stopped by PID."""

    def __init__(self):
        self.procs = []

    def start(self, args, **kw):
        p = subprocess.Popen([str(a) for a in args], stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL, **kw)
        self.procs.append(p)
        return p

    def stop(self):
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in self.procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        self.procs = []

    close = stop  # for contextlib.closing


class Impl:
    """How to start one implementation's server, tunnel and local. `as_2017`: run the 2017
    counterpart of a 2022 method instead (libev, and our own 2017 reference pair)."""

    def __init__(self, name, server, tunnel, local, server_extra=(), as_2017=False,
                 http_proxy=False):
        self.name, self.server, self.tunnel, self.local = name, server, tunnel, local
        self.server_extra = list(server_extra)
        self.as_2017 = as_2017
        self.http_proxy = http_proxy  # ss-local serves HTTP proxy requests too
        self.common = []  # given to the server, the tunnel and the local (--fast-open)

    def args(self, method):
        m = COUNTERPART.get(method, method) if self.as_2017 else method
        return ["-k", password_for(m), "-m", m] + self.common

    def start_server(self, procs, method, udp=False, extra=()):
        port = free_port()
        args = [self.server, "-s", "127.0.0.1", "-p", port] + self.args(method) + list(extra)
        p = procs.start(args + self.server_extra + (["-u"] if udp else []))
        wait_listening(p.pid, port)
        return p, port

    def start_tunnel(self, procs, method, server_port, dest_port, udp=False, extra=()):
        port = free_port()
        args = [self.tunnel, "-s", "127.0.0.1", "-p", server_port, "-l", port,
                "-L", f"127.0.0.1:{dest_port}"] + self.args(method) + list(extra)
        p = procs.start(args + (["-u"] if udp else []))
        wait_listening(p.pid, port)
        return p, port

    def start_local(self, procs, method, server_port):
        port = free_port()
        p = procs.start([self.local, "-s", "127.0.0.1", "-p", server_port, "-l", port] +
                        self.args(method))
        wait_listening(p.pid, port)
        return p, port


def implementations(bin_dir):
    ours = Impl("shadowsocks-cpp", os.path.join(bin_dir, "ss-server"),
                os.path.join(bin_dir, "ss-tunnel"), os.path.join(bin_dir, "ss-local"),
                # Every target here is on loopback, which our outbound guard refuses by default.
                server_extra=["--outbound-allow-private"], http_proxy=True)
    libev = Impl("shadowsocks-libev", "ss-server", "ss-tunnel", "ss-local", as_2017=True)
    ours_2017 = Impl("shadowsocks-cpp 2017", ours.server, ours.tunnel, ours.local,
                     server_extra=ours.server_extra, as_2017=True)
    return [ours, libev, ours_2017]


# --- benchmarks ----------------------------------------------------------------------------

# simple-obfs (HTTP) on both sides: the same plugin processes for both pairs.
OBFS_SERVER = ["--plugin", "obfs-server", "--plugin-opts", "obfs=http"]
OBFS_CLIENT = ["--plugin", "obfs-local", "--plugin-opts", "obfs=http;obfs-host=www.example.com"]


def throughput(impl, method, streams, reverse, seconds, attempts=5, plugin=False):
    """iperf3 through ss-tunnel -> ss-server: Gbit/s and CPU-seconds per GiB of the pair.
    iperf3 now and then fails to start a test ("unable to ..."); such a run is repeated."""
    for attempt in range(attempts):
        result = throughput_once(impl, method, streams, reverse, seconds, plugin)
        if "error" not in result:
            return result
        print(f"    iperf3 through {impl.name} failed ({result['error']}), again",
              file=sys.stderr, flush=True)
        time.sleep(1)
    raise RuntimeError(f"iperf3 failed {attempts} times: {result['error']}")


def throughput_once(impl, method, streams, reverse, seconds, plugin=False):
    """With `plugin`, through simple-obfs on both sides; the CPU is then still that of the
    Shadowsocks pair alone (the plugins are the same programs for both pairs)."""
    procs = Procs()
    try:
        iperf_port = free_port()
        procs.start(["iperf3", "-s", "-p", iperf_port])
        wait_tcp(iperf_port)
        server, server_port = impl.start_server(procs, method,
                                                extra=OBFS_SERVER if plugin else ())
        tunnel, tunnel_port = impl.start_tunnel(procs, method, server_port, iperf_port,
                                                extra=OBFS_CLIENT if plugin else ())
        pids = [server.pid, tunnel.pid]
        before = cpu_seconds(pids)
        args = ["iperf3", "-c", "127.0.0.1", "-p", tunnel_port, "-t", seconds, "-P", streams,
                "-J"] + (["-R"] if reverse else [])
        out = subprocess.run([str(a) for a in args], capture_output=True, text=True)
        spent = cpu_seconds(pids) - before
        report = json.loads(out.stdout)
        if "error" in report or "sum_received" not in report.get("end", {}):
            return {"error": report.get("error", "no result")}
        end = report["end"]["sum_received"]
        return {"gbit_s": end["bits_per_second"] / 1e9,
                "cpu_s_per_gib": spent / (end["bytes"] / GIB)}
    finally:
        procs.stop()


def start_nginx(procs, tmp):
    """nginx serving a 1 KiB file (/1k.bin) from `tmp`; returns its port once it listens."""
    port = free_port()
    procs.start(["nginx", "-c", nginx_conf(tmp, port), "-p", tmp, "-g", "daemon off;"])
    wait_tcp(port)
    return port


def nginx_conf(tmp, port):
    with open(os.path.join(tmp, "1k.bin"), "wb") as f:
        f.write(os.urandom(1024))
    conf = os.path.join(tmp, "nginx.conf")
    with open(conf, "w") as f:
        f.write(f"""
worker_processes 1;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  keepalive_requests 1000000;
  client_body_temp_path {tmp}; proxy_temp_path {tmp}; fastcgi_temp_path {tmp};
  uwsgi_temp_path {tmp}; scgi_temp_path {tmp};
  server {{ listen 127.0.0.1:{port}; root {tmp}; }}
}}
""")
    return conf


@contextlib.contextmanager
def pair_to_nginx(impl, method):
    """nginx serving a 1 KiB file, and `impl`'s ss-server and ss-tunnel to it, stopped at the
    end: (server, tunnel, the tunnel's port, a scratch directory with nginx.pid)."""
    procs = Procs()
    with tempfile.TemporaryDirectory() as tmp:
        try:
            nginx_port = start_nginx(procs, tmp)
            server, server_port = impl.start_server(procs, method)
            tunnel, tunnel_port = impl.start_tunnel(procs, method, server_port, nginx_port)
            yield server, tunnel, tunnel_port, tmp
        finally:
            procs.stop()


def http_rate(impl, method, close, seconds):
    """wrk through ss-tunnel -> ss-server to nginx's 1 KiB file: requests/s, p50 and p99 ms,
    CPU per request of the pair (and its kernel part), and of wrk and nginx."""
    with pair_to_nginx(impl, method) as (server, tunnel, tunnel_port, tmp):
        with open(os.path.join(tmp, "nginx.pid")) as f:
            nginx = descendants(int(f.read()))
        args = ["wrk", "-t", "2", "-c", "32", "-d", f"{seconds}s", "--latency",
                f"http://127.0.0.1:{tunnel_port}/1k.bin"]
        if close:
            args[1:1] = ["-H", "Connection: close"]
        pids = [server.pid, tunnel.pid]
        before, nginx_before = cpu_split(pids), cpu_seconds(nginx)
        with subprocess.Popen([str(a) for a in args], stdout=subprocess.PIPE, text=True) as wrk:
            out = wrk.stdout.read()
            _, status, usage = os.wait4(wrk.pid, 0)
            wrk.returncode = os.waitstatus_to_exitcode(status)
        if wrk.returncode != 0:
            raise RuntimeError(f"wrk failed ({wrk.returncode}):\n{out}")
        after = cpu_split(pids)
        rest = cpu_seconds(nginx) - nginx_before + usage.ru_utime + usage.ru_stime
        result = parse_wrk(out)
        n = result.pop("requests")
        # CPU of the pair (tunnel and server) per request, from /proc, under wrk's load; its
        # kernel part; and what wrk and nginx spent per request on the same machine.
        result["cpu_us_per_req"] = (sum(after) - sum(before)) / n * 1e6
        result["sys_us_per_req"] = (after[1] - before[1]) / n * 1e6
        result["rest_us_per_req"] = rest / n * 1e6
        return result


def parse_wrk(text):
    def ms(value):
        units = {"us": 1e-3, "ms": 1.0, "s": 1e3}
        for unit in ("us", "ms", "s"):
            if value.endswith(unit):
                return float(value[:-len(unit)]) * units[unit]
        return float(value)

    result = {}
    for line in text.splitlines():
        parts = line.split()
        if line.startswith("Requests/sec:"):
            result["req_s"] = float(parts[1])
        elif "requests in" in line:
            result["requests"] = int(parts[0])
        elif len(parts) == 2 and parts[0] in ("50%", "99%"):
            result["p" + parts[0][:-1] + "_ms"] = ms(parts[1])
    if "req_s" not in result or not result.get("requests"):
        raise RuntimeError("wrk printed no rate:\n" + text)
    return result


def front_requests(impl, method, front, seconds, threads=4):
    """1 KiB GETs from nginx through ss-local's port -> ss-server, a new connection per request
    (Connection: close), by `threads` client threads: requests/s, and CPU-microseconds of
    ss-local + ss-server per request. `front` is "socks5" (greeting, CONNECT, then the request)
    or "http" (one absolute-form request to the HTTP proxy); libev has no HTTP proxy and always
    gets SOCKS5."""
    if not impl.http_proxy:
        front = "socks5"
    procs = Procs()
    with tempfile.TemporaryDirectory() as tmp:
        try:
            nginx_port = start_nginx(procs, tmp)
            server, server_port = impl.start_server(procs, method)
            local, local_port = impl.start_local(procs, method, server_port)
            pids = [server.pid, local.pid]
            target = b"\x01\x7f\x00\x00\x01" + nginx_port.to_bytes(2, "big")
            origin_form = (b"GET /1k.bin HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                           b"Connection: close\r\n\r\n")
            absolute_form = (f"GET http://127.0.0.1:{nginx_port}/1k.bin HTTP/1.1\r\n"
                             f"Host: 127.0.0.1:{nginx_port}\r\nConnection: close\r\n\r\n"
                             ).encode()

            def one():
                with socket.create_connection(("127.0.0.1", local_port), timeout=10) as s:
                    if front == "socks5":
                        s.sendall(b"\x05\x01\x00")
                        s.recv(2)
                        s.sendall(b"\x05\x01\x00" + target)
                        reply = b""
                        while len(reply) < 10:
                            reply += s.recv(10 - len(reply))
                        s.sendall(origin_form)
                    else:
                        s.sendall(absolute_form)
                    got = 0
                    while True:
                        chunk = s.recv(65536)
                        if not chunk:
                            break
                        got += len(chunk)
                    if got < 1024:
                        raise RuntimeError(f"{front}: a response of only {got} bytes")

            for _ in range(20):
                one()
            count = [0] * threads
            stop_at = time.monotonic() + seconds

            def loop(k):
                while time.monotonic() < stop_at:
                    one()
                    count[k] += 1

            before, started = cpu_seconds(pids), time.monotonic()
            workers = [threading.Thread(target=loop, args=(k,)) for k in range(threads)]
            for w in workers:
                w.start()
            for w in workers:
                w.join()
            elapsed, spent = time.monotonic() - started, cpu_seconds(pids) - before
            n = sum(count)
            return {"req_s": n / elapsed, "cpu_us_per_req": spent / n * 1e6}
        finally:
            procs.stop()


def idle_memory(impl, method, count):
    """Resident memory growth of ss-local + ss-server per idle SOCKS5 connection held open
    through them to a local sink."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, 4 * count + 256)), hard))
    procs = Procs()
    sink = socket.socket()
    sink.bind(("127.0.0.1", 0))
    sink.listen(4096)
    held, clients = [], []
    stop = threading.Event()

    def accept():
        sink.settimeout(0.2)
        while not stop.is_set():
            with contextlib.suppress(socket.timeout, OSError):
                held.append(sink.accept()[0])

    acceptor = threading.Thread(target=accept, daemon=True)
    acceptor.start()
    try:
        server, server_port = impl.start_server(procs, method)
        local, local_port = impl.start_local(procs, method, server_port)
        pids = [server.pid, local.pid]
        # Warm up allocators, and the replay filters' pages (which the kernel provides as salts
        # arrive, a page per salt at most, until all of a generation's are there: about 6,000
        # salts for ss-server's), then measure from there.
        for _ in range(30 if count >= 1000 else 1):
            for s in open_socks(local_port, sink.getsockname()[1], 100 if count >= 1000 else 16):
                s.close()
        time.sleep(0.5)
        base = len(held)
        before = rss_kib(pids)
        clients = open_socks(local_port, sink.getsockname()[1], count)
        deadline = time.monotonic() + 30
        while len(held) < base + count and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(1.0)
        after = rss_kib(pids)
        if len(held) < base + count:
            raise RuntimeError(f"only {len(held) - base} of {count} connections reached the sink")
        return {"kib_per_conn": (after - before) / count}
    finally:
        stop.set()
        for s in clients + held:
            s.close()
        sink.close()
        procs.stop()


def open_socks(port, dest_port, count):
    req = b"\x05\x01\x00\x01\x7f\x00\x00\x01" + dest_port.to_bytes(2, "big")
    out = []
    for _ in range(count):
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(b"\x05\x01\x00")
        s.recv(2)
        s.sendall(req)
        reply = b""
        while len(reply) < 10:
            reply += s.recv(10 - len(reply))
        out.append(s)
    return out


@contextlib.contextmanager
def echo_server(load_program):
    """`load_program echo` (bench/udp_load or bench/conn_load) running: its port. Told to stop
    by closing its standard input."""
    echo = subprocess.Popen([load_program, "echo"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    try:
        yield int(echo.stdout.readline())
    finally:
        echo.stdin.close()
        try:
            echo.wait(timeout=5)
        except subprocess.TimeoutExpired:
            echo.kill()
            echo.wait()


def udp_rate(impl, method, seconds, udp_load, size=512, window=16):
    """512-byte request/response pairs through ss-tunnel -u -> ss-server -u to an echo
    server: answered datagrams per second, with `window` requests in flight. The client and
    the echo server are bench/udp_load.cpp (compiled, batched system calls), so that the
    relays are what is measured."""
    procs = Procs()
    with echo_server(udp_load) as echo_port, contextlib.closing(procs):
        server, server_port = impl.start_server(procs, method, udp=True)
        tunnel, tunnel_port = impl.start_tunnel(procs, method, server_port, echo_port, udp=True)
        pids = [server.pid, tunnel.pid]
        before = cpu_split(pids)
        out = subprocess.run([udp_load, "client", str(tunnel_port), str(seconds), str(size),
                              str(window)], capture_output=True, text=True, check=True,
                             timeout=seconds + 30)
        after = cpu_split(pids)
        result = json.loads(out.stdout)
        answered = result["datagrams_s"] * seconds
        # CPU of the pair per round trip (a request and its answer, each sealed and opened),
        # and its kernel part.
        per_rt = 1e6 / answered if answered else float("inf")
        result["cpu_us_per_rt"] = (sum(after) - sum(before)) * per_rt
        result["sys_us_per_rt"] = (after[1] - before[1]) * per_rt
        return result


def http_get(port, close, count):
    """`count` GETs of nginx's 1 KiB file through 127.0.0.1:`port`, one after the other: each
    on its own connection (`close`), or all on one kept-alive connection."""
    request = ("GET /1k.bin HTTP/1.1\r\nHost: bench\r\nConnection: "
               f"{'close' if close else 'keep-alive'}\r\n\r\n").encode()
    s = None
    for _ in range(count):
        if s is None:
            s = socket.create_connection(("127.0.0.1", port))
        s.sendall(request)
        data = b""
        while True:  # headers, then a Content-Length of 1024
            head, sep, body = data.partition(b"\r\n\r\n")
            if sep and len(body) >= 1024:
                break
            chunk = s.recv(65536)
            if not chunk:
                raise RuntimeError("the tunnel closed before the answer was whole")
            data += chunk
        if close:
            while s.recv(65536):
                pass
            s.close()
            s = None
    if s is not None:
        s.close()


def strace_counts(path):
    """System calls by name from `strace -c -o path` (its summary table)."""
    counts = {}
    with open(path) as f:
        for line in f:
            parts = line.split()
            # % time, seconds, usecs/call, calls, [errors,] syscall
            if len(parts) >= 5 and parts[-1] != "total" and parts[3].isdigit():
                counts[parts[-1]] = int(parts[3])
    return counts


def syscalls(impl, method, close, count):
    """System calls per request of ss-server and of ss-tunnel (`strace -c` attached to each),
    for `count` sequential 1 KiB GETs through them: each on a new connection (`close`) or all
    on one kept-alive connection. Per process and per system call, the means over `count`."""
    with pair_to_nginx(impl, method) as (server, tunnel, tunnel_port, tmp):
        http_get(tunnel_port, close, 20)  # warm up (pools, lazily made things)
        tracers = {}
        for name, p in (("server", server), ("tunnel", tunnel)):
            out = os.path.join(tmp, f"{name}.strace")
            tracers[name] = (subprocess.Popen(["strace", "-c", "-f", "-o", out, "-p",
                                               str(p.pid)], stderr=subprocess.DEVNULL), out)
        time.sleep(1.0)  # strace attaches to every thread
        http_get(tunnel_port, close, count)
        time.sleep(0.3)
        result = {}
        for name, (tracer, out) in tracers.items():
            tracer.send_signal(signal.SIGINT)
            tracer.wait(10)
            counts = strace_counts(out)
            result[f"syscalls_{name}"] = sum(counts.values()) / count
            result[f"calls_{name}"] = {k: v / count for k, v in counts.items()}
        return result


def startup_memory(impl, method):
    """Resident memory of ss-server and ss-local a second after they start (nothing
    connected): all of it, and the anonymous (private, not file-backed) part."""
    procs = Procs()
    try:
        server, server_port = impl.start_server(procs, method)
        local, _ = impl.start_local(procs, method, server_port)
        time.sleep(1.0)
        result = {}
        for name, p in (("server", server), ("local", local)):
            with open(f"/proc/{p.pid}/status") as f:
                status = dict(line.split(":", 1) for line in f if ":" in line)
            result[f"rss_{name}_kib"] = int(status["VmRSS"].split()[0])
            result[f"anon_{name}_kib"] = int(status["RssAnon"].split()[0])
        return result
    finally:
        procs.stop()


def scale(impl, method, conn_load, count, seconds, size=64):
    """`count` connections held through ss-tunnel -> ss-server to an echo server, each sending
    `size` bytes once a second for `seconds` (bench/conn_load.cpp): the time to open them all
    and make one round trip on each, then the round trips' latency, the errors, and the pair's
    resident memory per connection (its peak during the run less what it held before)."""
    procs = Procs()
    with echo_server(conn_load) as echo_port, contextlib.closing(procs):
        server, server_port = impl.start_server(procs, method)
        tunnel, tunnel_port = impl.start_tunnel(procs, method, server_port, echo_port)
        pids = [server.pid, tunnel.pid]
        before = rss_kib(pids)
        client = subprocess.Popen([conn_load, "client", str(tunnel_port), str(count),
                                   str(seconds), str(size)], stdout=subprocess.PIPE, text=True)
        peak = before
        while client.poll() is None:
            peak = max(peak, rss_kib(pids))
            time.sleep(0.2)
        result = json.loads(client.stdout.read())
        if result["connections"] < count:
            result["errors"] = max(result["errors"], count - result["connections"])
        return {"errors": result["errors"], "connect_s": result["connect_s"],
                "p50_ms": result["p50_ms"],
                "p90_ms": result["p90_ms"], "p99_ms": result["p99_ms"],
                "max_ms": result["max_ms"], "kib_per_active_conn": (peak - before) / count}


# --- driver --------------------------------------------------------------------------------

METRICS = [
    # (key, label, unit, higher is better)
    ("gbit_s", "throughput", "Gbit/s", True),
    ("cpu_s_per_gib", "CPU per GiB", "CPU-s/GiB", False),
    ("req_s", "requests", "req/s", True),
    ("p50_ms", "latency p50", "ms", False),
    ("p90_ms", "latency p90", "ms", False),
    ("p99_ms", "latency p99", "ms", False),
    ("max_ms", "latency max", "ms", False),
    ("errors", "errors", "count", False),
    ("connect_s", "open + 1st round trip", "s", False),
    ("kib_per_active_conn", "memory", "KiB/conn", False),
    ("kib_per_conn", "idle memory", "KiB/conn", False),
    ("datagrams_s", "UDP", "datagrams/s", True),
    ("cpu_us_per_rt", "UDP CPU", "CPU-us/round trip", False),
    ("sys_us_per_rt", "UDP CPU, kernel part", "CPU-us/round trip", False),
    ("cpu_us_per_req", "CPU per request", "CPU-us/request", False),
    ("sys_us_per_req", "CPU per request, kernel part", "CPU-us/request", False),
    ("rest_us_per_req", "CPU per request of wrk + nginx", "CPU-us/request", False),
    ("syscalls_server", "ss-server syscalls", "calls/request", False),
    ("syscalls_tunnel", "ss-tunnel syscalls", "calls/request", False),
    ("rss_server_kib", "ss-server at start", "KiB RSS", False),
    ("anon_server_kib", "ss-server at start", "KiB anonymous", False),
    ("rss_local_kib", "ss-local at start", "KiB RSS", False),
    ("anon_local_kib", "ss-local at start", "KiB anonymous", False),
]


def acl_speed(bin_dir, runs):
    """Our ACL on a list of 10,000 networks and 5,000 name rules (bench/acl_bench): load time
    and the time of one decision; and libev's ss-local load time for the same file (its time
    to listen with the list, less its time without)."""
    acl_bench = os.path.join(os.path.dirname(os.path.abspath(bin_dir)), "bench", "acl_bench")
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "big.acl")
        ours = [json.loads(subprocess.run([acl_bench, path, "10000", "5000"], check=True,
                                          capture_output=True, text=True).stdout)
                for _ in range(runs)]

        def libev_listen_ms(with_acl):
            procs = Procs()
            try:
                port = free_port()
                args = ["ss-local", "-s", "127.0.0.1", "-p", free_port(), "-l", port,
                        "-k", PASSWORD, "-m", "aes-256-gcm"] + (["--acl", path] if with_acl else [])
                started = time.monotonic()
                procs.start(args)
                wait_tcp(port)
                return (time.monotonic() - started) * 1000
            finally:
                procs.stop()

        libev = [libev_listen_ms(True) - libev_listen_ms(False) for _ in range(runs)]
    return {"load_ms": statistics.median(o["load_ms"] for o in ours),
            "ip_ns": statistics.median(o["ip_ns"] for o in ours),
            "name_ns": statistics.median(o["name_ns"] for o in ours),
            "libev_load_ms": statistics.median(libev)}


KEYS_METHOD = "chacha20-ietf-poly1305"  # outline-ss-server's method


def evp_bytes_to_key(password, size):
    """The 2017 methods' key from a password (OpenSSL's EVP_BytesToKey with MD5)."""
    out, last = b"", b""
    while len(out) < size:
        last = hashlib.md5(last + password.encode()).digest()
        out += last
    return out[:size]


def aead_request(password, target_port, payload):
    """The first bytes of a chacha20-ietf-poly1305 stream (SIP004): salt, the sealed length and
    the sealed IPv4 target 127.0.0.1:`target_port` with `payload`. python3-cryptography."""
    from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
    salt = os.urandom(32)
    prk = hmac.new(salt, evp_bytes_to_key(password, 32), "sha1").digest()
    okm, block = b"", b""
    while len(okm) < 32:  # HKDF-Expand, info "ss-subkey"
        block = hmac.new(prk, block + b"ss-subkey" + bytes([len(okm) // 20 + 1]), "sha1").digest()
        okm += block
    aead = ChaCha20Poly1305(okm[:32])
    body = bytes([1, 127, 0, 0, 1]) + target_port.to_bytes(2, "big") + payload
    return (salt + aead.encrypt((0).to_bytes(12, "little"), len(body).to_bytes(2, "big"), None)
            + aead.encrypt((1).to_bytes(12, "little"), body, None))


def first_byte_ms(server_port, password, target_port):
    """A new connection to ss-server with a GET for nginx: the time until the first byte of
    the answer, in ms (the client's own sealing is done before the clock starts)."""
    request = aead_request(password, target_port, b"GET /1k.bin HTTP/1.0\r\n\r\n")
    started = time.perf_counter()
    with socket.create_connection(("127.0.0.1", server_port), timeout=10) as s:
        s.sendall(request)
        if not s.recv(1):
            raise RuntimeError("no answer from ss-server")
    return (time.perf_counter() - started) * 1000


def many_keys(bin_dir, count, samples):
    """Our ss-server with `count` keys of one port (servers entries sharing it): the time to
    the first answer byte of a new connection with the key its address used last (warm), and
    with the key found longest ago (cold: every key is tried). Medians of `samples`."""
    procs = Procs()
    with tempfile.TemporaryDirectory() as tmp:
        try:
            nginx_port = start_nginx(procs, tmp)
            port = free_port()
            cfg = os.path.join(tmp, "server.json")
            with open(cfg, "w") as f:
                json.dump({"server": "127.0.0.1", "outbound_allow_private": True, "servers": [
                    {"server_port": port, "method": KEYS_METHOD, "name": f"user{i}",
                     "password": f"password of user {i}"} for i in range(count)]}, f)
            server = procs.start([os.path.join(bin_dir, "ss-server"), "-c", cfg])
            wait_listening(server.pid, port)
            first_byte_ms(port, "password of user 0", nginx_port)  # the server's first one
            # The last keys one after the other: each is then the one found longest ago.
            cold = [first_byte_ms(port, f"password of user {count - 1 - i}", nginx_port)
                    for i in range(min(samples, count))]
            last = f"password of user {count - min(samples, count)}"
            warm = [first_byte_ms(port, last, nginx_port) for _ in range(samples)]
            return {"keys": count, "warm_ms": statistics.median(warm),
                    "cold_ms": statistics.median(cold)}
        finally:
            procs.stop()


def keys_speed(bin_dir, runs, smoke):
    """Many keys on one port: the key search alone (bench/key_ring_bench) and end to end."""
    bench = os.path.join(os.path.dirname(os.path.abspath(bin_dir)), "bench", "key_ring_bench")
    out = {"search": [], "end_to_end": []}
    for count in ((100,) if smoke else (100, 1000)):
        samples = [json.loads(subprocess.run([bench, str(count), KEYS_METHOD], check=True,
                                             capture_output=True, text=True).stdout)
                   for _ in range(runs)]
        out["search"].append({k: (statistics.median(s[k] for s in samples)
                                  if isinstance(samples[0][k], (int, float)) else samples[0][k])
                              for k in samples[0]})
    for count in ((1, 100) if smoke else (1, 100, 1000)):
        rows = [many_keys(bin_dir, count, 5 if smoke else 30) for _ in range(runs)]
        out["end_to_end"].append({k: statistics.median(r[k] for r in rows) for k in rows[0]})
    return out


def medians_interleaved(runs, runners, fn):
    """`fn(impl)` `runs` times for each implementation, taking turns (ours, libev, ours, ...)
    so that a noisy stretch of the machine hits all of them alike; per implementation, the
    median of each number (anything else, such as a breakdown: the last run's)."""
    samples = {i.name: [] for i in runners}
    for _ in range(runs):
        for i in runners:
            samples[i.name].append(fn(i))
    return {name: {k: statistics.median(s[k] for s in got)
                   if isinstance(got[0][k], (int, float)) else got[-1][k] for k in got[0]}
            for name, got in samples.items()}


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="one run of 2 s per point")
    ap.add_argument("--smoke", action="store_true", help="about a second per point")
    ap.add_argument("--runs", type=int, help="runs per point (median taken; default 3)")
    ap.add_argument("--seconds", type=int, help="seconds per run (default 5)")
    ap.add_argument("--methods", nargs="+", help="default: aes-128-gcm aes-256-gcm "
                    "chacha20-ietf-poly1305 2022-blake3-aes-256-gcm (--quick: aes-256-gcm "
                    "2022-blake3-aes-256-gcm); a 2022 method runs against libev's and our own "
                    "2017 counterpart")
    ap.add_argument("--bin-dir", default=os.path.join(ROOT, "build", "src"))
    ap.add_argument("--udp-load", help="the UDP load generator (default: bench/udp_load of "
                    "the build that --bin-dir belongs to)")
    ap.add_argument("--out", default=os.path.join(ROOT, "bench", "results"))
    ap.add_argument("--fast-open", action="store_true",
                    help="both implementations with --fast-open (TCP Fast Open between tunnel "
                    "or local and server); needs net.ipv4.tcp_fastopen=3, best in a network "
                    "namespace of its own: unshare -n sh -c 'ip link set lo up && sysctl -qw "
                    "net.ipv4.tcp_fastopen=3 && bench/run.py --fast-open ...'")
    ap.add_argument("--only", nargs="+",
                    choices=["throughput", "plugin", "http", "front", "memory", "udp", "acl",
                             "keys", "syscalls", "startup", "scale"],
                    default=["throughput", "plugin", "http", "front", "memory", "udp", "acl",
                             "keys", "syscalls", "startup", "scale"])
    args = ap.parse_args()
    runs = args.runs or (1 if args.quick or args.smoke else 3)
    seconds = args.seconds or (1 if args.smoke else 2 if args.quick else 5)
    if args.methods is None:
        args.methods = (["chacha20-ietf-poly1305", "2022-blake3-aes-256-gcm"] if args.smoke else
                        ["aes-256-gcm", "2022-blake3-aes-256-gcm"] if args.quick else
                        ["aes-128-gcm", "aes-256-gcm", "chacha20-ietf-poly1305",
                         "2022-blake3-aes-256-gcm"])
    plain_methods = [m for m in args.methods if m not in COUNTERPART] or ["aes-256-gcm"]
    methods_2022 = [m for m in args.methods if m in COUNTERPART]
    connections = 100 if args.smoke else 1000 if args.quick else 4000

    missing = [t for t in ("iperf3", "wrk", "nginx", "ss-server", "ss-tunnel", "ss-local",
                           "obfs-server", "obfs-local", "strace")
               if shutil.which(t) is None and not os.path.exists(f"/usr/sbin/{t}")]
    missing += [p for p in ("ss-server", "ss-tunnel", "ss-local")
                if not os.access(os.path.join(args.bin_dir, p), os.X_OK)]
    udp_load = args.udp_load or os.path.join(os.path.dirname(os.path.abspath(args.bin_dir)),
                                             "bench", "udp_load")
    if "udp" in args.only and not os.access(udp_load, os.X_OK):
        missing.append(udp_load)
    conn_load = os.path.join(os.path.dirname(udp_load), "conn_load")
    if "scale" in args.only and not os.access(conn_load, os.X_OK):
        missing.append(conn_load)
    if missing:
        print("bench: missing " + ", ".join(missing) + ". Build with `cmake -S . -B build && "
              "cmake --build build -j2`; scripts/install-deps.sh installs iperf3, wrk, "
              "nginx-light and shadowsocks-libev.", file=sys.stderr)
        return 2
    os.environ["PATH"] += ":/usr/sbin"

    impls = implementations(args.bin_dir)
    if args.fast_open:
        with open("/proc/sys/net/ipv4/tcp_fastopen") as f:
            if int(f.read()) & 3 != 3:
                print("bench: --fast-open needs net.ipv4.tcp_fastopen=3 (client and server); "
                      "see --help", file=sys.stderr)
                return 2
        for impl in impls:
            impl.common = ["--fast-open"]
    rows = []  # (benchmark, {impl: {metric: value}})

    def measure(name, method, fn):
        # Our 2017 pair runs too when the method is a 2022 one (the 2022-vs-2017 ratio).
        runners = impls if method in COUNTERPART else impls[:2]
        if method in COUNTERPART:
            name += f" (2017: {COUNTERPART[method]})"
        print(f"  {name} ...", file=sys.stderr, flush=True)
        rows.append((name, medians_interleaved(runs, runners, fn)))

    started = time.monotonic()
    if "throughput" in args.only:
        for method in args.methods:
            for streams in ((1,) if args.smoke else (1, 4)):
                for reverse in ((False,) if args.smoke else (False, True)):
                    label = f"iperf3 {method} {streams} stream{'s' * (streams > 1)} " \
                            f"{'download' if reverse else 'upload'}"
                    measure(label, method, lambda i, m=method, s=streams, r=reverse:
                            throughput(i, m, s, r, seconds))
    method = plain_methods[-1]
    if "plugin" in args.only:
        for reverse in ((False,) if args.smoke else (False, True)):
            measure(f"iperf3 {method} through simple-obfs http, 1 stream "
                    f"{'download' if reverse else 'upload'}", method,
                    lambda i, r=reverse: throughput(i, method, 1, r, seconds, plugin=True))
    if "http" in args.only:
        measure(f"wrk {method} Connection: close", method,
                lambda i: http_rate(i, method, True, seconds))
        if not args.smoke:
            measure(f"wrk {method} keep-alive", method,
                    lambda i: http_rate(i, method, False, seconds))
    if "front" in args.only:
        # ss-local's port: SOCKS5, and the HTTP proxy (libev, which has none: SOCKS5 again).
        measure(f"1 KiB GET per connection through SOCKS5 {method}", method,
                lambda i: front_requests(i, method, "socks5", seconds))
        measure(f"1 KiB GET per connection through the HTTP proxy {method} (libev: SOCKS5)",
                method, lambda i: front_requests(i, method, "http", seconds))
    if "memory" in args.only:
        measure(f"{connections} idle SOCKS5 connections {method}", method,
                lambda i: idle_memory(i, method, connections))
    if "syscalls" in args.only:
        measure(f"strace, {method}, a new connection per request", method,
                lambda i: syscalls(i, method, True, 30 if args.smoke else 300))
        measure(f"strace, {method}, requests on one kept-alive connection", method,
                lambda i: syscalls(i, method, False, 100 if args.smoke else 2000))
    if "scale" in args.only:
        for count in ((100,) if args.smoke else (1000, 8000)):
            measure(f"{count} connections, 64 bytes each per second, {method}", method,
                    lambda i, n=count: scale(i, method, conn_load, n,
                                             2 if args.smoke else max(seconds, 5)))
    if "startup" in args.only:
        measure(f"memory at start, {method}", method, lambda i: startup_memory(i, method))
    if "udp" in args.only:
        for m in [method] + methods_2022:
            measure(f"UDP 512-byte echo {m}", m, lambda i, m=m: udp_rate(i, m, seconds, udp_load))

    acl_row = None
    if "acl" in args.only:
        print("  ACL of 10000 networks and 5000 name rules ...", file=sys.stderr, flush=True)
        acl_row = acl_speed(args.bin_dir, runs)

    keys_row = None
    if "keys" in args.only:
        print("  many keys on one port ...", file=sys.stderr, flush=True)
        keys_row = keys_speed(args.bin_dir, runs, args.smoke)

    ours, libev, ours_2017 = (i.name for i in impls)
    table = []
    for name, by_impl in rows:
        for key, label, unit, higher in METRICS:
            if key in by_impl[ours]:
                a, b = by_impl[ours][key], by_impl[libev][key]
                ratio = a / b if b else 1.0 if a == 0 else float("inf")
                row = {"benchmark": name, "metric": label, "unit": unit, "ours": a, "libev": b,
                       "ratio": ratio, "higher_is_better": higher}
                if ours_2017 in by_impl:
                    c = by_impl[ours_2017][key]
                    row.update(ours_2017=c, ratio_2017=a / c if c else float("inf"))
                table.append(row)
    print(f"\nshadowsocks-cpp vs shadowsocks-libev, median of {runs} run(s) of {seconds} s, "
          f"{os.cpu_count()} cores, {time.monotonic() - started:.0f} s in all\n"
          "(a 2022 row: libev, and \"ours 2017\", run the 2017 method named in brackets)\n")
    w = max((len(r["benchmark"]) for r in table), default=10) + 2
    print(f"{'benchmark':<{w}}{'metric':<24}{'ours':>12}{'libev':>12}{'ours/libev':>12}"
          f"{'ours 2017':>12}{'2022/2017':>11}")
    for r in table:
        extra = (f"{r['ours_2017']:>12.3f}{r['ratio_2017']:>10.2f}x" if "ours_2017" in r else "")
        print(f"{r['benchmark']:<{w}}{r['metric'] + ' (' + r['unit'] + ')':<24}"
              f"{r['ours']:>12.3f}{r['libev']:>12.3f}{r['ratio']:>11.2f}x{extra}")
    if acl_row:
        print(f"ACL, 10000 networks + 5000 name rules: load {acl_row['load_ms']:.1f} ms "
              f"(libev's ss-local: {acl_row['libev_load_ms']:.1f} ms more to start with it), "
              f"decision {acl_row['ip_ns']:.0f} ns for an address, "
              f"{acl_row['name_ns']:.0f} ns for a name")
    if keys_row:
        for k in keys_row["search"]:
            print(f"{k['keys']} keys ({k['method']}), key search: TCP last-used "
                  f"{k['tcp_warm_us']:.1f} us, cold {k['tcp_cold_us']:.0f} us, unknown "
                  f"{k['tcp_unknown_us']:.0f} us; UDP 1200 B last-used {k['udp_warm_us']:.1f} us, "
                  f"cold {k['udp_cold_us']:.0f} us ({k['per_key_ns']:.0f} ns per key)")
        base = keys_row["end_to_end"][0]
        for k in keys_row["end_to_end"]:
            print(f"{k['keys']} key(s), new connection to first answer byte: last-used "
                  f"{k['warm_ms']:.3f} ms ({k['warm_ms'] / base['warm_ms']:.2f}x 1 key), cold "
                  f"{k['cold_ms']:.3f} ms ({k['cold_ms'] / base['cold_ms']:.2f}x 1 key)")
    breakdown = {}
    for name, by_impl in rows:
        if not name.startswith("strace"):
            continue
        for proc in ("server", "tunnel"):
            a, b = by_impl[ours][f"calls_{proc}"], by_impl[libev][f"calls_{proc}"]
            breakdown[f"{name}, ss-{proc}"] = {"ours": a, "libev": b}
            calls = sorted(set(a) | set(b), key=lambda c: -max(a.get(c, 0), b.get(c, 0)))
            print(f"{name}, ss-{proc}, calls per request (ours / libev): " +
                  ", ".join(f"{c} {a.get(c, 0):.1f}/{b.get(c, 0):.1f}" for c in calls
                            if max(a.get(c, 0), b.get(c, 0)) >= 0.05))
    fronts = {r["metric"]: r["ours"] for r in table if "through SOCKS5" in r["benchmark"]}
    for r in table:
        if "through the HTTP proxy" in r["benchmark"] and r["metric"] in fronts:
            base = fronts[r["metric"]]
            print(f"HTTP proxy / SOCKS5, ours, {r['metric']}: {r['ours'] / base:.3f}x"
                  if base else "")
    os.makedirs(args.out, exist_ok=True)
    result_file = os.path.join(args.out, "results.json")
    with open(result_file, "w") as f:
        json.dump({"runs": runs, "seconds": seconds, "cores": os.cpu_count(), "rows": table,
                   "acl": acl_row, "keys": keys_row, "syscalls": breakdown}, f, indent=1)
    chart = os.path.join(args.out, "chart.png")
    plot = subprocess.run(["/usr/bin/python3", os.path.join(ROOT, "bench", "chart.py"),
                           result_file, chart], capture_output=True, text=True)
    print(f"\nresults: {result_file}")
    print(f"chart:   {chart}" if plot.returncode == 0 else
          f"chart:   skipped ({plot.stderr.strip().splitlines()[-1] if plot.stderr else '?'};"
          " Debian's python3-matplotlib draws it)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
