#!/usr/bin/env python3
"""The active-probe battery of "How China Detects and Blocks Shadowsocks" (Alice, Bob, Carol,
Beznazwy, Houmansadr, IMC 2020), against our ss-server and shadowsocks-libev's, on this machine.

A genuine first flight is recorded through our ss-local (a recording relay between it and the
server). Then each probe the Great Firewall was seen sending goes to the server, several times:
the identical replay; replays with bytes changed at the study's offsets (byte 0; bytes 0-7 and
62-63; byte 16; bytes 16 and 62); random payloads of every length from 1 to 100 bytes (the
study's clusters, 7-8, 11-12, 15-16, 22-23, 32-34, 40-41 and 48-50, among them) and of 221,
500 and 1000 bytes. Each probe is sent twice: once the prober stays silent (how long until the
server closes, and how), once the prober closes its side right after (how long until the server
follows). A reaction class is: nothing or something received, FIN or RST (or still open when
the prober gives up), and when (at once, or after about N seconds). A server that hides shows
one class for everything; one that reads exactly a salt and a length before failing, or that
resets, shows several, and is identified by them.

Ours is run with every method (the five 2017 AEAD methods, the three 2022 ones), with several
keys on one port (2017) and users on one port (2022), and after a restart that restored the
replay filter from its state file. A genuine client keeps connecting through ss-local while the
battery runs; its failures are counted.

    bench/probe_table.py                 the whole battery, ours and libev's (a few minutes)
    bench/probe_table.py --quick         one method per edition, lengths 1-100 by 7, once
    bench/probe_table.py --servers ours  (or libev)

It needs our build (build/src, or --bin-dir) and, for libev's rows, Debian's shadowsocks-libev.
It prints one table per server and method; the exit code is 0 when every table of ours shows
one class (and the genuine client never failed), else 1."""

import argparse
import json
import os
import selectors
import shutil
import socket
import statistics
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
import sslib  # noqa: E402  (the test harness: processes by PID, SOCKS5, the recording relay)

PASSWORD = "probe-table-password-0123"
METHODS_2017, METHODS_2022 = sslib.METHODS, sslib.METHODS_2022
# The study's byte-changed replays: the offsets changed.
CHANGED = [("replay, byte 0 changed", [0]),
           ("replay, bytes 0-7 and 62-63 changed", list(range(8)) + [62, 63]),
           ("replay, byte 16 changed", [16]),
           ("replay, bytes 16 and 62 changed", [16, 62])]
EXTRA_LENGTHS = [221, 500, 1000]


def changed(flight, offsets):
    out = bytearray(flight)
    for i in offsets:
        out[i] ^= 1 + os.urandom(1)[0] % 255  # never the same byte
    return bytes(out)


class Server:
    """One server under test: how to start it, and the client settings of a genuine user."""

    def __init__(self, label, method, start, client_password, restart=False):
        self.label, self.method, self.start = label, method, start
        self.client_password, self.restart = client_password, restart


def our_servers(methods, timeout, tmp):
    def single(method, password, *extra):
        def start(port):
            return sslib.Proc([sslib.binary("ss-server"), "-s", "127.0.0.1", "-p", port, "-m",
                               method, "-k", password, "-t", timeout, "--outbound-allow-private",
                               *extra])
        return start

    def from_json(doc):
        path = os.path.join(tmp, f"server-{id(doc)}.json")

        def start(port):
            settings = dict(doc, server="127.0.0.1", timeout=timeout)
            if "servers" in doc:  # each entry on the same port
                settings["servers"] = [dict(e, server_port=port) for e in doc["servers"]]
            else:
                settings["server_port"] = port
            with open(path, "w") as f:
                json.dump(settings, f)
            return sslib.Proc([sslib.binary("ss-server"), "-c", path,
                               "--outbound-allow-private"])
        return start

    out = []
    for method in methods:
        password = sslib.key_2022(method) if method.startswith("2022") else PASSWORD
        out.append(Server(f"ours {method}", method, single(method, password), password))
    if any(m in methods for m in METHODS_2017):
        # Several keys on one port: the server finds each connection's key by trying them.
        other = "another-password-of-this-port"
        out.append(Server("ours aes-256-gcm, 3 keys on the port", "aes-256-gcm", from_json(
            {"method": "aes-256-gcm", "servers": [
                {"password": other + "-1", "method": "chacha20-ietf-poly1305"},
                {"password": other + "-2", "method": "aes-128-gcm"},
                {"password": PASSWORD, "method": "aes-256-gcm"}]}), PASSWORD))
        # The replay filter saved at shutdown and restored at start: the replays come after.
        state = os.path.join(tmp, "replay.state")
        out.append(Server("ours aes-256-gcm, replays after a restart", "aes-256-gcm",
                          single("aes-256-gcm", PASSWORD, "--replay-state-file", state),
                          PASSWORD, restart=True))
    if any(m in methods for m in METHODS_2022):
        method = "2022-blake3-aes-256-gcm"
        key = sslib.key_2022(method)
        state = os.path.join(tmp, "replay-2022.state")
        out.append(Server(f"ours {method}, replays after a restart", method,
                          single(method, key, "--replay-state-file", state), key, restart=True))
        server_key, alice = sslib.key_2022(method), sslib.key_2022(method)
        out.append(Server(f"ours {method}, 3 users on the port", method, from_json(
            {"method": method, "password": server_key, "users": [
                {"name": "bob", "password": sslib.key_2022(method)},
                {"name": "carol", "password": sslib.key_2022(method)},
                {"name": "alice", "password": alice}]}), f"{server_key}:{alice}"))
    return out


