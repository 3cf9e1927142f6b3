"""Test harness for the integration and interop tests: start our binaries and libev's by PID,
talk SOCKS5, run local target servers. Everything stays on 127.0.0.1 / ::1 with ephemeral
ports, and every loop is bounded."""

import atexit
import base64
import contextlib
import hashlib
import os
import re
import signal
import socket
import socketserver
import struct
import subprocess
import tempfile
import threading
import time
import unittest

BIN_DIR = os.environ.get("SS_BIN_DIR", os.path.join(os.path.dirname(__file__), "../../build/src"))
METHODS = ["aes-128-gcm", "aes-192-gcm", "aes-256-gcm", "chacha20-ietf-poly1305",
           "xchacha20-ietf-poly1305"]
# The 2022 edition's methods (SIP022), whose password is a base64 key of the method's size.
METHODS_2022 = ["2022-blake3-aes-128-gcm", "2022-blake3-aes-256-gcm",
                "2022-blake3-chacha20-poly1305"]
# Under the sanitizers everything is several times slower; tests scale their waits by this.
SLOW = float(os.environ.get("SS_TEST_SLOWDOWN", "1"))
# The binaries are the ASan + UBSan build.
SANITIZED = os.environ.get("SS_SANITIZED", "0") == "1"
# The binaries are the portable build (-DSS_PORTABLE=ON): no service manager, no transparent
# sockets, no plugin ended with us by the kernel.
PORTABLE = os.environ.get("SS_PORTABLE", "0") == "1"


SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:")


def binary(name):
    return os.path.join(BIN_DIR, name)


def key_2022(method):
    """A fresh key for a 2022 method, in base64 as its password takes it."""
    return base64.b64encode(os.urandom(16 if "128" in method else 32)).decode()


# Every process a test started, so that none outlives the test run even when a test fails
# between starting it and handing it to `running` (see `_stop_leftovers`).
_started = []


@atexit.register
def _stop_leftovers():
    for proc in _started:
        if proc.p.poll() is None:
            proc.p.kill()
            proc.p.wait()


class Proc:
    """A daemon we started; stopped by its PID only."""

    def __init__(self, args, name=None, env=None):
        self.args = [str(a) for a in args]
        self.name = name or os.path.basename(self.args[0])
        self.ours = self.args[0].startswith(BIN_DIR)
        self.log = tempfile.NamedTemporaryFile(prefix=self.name + "-", suffix=".log", delete=False)
        self.p = subprocess.Popen(self.args, stdout=self.log, stderr=subprocess.STDOUT,
                                  stdin=subprocess.DEVNULL, env=env)
        _started.append(self)

    def text(self):
        with open(self.log.name, "r", errors="replace") as f:
            return f.read()

    def wait_for(self, pattern, timeout=10.0):
        """Waits until the log matches `pattern`; returns the match."""
        deadline = time.monotonic() + timeout * SLOW
        while time.monotonic() < deadline:
            m = re.search(pattern, self.text())
            if m:
                return m
            if self.p.poll() is not None:
                raise AssertionError(f"{self.name} exited with {self.p.returncode}:\n{self.text()}")
            time.sleep(0.02)
        raise AssertionError(f"{self.name}: no /{pattern}/ within {timeout}s:\n{self.text()}")

    def listen_port(self):
        m = self.wait_for(r"listening on (\S+?):(\d+)[ ,]")
        return int(m.group(2))

    def stop(self, sig=signal.SIGTERM, timeout=10.0):
        if self.p.poll() is None:
            self.p.send_signal(sig)
            try:
                self.p.wait(timeout * SLOW)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        self.log.close()
        return self.p.returncode

    def cleanup(self):
        """Stops the process; fails the test if a sanitizer reported anything, or if one of
        our daemons did not exit 0 on SIGTERM."""
        code = self.stop()
        text = self.text()
        with contextlib.suppress(OSError):
            os.unlink(self.log.name)
        for marker in SANITIZER_MARKERS:
            if marker in text:
                raise AssertionError(f"{self.name}: sanitizer report:\n{text}")
        if self.ours and code != 0:
            raise AssertionError(f"{self.name} exited with {code} on SIGTERM:\n{text[-4000:]}")


