#!/usr/bin/env python3
"""Records which functions a daemon runs and writes them, one symbol a line, to
cmake/link-order.txt: the order in which lld lays out the executable (cmake/ss_release.cmake,
docs/performance.md "Memory at start").

The kernel maps an executable's code in windows of up to 64 KiB around each page a process
touches, so what a fresh daemon holds resident is the number of windows its code is spread
over, not the bytes it runs. Linked in the archives' order, the 2,300 functions an ss-server
runs at start lie in 60 windows of a 6 MB text; listed first, in a few.

Usage: scripts/link-order.py [EXECUTABLE] [--out FILE]
  EXECUTABLE  the static build's shadowsocks-cpp (default build-static/src/shadowsocks-cpp):
              its symbols include OpenSSL's, glibc's and libstdc++'s, which a dynamic build's
              do not
  --out FILE  default cmake/link-order.txt

Runs, each under valgrind's callgrind (Debian's valgrind), ss-server and ss-local for
aes-256-gcm and for 2022-blake3-aes-128-gcm on 127.0.0.1: their start, then TCP and UDP
through them to an echo server of this script, then their stop on SIGTERM. The file lists
first the functions of the start, then those that only the relaying added, then those of the
stop, each part sorted by name so that a new recording differs from the old by what changed.
"""

import argparse
import glob
import json
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
METHODS = {"aes-256-gcm": "link-order-recording-password",
           "2022-blake3-aes-128-gcm": "AAECAwQFBgcICQoLDA0ODw=="}
HEADER = """\
# The order in which lld lays out the shadowsocks-cpp executable (cmake/ss_release.cmake): the
# functions that ss-server and ss-local run when they start, then those that relaying TCP and
# UDP adds, then those of their stop. Written by scripts/link-order.py from a recorded run of
# the static x86_64 build; regenerate it with that script after large changes. A name that is
# no longer in the executable is skipped by the linker; a new function missing here only lies
# outside the group (docs/performance.md, "Memory at start").
"""


def free_port(kind=socket.SOCK_STREAM):
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_listening(port, seconds=60.0):
    """Until something accepts on 127.0.0.1:port (valgrind starts a program slowly)."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.2)
    sys.exit(f"link-order: nothing listens on 127.0.0.1:{port} after {seconds:.0f} s")


def echo_servers():
    """A TCP and a UDP echo server on 127.0.0.1, in threads; returns their ports."""
    tcp = socket.create_server(("127.0.0.1", 0))
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", 0))

    def serve_tcp():
        while True:
            conn, _ = tcp.accept()
            with conn:
                while data := conn.recv(65536):
                    conn.sendall(data)

    def serve_udp():
        while True:
            data, peer = udp.recvfrom(65536)
            udp.sendto(data, peer)

    threading.Thread(target=serve_tcp, daemon=True).start()
    threading.Thread(target=serve_udp, daemon=True).start()
    return tcp.getsockname()[1], udp.getsockname()[1]


def recv_exact(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            sys.exit("link-order: the relay ended early")
        data += chunk
    return data


def socks5(port, command, dest_port):
    """A SOCKS5 connection to ss-local with COMMAND (1 connect, 3 UDP associate) to
    127.0.0.1:dest_port answered; returns the socket and the reply's port."""
    s = socket.create_connection(("127.0.0.1", port), timeout=60)
    s.sendall(b"\x05\x01\x00")
    recv_exact(s, 2)
    s.sendall(bytes([5, command, 0, 1]) + socket.inet_aton("127.0.0.1") +
              struct.pack(">H", dest_port))
    reply = recv_exact(s, 10)
    return s, struct.unpack(">H", reply[8:10])[0]


def relay_traffic(local_port, tcp_echo, udp_echo):
    for size in (100, 300_000):
        s, _ = socks5(local_port, 1, tcp_echo)
        with s:
            payload = os.urandom(size)
            s.sendall(payload)
            if recv_exact(s, size) != payload:
                sys.exit("link-order: the TCP echo came back changed")
    control, relay_port = socks5(local_port, 3, 0)
    with control, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
        u.settimeout(60)
        header = b"\x00\x00\x00\x01" + socket.inet_aton("127.0.0.1") + struct.pack(">H", udp_echo)
        for _ in range(3):
            u.sendto(header + b"datagram", ("127.0.0.1", relay_port))
            u.recvfrom(65536)