def libev_servers(methods, timeout):
    def single(method):
        def start(port):
            p = sslib.Proc(["ss-server", "-s", "127.0.0.1", "-p", port, "-m", method, "-k",
                            PASSWORD, "-t", timeout], name="libev-ss-server")
            return p
        return start

    return [Server(f"libev {m}", m, single(m), PASSWORD) for m in methods
            if not m.startswith("2022")]


def start_server(server, port):
    p = server.start(port)
    sslib.wait_listening(port)
    return p


def record_first_flight(server_port, server, echo_port):
    """The client-to-server bytes of one genuine connection through our ss-local (a request
    and its answer), as the censor's tap sees them."""
    tap = sslib.Tap(server_port)
    local, local_port = sslib.our_local(tap.port, server.method, server.client_password)
    try:
        with sslib.running(local):
            with sslib.socks5_connect(local_port, "127.0.0.1", echo_port) as s:
                s.sendall(b"GET / HTTP/1.1\r\nHost: www.example.com\r\n\r\n")
                sslib.recv_exact(s, 38)
    finally:
        tap.stop()
    return bytes(tap.sessions[0][0])


def react(port, payloads, half_close, wait):
    """Sends each payload on its own connection (all at once), closing the prober's side right
    after when `half_close`; returns per payload (bytes received, seconds until the server
    closed, "FIN" / "RST" / "open" when it had not closed after `wait` seconds)."""
    sel = selectors.DefaultSelector()
    results = [None] * len(payloads)
    for i, payload in enumerate(payloads):
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(payload)
        if half_close:
            s.shutdown(socket.SHUT_WR)
        started = time.monotonic()
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ, (i, started, [0]))
    deadline = time.monotonic() + wait
    while sel.get_map() and (left := deadline - time.monotonic()) > 0:
        for key, _ in sel.select(timeout=left):
            s, (i, started, got) = key.fileobj, key.data
            try:
                data = s.recv(65536)
            except BlockingIOError:
                continue
            except ConnectionResetError:
                data, how = None, "RST"
            else:
                how = "FIN"
            if data:
                got[0] += len(data)
                continue
            results[i] = (got[0], time.monotonic() - started, how)
            sel.unregister(s)
            s.close()
    for key in list(sel.get_map().values()):
        i, started, got = key.data
        results[i] = (got[0], wait, "open")
        key.fileobj.close()
    sel.close()
    return results


def reaction_class(received, seconds, how):
    data = "data back" if received else "nothing"
    if how == "open":
        return f"{data}, still open"
    when = "at once" if seconds < 0.3 else f"after {round(seconds)} s"
    return f"{data}, {how} {when}"


class Genuine(threading.Thread):
    """A genuine client: one echo through ss-local every 0.2 s until stopped."""

    def __init__(self, local_port, echo_port):
        super().__init__(daemon=True)
        self.local_port, self.echo_port = local_port, echo_port
        self.ok = self.failed = 0
        self.done = threading.Event()

    def run(self):
        while not self.done.wait(0.2):
            try:
                good = sslib.echoes_through(self.local_port, "127.0.0.1", self.echo_port)
            except (OSError, AssertionError):
                good = False
            if good:
                self.ok += 1
            else:
                self.failed += 1