def file_text_once(path, needle, timeout=10.0):
    """The text of `path` once it holds `needle` (a file a daemon writes, perhaps not made yet),
    or as it is when `timeout` (scaled by SLOW) runs out."""
    deadline = time.monotonic() + timeout * SLOW
    text = ""
    while needle not in text and time.monotonic() < deadline:
        time.sleep(0.05)
        with contextlib.suppress(FileNotFoundError), open(path, errors="replace") as f:
            text = f.read()
    return text


def run_on_terminal(args, timeout=10.0):
    """Runs `args` with its standard output on a pseudo-terminal (so that it sees a terminal);
    returns (exit code, what it wrote there with \\r taken out, its standard error)."""
    import pty
    master, slave = pty.openpty()
    p = subprocess.Popen([str(a) for a in args], stdout=slave, stderr=subprocess.PIPE,
                         stdin=subprocess.DEVNULL)
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    code, err = p.wait(timeout=timeout * SLOW), p.stderr.read()
    p.stderr.close()
    return code, b"".join(chunks).decode().replace("\r", ""), err


def free_port(host="127.0.0.1"):
    """A port that was free a moment ago (for libev, which cannot report port 0)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def wait_listening(port, host="127.0.0.1", timeout=10.0):
    deadline = time.monotonic() + timeout * SLOW
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            socket.create_connection((host, port), timeout=1).close()
            return
        time.sleep(0.02)
    raise AssertionError(f"nothing listens on {host}:{port}")


def wait_listen_state(port, timeout=10.0):
    """Waits until a TCP socket of this network namespace listens on `port`, without
    connecting to it (a connection to ss-redir's port that no firewall rule redirected is a
    real one to its own address)."""
    deadline = time.monotonic() + timeout * SLOW
    while time.monotonic() < deadline:
        for table in ("/proc/net/tcp", "/proc/net/tcp6"):
            with open(table) as f:
                for line in f.readlines()[1:]:
                    local, state = line.split()[1], line.split()[3]
                    if state == "0A" and int(local.rsplit(":", 1)[1], 16) == port:
                        return
        time.sleep(0.02)
    raise AssertionError(f"nothing listens on port {port}")


@contextlib.contextmanager
def running(*procs):
    try:
        yield procs
    finally:
        for p in procs:
            p.cleanup()


def our_server(method, password, *extra, host="127.0.0.1", allow_private=True):
    """Our ss-server on an ephemeral port. Test targets live on loopback, which the outbound
    guard refuses by default, so the guard is off unless `allow_private` is False."""
    guard = ["--outbound-allow-private"] if allow_private else []
    p = Proc([binary("ss-server"), "-s", host, "-p", 0, "-m", method, "-k", password,
              "--workers", 2, *guard, *extra])
    return p, p.listen_port()


def our_local(server_port, method, password, *extra, server="127.0.0.1"):
    p = Proc([binary("ss-local"), "-s", server, "-p", server_port, "-l", 0, "-m", method,
              "-k", password, "--workers", 2, *extra])
    return p, p.listen_port()


def our_tunnel(server_port, method, password, dest, *extra):
    p = Proc([binary("ss-tunnel"), "-s", "127.0.0.1", "-p", server_port, "-l", 0, "-m", method,
              "-k", password, "-L", dest, *extra])
    return p, p.listen_port()


def self_signed(directory, host):
    """A key and a self-signed certificate for `host` (a name or an IP address), written by
    python3-cryptography; returns their paths."""
    import datetime
    import ipaddress
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    try:
        alt = x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        alt = x509.DNSName(host)
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName([alt]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = os.path.join(directory, "cert.pem"), os.path.join(directory, "key.pem")
    with open(cert_path, "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    with open(key_path, "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM,
                                  serialization.PrivateFormat.TraditionalOpenSSL,
                                  serialization.NoEncryption()))
    return cert_path, key_path


def libev(name, *args, port):
    p = Proc([name, *args], name="libev-" + name)
    wait_listening(port)
    return p


# --- network namespaces ---------------------------------------------------------------------

CLONE_NEWNET = 0x40000000


def enter_new_netns():
    """Moves this test process (its calling thread, and every process and thread it starts from
    then on) into a network namespace of its own, with only loopback, up. Nothing done there
    (addresses, routes, firewall rules, sysctls) touches the machine's own network, and it all
    goes away with the process. Returns None, or why it cannot (not root, no namespaces): the
    caller skips with that reason."""
    import ctypes
    if os.geteuid() != 0:
        return "network namespaces need root"
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(CLONE_NEWNET) != 0:
        return f"unshare(CLONE_NEWNET): {os.strerror(ctypes.get_errno())}"
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    return None


class Netns:
    """Another network namespace beside the test's own (after `enter_new_netns`), held by a
    sleeping `unshare -n` process: commands run in it through nsenter (`cmd`, `run`), and
    sockets are made in it inside `with ns.entered():` (the calling thread switches to it and
    back; a socket stays in the namespace it was made in). Linked to others with veth pairs
    (`veth`). Gone when `close` ends the holder."""

    def __init__(self):
        self.holder = subprocess.Popen(["unshare", "-n", "sleep", "infinity"])
        self.path = f"/proc/{self.holder.pid}/ns/net"
        own = os.stat("/proc/thread-self/ns/net").st_ino
        deadline = time.monotonic() + 10
        while os.stat(self.path).st_ino == own:  # until unshare has run
            if time.monotonic() > deadline:
                raise RuntimeError("unshare -n did not make a namespace")
            time.sleep(0.01)
        self.run("ip", "link", "set", "lo", "up")

    def cmd(self, *args):
        """`args` as a command line run in the namespace."""
        return ["nsenter", f"--net={self.path}", "--", *[str(a) for a in args]]

    def run(self, *args):
        subprocess.run(self.cmd(*args), check=True)

    @contextlib.contextmanager
    def entered(self):
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        back = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
        there = os.open(self.path, os.O_RDONLY)
        try:
            if libc.setns(there, CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), "setns")
            yield
        finally:
            libc.setns(back, CLONE_NEWNET)
            os.close(back)
            os.close(there)

    def close(self):
        self.holder.kill()
        self.holder.wait()


def veth(name, other, other_name):
    """A veth pair: `name` here, `other_name` in the namespace `other` (a Netns)."""
    subprocess.run(["ip", "link", "add", name, "type", "veth", "peer", "name", other_name,
                    "netns", str(other.holder.pid)], check=True)


def ip(*args, ns=None):
    """Runs `ip ARGS` here or in `ns`."""
    args = ["ip", *[str(a) for a in args]]
    subprocess.run(ns.cmd(*args) if ns else args, check=True)


def netstat_counters(prefix="TcpExt"):
    """The kernel's /proc/net/netstat counters of this network namespace (`prefix` line)."""
    with open("/proc/net/netstat") as f:
        lines = f.read().splitlines()
    for names, values in zip(lines[::2], lines[1::2]):
        if names.startswith(prefix + ":"):
            return dict(zip(names.split()[1:], map(int, values.split()[1:])))
    return {}


