#!/usr/bin/env python3
"""What a server shows before any byte is decrypted: the SYN-ACK its listening socket answers
with (window, TCP options) and the shape of its first flight to a genuine client (the sizes of
its first data segments and how long after the client's request they come). Ours, Debian's
shadowsocks-libev and an nginx, side by side on this machine's loopback, captured with a packet
socket (root needed).

    bench/server_tells.py                 three runs each, the table
    bench/server_tells.py --runs 1

Each Shadowsocks server is reached through its own ss-local, asking the nginx for a 1 KiB
page; nginx is asked the same page by a plain HTTP client. It needs our build (build/src, or
--bin-dir), shadowsocks-libev and nginx (nginx-light)."""

import argparse
import os
import shutil
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
import sslib  # noqa: E402

PASSWORD = "server-tells-password-01234"
METHOD = "chacha20-ietf-poly1305"
OPTION_NAMES = {2: "MSS", 3: "WS", 4: "SACK", 8: "TS", 30: "MPTCP", 34: "TFO"}
PAGE = b"x" * 1024


class Capture(threading.Thread):
    """Every TCP segment on lo to or from `ports`: (time, src port, dst port, flags, window,
    options, payload length)."""

    def __init__(self, ports):
        super().__init__(daemon=True)
        self.ports = set(ports)
        self.segments = []
        self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0003))
        self.sock.bind(("lo", 0))
        self.sock.settimeout(0.2)
        self.stopped = threading.Event()

    def run(self):
        while not self.stopped.is_set():
            try:
                frame, addr = self.sock.recvfrom(65600)
            except socket.timeout:
                continue
            if addr[2] == socket.PACKET_OUTGOING:  # each loopback packet is seen twice
                continue
            seg = parse(frame[14:])
            if seg and (seg[0] in self.ports or seg[1] in self.ports):
                self.segments.append((time.monotonic(),) + seg)

    def stop(self):
        self.stopped.set()
        self.join(2)
        self.sock.close()


def parse(ip):
    if len(ip) < 20 or ip[0] >> 4 != 4 or ip[9] != 6:
        return None
    ihl = (ip[0] & 15) * 4
    total = struct.unpack("!H", ip[2:4])[0]
    tcp = ip[ihl:total]
    src, dst = struct.unpack("!HH", tcp[:4])
    offset = (tcp[12] >> 4) * 4
    flags = tcp[13]
    window = struct.unpack("!H", tcp[14:16])[0]
    options, i = [], 20
    while i < offset:
        kind = tcp[i]
        if kind == 0:
            break
        if kind == 1:
            i += 1
            continue
        length = tcp[i + 1]
        value = tcp[i + 2:i + length]
        name = OPTION_NAMES.get(kind, str(kind))
        if kind == 2:
            name += "=" + str(struct.unpack("!H", value)[0])
        elif kind == 3:
            name += "=" + str(value[0])
        options.append(name)
        i += length
    return src, dst, flags, window, tuple(options), len(tcp) - offset


def syn_ack(capture, port):
    for t, src, dst, flags, window, options, size in capture.segments:
        if src == port and flags & 0x12 == 0x12:
            return window, options
    return None


def first_flight(capture, port):
    """The server's data segments from its first one until 50 ms pass without one, and the
    seconds between the client's first data segment and the server's."""
    asked = next((t for t, src, dst, flags, w, o, size in capture.segments
                  if dst == port and size), None)
    sizes, first, last = [], None, None
    for t, src, dst, flags, window, options, size in capture.segments:
        if src != port or not size:
            continue
        if last is not None and t - last > 0.05:
            break
        first = first if first is not None else t
        sizes.append(size)
        last = t
    return sizes, (first - asked) if first is not None and asked is not None else None


def start_nginx(tmp, port):
    root = os.path.join(tmp, "www")
    os.makedirs(root, exist_ok=True)
    with open(os.path.join(root, "page"), "wb") as f:
        f.write(PAGE)
    conf = os.path.join(tmp, "nginx.conf")
    with open(conf, "w") as f:
        f.write(f"""daemon off; worker_processes 1; pid {tmp}/nginx.pid;
error_log {tmp}/error.log; events {{ worker_connections 64; }}
http {{ access_log off; server {{ listen 127.0.0.1:{port}; root {root}; }} }}
""")
    p = sslib.Proc(["nginx", "-c", conf, "-p", tmp], name="nginx")
    sslib.wait_listening(port)
    return p


def get_page(port, via_socks=None):
    request = b"GET /page HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    if via_socks:
        s = sslib.socks5_connect(via_socks, "127.0.0.1", port)
    else:
        s = socket.create_connection(("127.0.0.1", port))
    with s:
        s.sendall(request)
        body = sslib.recv_all(s)
    assert body.endswith(PAGE), body[:200]


def measure(kind, web_port, bin_dir):
    """One run of `kind` ("ours", "libev", "nginx"): SYN-ACK and first flight."""
    port = sslib.free_port()
    procs = []
    try:
        if kind == "nginx":
            target = web_port
            capture = Capture([target])
            capture.start()
            get_page(target)
            port = target
        else:
            if kind == "ours":
                procs.append(sslib.Proc([os.path.join(bin_dir, "ss-server"), "-s", "127.0.0.1",
                                         "-p", port, "-m", METHOD, "-k", PASSWORD,
                                         "--outbound-allow-private"]))
            else:
                procs.append(sslib.Proc(["ss-server", "-s", "127.0.0.1", "-p", port, "-m",
                                         METHOD, "-k", PASSWORD], name="libev-ss-server"))
            sslib.wait_listening(port)
            local_port = sslib.free_port()
            local = ([os.path.join(bin_dir, "ss-local")] if kind == "ours" else ["ss-local"])
            procs.append(sslib.Proc(local + ["-s", "127.0.0.1", "-p", port, "-l", local_port,
                                             "-m", METHOD, "-k", PASSWORD],
                                    name=kind + "-ss-local"))
            sslib.wait_listening(local_port)
            capture = Capture([port])
            capture.start()
            get_page(web_port, via_socks=local_port)
        time.sleep(0.2)
        capture.stop()
        return syn_ack(capture, port), first_flight(capture, port)
    finally:
        for p in procs:
            p.cleanup()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bin-dir", default=os.path.join(ROOT, "build", "src"))
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args(argv)
    os.environ["SS_BIN_DIR"] = sslib.BIN_DIR = args.bin_dir
    kinds = ["ours"] + (["libev"] if shutil.which("ss-server") else []) + ["nginx"]
    tmp = tempfile.mkdtemp(prefix="server-tells-")
    os.chmod(tmp, 0o755)  # nginx's worker reads the page as another user
    web_port = sslib.free_port()
    nginx = start_nginx(tmp, web_port)
    results = {}
    try:
        for _ in range(args.runs):
            for kind in kinds:  # interleaved, so that noise falls on all alike
                results.setdefault(kind, []).append(measure(kind, web_port, args.bin_dir))
    finally:
        nginx.cleanup()
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"{'server':7} {'SYN-ACK window':14} {'SYN-ACK options':34} first flight (bytes)"
          "          after the request (median)")
    for kind in kinds:
        runs = results[kind]
        (window, options), (sizes, _) = runs[0]
        delays = [d for _, (_, d) in runs if d is not None]
        shapes = sorted({"+".join(map(str, s)) for _, (s, _) in runs})
        print(f"{kind:7} {window:<14} {' '.join(options):34} {' or '.join(shapes):29} "
              f"{statistics.median(delays) * 1000:.2f} ms")
    return results


if __name__ == "__main__":
    main()