def battery(server, lengths, repeat, timeout, echo_port):
    """The probes against `server`: (rows, classes, silent close times, genuine client)."""
    port = sslib.free_port()
    proc = start_server(server, port)
    try:
        flight = record_first_flight(port, server, echo_port)
        if server.restart:
            proc.cleanup()  # SIGTERM: the filter goes to its state file
            proc = start_server(server, port)
        local, local_port = sslib.our_local(port, server.method, server.client_password)
        genuine = Genuine(local_port, echo_port)
        genuine.start()
        probes = []
        for _ in range(repeat):
            probes.append(("identical replay", flight))
            for name, offsets in CHANGED:
                probes.append((name, changed(flight, offsets)))
            for n in lengths:
                probes.append((f"random {n} B", os.urandom(n)))
        wait = timeout + 5
        payloads = [p for _, p in probes]
        silent = react(port, payloads, False, wait)
        after_fin = react(port, payloads, True, wait)
        genuine.done.set()
        genuine.join(10)
        local.cleanup()
    finally:
        proc.cleanup()
    cells = {}
    for (name, _), s, f in zip(probes, silent, after_fin):
        cells.setdefault(name, set()).add((reaction_class(*s), reaction_class(*f)))
    rows = group_rows(cells, lengths)
    classes = set().union(*cells.values())
    return rows, classes, [s[1] for s in silent if s[2] != "open"], genuine


def group_rows(cells, lengths):
    """The table's rows: each replay kind, then runs of the tested random lengths that reacted
    alike."""
    rows = [(name, cells[name]) for name in ["identical replay"] + [n for n, _ in CHANGED]]
    run_start = previous = None
    for n in lengths:
        here = cells[f"random {n} B"]
        if run_start is not None and here == cells[f"random {previous} B"]:
            previous = n
            continue
        if run_start is not None:
            rows.append((span(run_start, previous), cells[f"random {run_start} B"]))
        run_start = previous = n
    if run_start is not None:
        rows.append((span(run_start, previous), cells[f"random {run_start} B"]))
    return rows


def span(a, b):
    return f"random {a} B" if a == b else f"random {a}-{b} B"


def print_table(server, rows, classes, closes, genuine, timeout):
    closed = (f"silent probes closed after {min(closes):.2f}-{max(closes):.2f} s (median "
              f"{statistics.median(closes):.2f})" if closes else
              f"no silent probe closed within {timeout + 5} s")
    print(f"\n{server.label} (server timeout {timeout} s): {len(classes)} reaction class"
          f"{'' if len(classes) == 1 else 'es'}; {closed}; "
          f"genuine client {genuine.ok} ok, {genuine.failed} failed")
    width = max(len(name) for name, _ in rows)
    print(f"  {'probe':{width}}  {'prober silent':26}  after the prober's FIN")
    for name, pairs in rows:
        for k, (silent, fin) in enumerate(sorted(pairs)):
            print(f"  {name if k == 0 else '':{width}}  {silent:26}  {fin}")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bin-dir", default=os.path.join(ROOT, "build", "src"))
    ap.add_argument("--servers", choices=["ours", "libev", "both"], default="both")
    ap.add_argument("--quick", action="store_true",
                    help="one method per edition, lengths 1-100 by 7 and the long ones, once")
    ap.add_argument("--repeat", type=int, default=3, help="times each probe is sent (3)")
    ap.add_argument("--timeout", type=int, default=4,
                    help="the servers' -t: when a silent bad connection ends (4 s)")
    args = ap.parse_args(argv)
    os.environ["SS_BIN_DIR"] = args.bin_dir
    sslib.BIN_DIR = args.bin_dir
    if args.quick:
        methods = ["chacha20-ietf-poly1305", "2022-blake3-aes-128-gcm"]
        lengths = list(range(1, 101, 7)) + EXTRA_LENGTHS
        repeat = 1
    else:
        methods = METHODS_2017 + METHODS_2022
        lengths = list(range(1, 101)) + EXTRA_LENGTHS
        repeat = args.repeat
    echo, echo_port = sslib.serve(sslib.echo_handler)
    tmp = tempfile.mkdtemp(prefix="probe-table-")
    servers = []
    if args.servers in ("ours", "both"):
        servers += our_servers(methods, args.timeout, tmp)
    if args.servers in ("libev", "both"):
        if shutil.which("ss-server"):
            servers += libev_servers(methods, args.timeout)
        else:
            print("shadowsocks-libev is not installed: no libev rows")
    hidden = True
    try:
        for server in servers:
            rows, classes, closes, genuine = battery(server, lengths, repeat, args.timeout,
                                                     echo_port)
            print_table(server, rows, classes, closes, genuine, args.timeout)
            if server.label.startswith("ours") and (len(classes) != 1 or genuine.failed):
                hidden = False
    finally:
        sslib.stop_server(echo)
        shutil.rmtree(tmp, ignore_errors=True)
    print("\nours: " + ("one reaction class everywhere" if hidden else "DISTINGUISHABLE"))
    return 0 if hidden else 1


if __name__ == "__main__":
    sys.exit(main())