# --- SOCKS5 client -------------------------------------------------------------------------

def socks5_request(host, port):
    try:
        packed = socket.inet_pton(socket.AF_INET, host)
        addr = b"\x01" + packed
    except OSError:
        try:
            addr = b"\x04" + socket.inet_pton(socket.AF_INET6, host)
        except OSError:
            name = host.encode()
            addr = b"\x03" + bytes([len(name)]) + name
    return b"\x05\x01\x00" + addr + struct.pack(">H", port)


def recv_exact(s, n):
    buf = bytearray()
    while len(buf) < n:
        chunk = s.recv(min(n - len(buf), 1 << 20))
        if not chunk:
            raise ConnectionError(f"EOF after {len(buf)} of {n} bytes")
        buf += chunk
    return bytes(buf)


def recv_all(s):
    buf = bytearray()
    while True:
        chunk = s.recv(1 << 20)
        if not chunk:
            return bytes(buf)
        buf += chunk


def socks5_greet(s, auth=None):
    """The SOCKS5 greeting on `s`: no authentication, or RFC 1929 with auth=(user, password)."""
    if auth is None:
        s.sendall(b"\x05\x01\x00")
        assert recv_exact(s, 2) == b"\x05\x00"
        return
    user, password = (x.encode() for x in auth)
    s.sendall(b"\x05\x01\x02")
    assert recv_exact(s, 2) == b"\x05\x02"
    s.sendall(b"\x01" + bytes([len(user)]) + user + bytes([len(password)]) + password)
    status = recv_exact(s, 2)
    assert status == b"\x01\x00", status