def record(exe, tmp, method, password, tcp_echo, udp_echo):
    """Runs ss-server and ss-local under callgrind for METHOD; returns the callgrind files'
    prefixes (dumps .1 start, .2 relaying, and the final file: stop)."""
    server_port, local_port = free_port(), free_port()
    # Started as most are, from a JSON file (the JSON reader is code of the start too).
    config = {"server": "127.0.0.1", "server_port": server_port, "method": method,
              "password": password, "mode": "tcp_and_udp", "local_address": "127.0.0.1",
              "local_port": local_port}
    path = os.path.join(tmp, f"{method}.json")
    with open(path, "w") as f:
        json.dump(config, f)
    # The echo servers are on loopback, which ss-server's outbound guard refuses by default.
    runs = {"server": ["-c", path, "--outbound-allow-private"], "local": ["-c", path]}
    procs = {}
    for name, args in runs.items():
        out = os.path.join(tmp, f"{method}-{name}.out")
        procs[name] = (subprocess.Popen(
            ["valgrind", "--tool=callgrind", "--demangle=no", f"--callgrind-out-file={out}",
             exe, name, *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL), out)
    try:
        wait_listening(server_port)
        wait_listening(local_port)
        time.sleep(1.0)  # both have finished starting (the second worker, the timers)
        dump(procs)
        relay_traffic(local_port, tcp_echo, udp_echo)
        dump(procs)
    finally:
        for p, _ in procs.values():
            p.send_signal(signal.SIGTERM)
        for p, _ in procs.values():
            p.wait(120)
    return [out for _, out in procs.values()]


def dump(procs):
    """Has callgrind write what each process ran so far, and waits for the files."""
    for p, out in procs.values():
        before = len(glob.glob(out + ".*"))
        subprocess.run(["callgrind_control", "--dump", str(p.pid)], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        end = time.monotonic() + 60
        while len(glob.glob(out + ".*")) <= before and time.monotonic() < end:
            time.sleep(0.2)


def functions(path):
    """The names of the functions a callgrind file says ran, without callgrind's recursion
    marks ('2) and its names for code without a symbol (0x..., (below main))."""
    names, ran = {}, set()
    for line in open(path, encoding="utf-8", errors="replace"):
        m = re.match(r"^(c?fn)=\((\d+)\)(?: (.*))?$", line.rstrip("\n"))
        if not m:
            continue
        if m.group(3):
            names[m.group(2)] = m.group(3)
        if m.group(1) == "fn":
            ran.add(names.get(m.group(2), ""))
    cleaned = {re.sub(r"'\d+$", "", n) for n in ran}
    return {n for n in cleaned if n and not n.startswith(("0x", "("))}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("executable", nargs="?",
                    default=os.path.join(ROOT, "build-static/src/shadowsocks-cpp"))
    ap.add_argument("--out", default=os.path.join(ROOT, "cmake/link-order.txt"))
    args = ap.parse_args()
    if not os.access(args.executable, os.X_OK):
        sys.exit(f"link-order: {args.executable}: no executable (build it first)")
    tcp_echo, udp_echo = echo_servers()
    parts = [set(), set(), set()]  # start, relaying, stop
    with tempfile.TemporaryDirectory() as tmp:
        for method, password in METHODS.items():
            for out in record(args.executable, tmp, method, password, tcp_echo, udp_echo):
                for i, path in enumerate((out + ".1", out + ".2", out)):
                    parts[i] |= functions(path)
    ordered, seen, counts = [], set(), []
    for part in parts:
        new = sorted(part - seen)
        ordered += new
        counts.append(len(new))
        seen |= part
    with open(args.out, "w") as f:
        f.write(HEADER)
        f.writelines(n + "\n" for n in ordered)
    print(f"link-order: {len(ordered)} functions ({counts[0]} of the start, {counts[1]} more "
          f"relaying, {counts[2]} more stopping) -> {args.out}")


if __name__ == "__main__":
    main()