def socks5_connect(proxy_port, host, port, timeout=30.0, auth=None):
    """A socket through the SOCKS5 proxy to host:port, after a success reply."""
    s = socket.create_connection(("127.0.0.1", proxy_port), timeout=timeout * SLOW)
    socks5_greet(s, auth)
    s.sendall(socks5_request(host, port))
    head = recv_exact(s, 4)
    assert head[:2] == b"\x05\x00", head
    atyp = head[3]
    rest = {1: 4, 4: 16}.get(atyp)
    if rest is None:
        rest = recv_exact(s, 1)[0]
    recv_exact(s, rest + 2)
    return s


# --- target servers ------------------------------------------------------------------------

class _Server(socketserver.ThreadingMixIn, socketserver.TCPServer):
    daemon_threads = True
    allow_reuse_address = True


class _Server6(_Server):
    address_family = socket.AF_INET6


def serve(handler_fn, host="127.0.0.1"):
    """Starts a threaded TCP server calling handler_fn(sock); returns (server, port)."""

    class Handler(socketserver.BaseRequestHandler):
        def handle(self):
            with contextlib.suppress(OSError, ConnectionError):
                handler_fn(self.request)

    cls = _Server6 if ":" in host else _Server
    srv = cls((host, 0), Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv, srv.server_address[1]


def stop_server(srv):
    srv.shutdown()
    srv.server_close()


class Tap:
    """A TCP proxy to `upstream` that records what each side sent, per connection."""

    def __init__(self, upstream_port):
        self.upstream_port = upstream_port
        self.sessions = []  # [(client_to_server bytearray, server_to_client bytearray)]

        def handler(client):
            up = socket.create_connection(("127.0.0.1", self.upstream_port))
            c2s, s2c = bytearray(), bytearray()
            self.sessions.append((c2s, s2c))
            t = threading.Thread(target=self.pipe, args=(up, client, s2c), daemon=True)
            t.start()
            self.pipe(client, up, c2s)
            t.join(30)
            up.close()

        self.srv, self.port = serve(handler)

    @staticmethod
    def pipe(src, dst, record):
        try:
            while chunk := src.recv(65536):
                record += chunk
                dst.sendall(chunk)
            dst.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def stop(self):
        stop_server(self.srv)


class TargetTestCase(unittest.TestCase):
    """Tests with one local TCP target server for the whole class, answering with
    `target_handler` (a function of the socket); `target_port` is where it listens."""

    target_handler = None

    @classmethod
    def setUpClass(cls):
        cls.target, cls.target_port = serve(cls.target_handler)

    @classmethod
    def tearDownClass(cls):
        stop_server(cls.target)


def exchange_handler(sock):
    """Protocol without half-close: the client sends n_up, n_down (8 bytes each) and n_up
    bytes; the server answers sha256(received) and n_down random bytes, then their sha256."""
    n_up, n_down = struct.unpack(">QQ", recv_exact(sock, 16))
    h = hashlib.sha256()
    left = n_up
    while left:
        chunk = sock.recv(min(left, 1 << 20))
        if not chunk:
            return
        h.update(chunk)
        left -= len(chunk)
    sock.sendall(h.digest())
    out = hashlib.sha256()
    left = n_down
    while left:
        block = os.urandom(min(left, 1 << 20))
        out.update(block)
        sock.sendall(block)
        left -= len(block)
    sock.sendall(out.digest())


def exchange(sock, n_up, n_down):
    """Client side of exchange_handler; raises unless both directions arrived intact."""
    sock.sendall(struct.pack(">QQ", n_up, n_down))
    sent = hashlib.sha256()
    left = n_up
    while left:
        block = os.urandom(min(left, 1 << 20))
        sent.update(block)
        sock.sendall(block)
        left -= len(block)
    assert recv_exact(sock, 32) == sent.digest(), "upload corrupted"
    got = hashlib.sha256()
    left = n_down
    while left:
        chunk = sock.recv(min(left, 1 << 20))
        if not chunk:
            raise ConnectionError(f"download ended {left} bytes early")
        got.update(chunk)
        left -= len(chunk)
    assert recv_exact(sock, 32) == got.digest(), "download corrupted"


def collect_handler(sock):
    """Reads until EOF, then answers sha256(received) + 1 MiB of b'x', and closes."""
    h = hashlib.sha256()
    while True:
        chunk = sock.recv(1 << 20)
        if not chunk:
            break
        h.update(chunk)
    sock.sendall(h.digest() + b"x" * (1 << 20))


def echoes_through(local_port, host, port):
    """True when a SOCKS5 connection through ss-local to host:port (an echo server) gets its
    data back; False when it is refused, closed or silent."""
    try:
        with socks5_connect(local_port, host, port, timeout=5) as s:
            s.sendall(b"ping")
            return s.recv(16) == b"ping"
    except (OSError, AssertionError, ConnectionError):
        return False


class EchoTargetsTestCase(unittest.TestCase):
    """Tests with one echo server on 127.0.0.1 (`echo4_port`) and one on ::1 (`echo6_port`)
    for the whole class."""

    @classmethod
    def setUpClass(cls):
        cls.echo4, cls.echo4_port = serve(echo_handler, "127.0.0.1")
        cls.echo6, cls.echo6_port = serve(echo_handler, "::1")

    @classmethod
    def tearDownClass(cls):
        stop_server(cls.echo4)
        stop_server(cls.echo6)


def write_temp(text, suffix):
    """A temporary file holding `text`; the caller removes it."""
    f = tempfile.NamedTemporaryFile("w", prefix="ss-test-", suffix=suffix, delete=False)
    f.write(text)
    f.close()
    return f.name


def echo_handler(sock):
    while True:
        chunk = sock.recv(1 << 20)
        if not chunk:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_WR)
            return
        sock.sendall(chunk)


# --- UDP -----------------------------------------------------------------------------------

def parse_address(data):
    """(host, port, length) of a SOCKS5/Shadowsocks address at the front of `data`."""
    atyp = data[0]
    if atyp == 1:
        return socket.inet_ntop(socket.AF_INET, data[1:5]), struct.unpack(">H", data[5:7])[0], 7
    if atyp == 4:
        return (socket.inet_ntop(socket.AF_INET6, data[1:17]),
                struct.unpack(">H", data[17:19])[0], 19)
    if atyp == 3:
        n = data[1]
        return data[2:2 + n].decode(), struct.unpack(">H", data[2 + n:4 + n])[0], 4 + n
    raise ValueError(f"bad ATYP {atyp}")


def udp_wrap(host, port, data, frag=0):
    """A SOCKS5 UDP request datagram (RFC 1928 section 7)."""
    return b"\x00\x00" + bytes([frag]) + socks5_request(host, port)[3:] + data


def udp_unwrap(datagram):
    """(host, port, data) of a SOCKS5 UDP datagram."""
    assert datagram[:3] == b"\x00\x00\x00", datagram[:3]
    host, port, n = parse_address(datagram[3:])
    return host, port, datagram[3 + n:]


def socks5_udp_associate(proxy_port, hint=("0.0.0.0", 0), timeout=10.0, auth=None):
    """Opens a UDP association; returns (control socket, (relay host, relay port))."""
    s = socket.create_connection(("127.0.0.1", proxy_port), timeout=timeout * SLOW)
    socks5_greet(s, auth)
    s.sendall(b"\x05\x03" + socks5_request(*hint)[2:])
    head = recv_exact(s, 4)
    assert head[:2] == b"\x05\x00", head
    rest = {1: 4, 4: 16}[head[3]]
    body = recv_exact(s, rest + 2)
    host, port, _ = parse_address(bytes([head[3]]) + body)
    return s, (host, port)


class UdpServer:
    """A UDP server on an ephemeral port answering each datagram with reply(data) after
    `delay` seconds (None: no answer). Runs in a thread until stop(). `senders` holds every
    address a datagram came from."""

    def __init__(self, host="127.0.0.1", reply=lambda d: d, delay=0.0):
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_DGRAM)
        self.sock.bind((host, 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.reply, self.delay = reply, delay
        self.received = 0
        self.senders = set()
        self.running = True
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while self.running:
            try:
                data, addr = self.sock.recvfrom(65535)
            except socket.timeout:
                continue
            except OSError:
                return
            self.received += 1
            self.senders.add(addr)
            answer = self.reply(data)
            if answer is None:
                continue
            if self.delay:
                threading.Timer(self.delay, self._send, (answer, addr)).start()
            else:
                self._send(answer, addr)

    def _send(self, data, addr):
        with contextlib.suppress(OSError):
            self.sock.sendto(data, addr)

    def stop(self):
        self.running = False
        self.thread.join()
        self.sock.close()


def udp_roundtrip(client, relay, host, port, payload):
    """Sends one datagram through a SOCKS5 UDP association and returns the unwrapped answer
    (host, port, data)."""
    client.sendto(udp_wrap(host, port, payload), relay)
    # The association answers from its relay; a datagram from elsewhere is skipped, as a
    # SOCKS5 client drops it (on a busy loopback a port a test sends to can be this client's:
    # ss-local's datagrams to a test's dead server port came here once).
    strays = []
    while len(strays) < 8:
        data, sender = client.recvfrom(65535)
        if sender[:2] == relay[:2]:
            return udp_unwrap(data)
        strays.append(sender)
    raise AssertionError(f"nothing from the relay {relay}, only from {strays}")


def expect_silence(sock, seconds=0.6):
    """Raises unless nothing arrives on `sock` for `seconds` (scaled by SLOW)."""
    sock.settimeout(seconds * SLOW)
    try:
        data = sock.recv(65535)
    except (socket.timeout, ConnectionRefusedError):
        return
    raise AssertionError(f"expected no answer, got {data[:40]!r}")


class TinyDns:
    """A DNS server on 127.0.0.1 (on `port`, else an ephemeral one) for the test: A 127.0.0.1
    for `name`, an empty answer for its other types, NXDOMAIN for every other name. Remembers
    the names it was asked."""

    def __init__(self, name, port=0):
        self.name = name
        self.asked = []
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", port))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.stopping = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.stopping:
            try:
                query, peer = self.sock.recvfrom(512)
            except socket.timeout:
                continue
            self.sock.sendto(self._answer(query), peer)

    def _answer(self, query):
        labels, i = [], 12
        while query[i]:
            labels.append(query[i + 1:i + 1 + query[i]].decode())
            i += 1 + query[i]
        qtype = struct.unpack(">H", query[i + 1:i + 3])[0]
        question = query[12:i + 5]
        name = ".".join(labels).lower()
        self.asked.append(name)
        known = name == self.name
        answers = b""
        if known and qtype == 1:
            answers = b"\xc0\x0c" + struct.pack(">HHIH", 1, 1, 60, 4) + bytes([127, 0, 0, 1])
        flags = 0x8180 if known else 0x8183  # NOERROR or NXDOMAIN, recursion available
        header = query[:2] + struct.pack(">HHHHH", flags, 1, 1 if answers else 0, 0, 0)
        return header + question + answers

    def stop(self):
        self.stopping = True
        self.thread.join()
        self.sock.close()


def udp_client(host="127.0.0.1", timeout=2.0):
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(family, socket.SOCK_DGRAM)
    s.bind((host, 0))
    s.settimeout(timeout * SLOW)
    return s
