"""Shadowsocks 2022 (SIP022, SIP023) written from the specifications alone, for the tests.

Nothing here comes from our C++ code: the session subkey is BLAKE3 derive_key computed by
Debian's b3sum, the AEADs are python3-cryptography's, the layouts are read from sip022.md and
sip023.md. Python's standard library and python3-cryptography (Debian 12: 38.x) only.
"""

import os
import struct
import subprocess
import time

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305

# SIP022 2.1 and 4: method -> (key and salt size, AEAD class).
METHODS = {
    "2022-blake3-aes-128-gcm": (16, AESGCM),
    "2022-blake3-aes-256-gcm": (32, AESGCM),
    "2022-blake3-chacha20-poly1305": (32, ChaCha20Poly1305),
}
SUBKEY_CONTEXT = "shadowsocks 2022 session subkey"
IDENTITY_CONTEXT = "shadowsocks 2022 identity subkey"
TAG = 16


def derive_key(context, material, length):
    """BLAKE3 derive_key by b3sum (an implementation we did not write)."""
    out = subprocess.run(["b3sum", "--derive-key", context, "--no-names", "-l", str(length)],
                         input=material, capture_output=True, check=True).stdout
    return bytes.fromhex(out.decode().split()[0])


def blake3_hash(data, length=32):
    """BLAKE3 by b3sum."""
    out = subprocess.run(["b3sum", "--no-names", "-l", str(length)], input=data,
                         capture_output=True, check=True).stdout
    return bytes.fromhex(out.decode().split()[0])


def tcp_identity_header(ipsk, salt, next_psk):
    """SIP023 TCP: AES(derive_key(identity context, iPSK + salt), BLAKE3(next)[0..16])."""
    subkey = derive_key(IDENTITY_CONTEXT, ipsk + salt, len(ipsk))
    return _aes_ecb(subkey, blake3_hash(next_psk)[:16])


def session_subkey(psk, salt):
    """SIP022 2.2."""
    return derive_key(SUBKEY_CONTEXT, psk + salt, len(psk))


def keygen(method):
    return os.urandom(METHODS[method][0])


class Aead:
    """One direction of a TCP stream: a subkey and the little-endian u96 nonce counter."""

    def __init__(self, method, psk, salt):
        self.aead = METHODS[method][1](session_subkey(psk, salt))
        self.counter = 0

    def _nonce(self):
        n = self.counter.to_bytes(12, "little")
        self.counter += 1
        return n

    def seal(self, data):
        return self.aead.encrypt(self._nonce(), data, None)

    def open(self, data):
        return self.aead.decrypt(self._nonce(), data, None)


def socks_address(host, port):
    """ATYP + address + port (RFC 1928 section 5)."""
    try:
        import ipaddress
        ip = ipaddress.ip_address(host)
        atyp = 1 if ip.version == 4 else 4
        return bytes([atyp]) + ip.packed + struct.pack(">H", port)
    except ValueError:
        name = host.encode()
        return bytes([3, len(name)]) + name + struct.pack(">H", port)


def request_stream(method, psk, host, port, payload=b"", padding=None, timestamp=None,
                   header_type=0, salt=None, identity=b""):
    """The start of a request stream (SIP022 3.1.2-3.1.3): salt, [identity header,] fixed-length
    header chunk, variable-length header chunk. Returns (bytes, salt, Aead of the stream)."""
    size = METHODS[method][0]
    salt = salt or os.urandom(size)
    if padding is None:
        padding = b"" if payload else os.urandom(1 + os.urandom(1)[0] % 64)
    variable = socks_address(host, port) + struct.pack(">H", len(padding)) + padding + payload
    ts = int(time.time()) if timestamp is None else timestamp
    fixed = struct.pack(">BQH", header_type, ts, len(variable))
    aead = Aead(method, psk, salt)
    return salt + identity + aead.seal(fixed) + aead.seal(variable), salt, aead


def seal_chunks(aead, data, limit=0xFFFF):
    out = b""
    while data:
        piece, data = data[:limit], data[limit:]
        out += aead.seal(struct.pack(">H", len(piece))) + aead.seal(piece)
    return out


class ResponseReader:
    """Reads and checks a response stream (SIP022 3.1.2-3.1.3) from a socket."""

    def __init__(self, method, psk, sock, request_salt):
        self.method, self.psk, self.sock, self.request_salt = method, psk, sock, request_salt
        self.aead = None
        self.buf = b""

    def _take(self, n):
        while len(self.buf) < n:
            more = self.sock.recv(1 << 16)
            if not more:
                raise EOFError(f"stream ended with {len(self.buf)} of {n} bytes")
            self.buf += more
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def header(self):
        """Returns (type, timestamp, request salt, first length)."""
        size = METHODS[self.method][0]
        salt = self._take(size)
        self.aead = Aead(self.method, self.psk, salt)
        plain = self.aead.open(self._take(1 + 8 + size + 2 + TAG))
        return (plain[0], struct.unpack(">Q", plain[1:9])[0], plain[9:9 + size],
                struct.unpack(">H", plain[9 + size:])[0])

    def read_all(self, first_length):
        data = self.aead.open(self._take(first_length + TAG))
        while True:
            try:
                length = struct.unpack(">H", self.aead.open(self._take(2 + TAG)))[0]
            except EOFError:
                return data
            data += self.aead.open(self._take(length + TAG))


# --- SIP022 3.2 / 4.1: UDP -------------------------------------------------------------------

def _aes_ecb(key, block, decrypt=False):
    c = Cipher(algorithms.AES(key), modes.ECB())
    op = c.decryptor() if decrypt else c.encryptor()
    return op.update(block) + op.finalize()


def _rotl(v, n):
    return ((v << n) & 0xFFFFFFFF) | (v >> (32 - n))


def hchacha20(key, nonce16):
    """HChaCha20 (draft-irtf-cfrg-xchacha section 2.2), for XChaCha20-Poly1305."""
    s = [0x61707865, 0x3320646E, 0x79622D32, 0x6B206574]
    s += list(struct.unpack("<8I", key)) + list(struct.unpack("<4I", nonce16))

    def qr(a, b, c, d):
        s[a] = (s[a] + s[b]) & 0xFFFFFFFF
        s[d] = _rotl(s[d] ^ s[a], 16)
        s[c] = (s[c] + s[d]) & 0xFFFFFFFF
        s[b] = _rotl(s[b] ^ s[c], 12)
        s[a] = (s[a] + s[b]) & 0xFFFFFFFF
        s[d] = _rotl(s[d] ^ s[a], 8)
        s[c] = (s[c] + s[d]) & 0xFFFFFFFF
        s[b] = _rotl(s[b] ^ s[c], 7)

    for _ in range(10):
        qr(0, 4, 8, 12), qr(1, 5, 9, 13), qr(2, 6, 10, 14), qr(3, 7, 11, 15)
        qr(0, 5, 10, 15), qr(1, 6, 11, 12), qr(2, 7, 8, 13), qr(3, 4, 9, 14)
    return struct.pack("<8I", *(s[0:4] + s[12:16]))


def xchacha_seal(key, nonce24, data):
    sub = hchacha20(key, nonce24[:16])
    return ChaCha20Poly1305(sub).encrypt(b"\0\0\0\0" + nonce24[16:], data, None)


def xchacha_open(key, nonce24, data):
    sub = hchacha20(key, nonce24[:16])
    return ChaCha20Poly1305(sub).decrypt(b"\0\0\0\0" + nonce24[16:], data, None)


def udp_client_packet(method, psk, session_id, packet_id, host, port, data, timestamp=None,
                      header_type=0, padding=b"", ipsk=None):
    """A client-to-server packet (SIP022 3.2.2-3.2.3, 4.1); with `ipsk`, for the user `psk` of
    a multi-user server (SIP023: the separate header under iPSK, then the identity header)."""
    ts = int(time.time()) if timestamp is None else timestamp
    body = (struct.pack(">BQH", header_type, ts, len(padding)) + padding +
            socks_address(host, port) + data)
    separate = session_id + struct.pack(">Q", packet_id)
    if method.endswith("chacha20-poly1305"):
        nonce = os.urandom(24)
        return nonce + xchacha_seal(psk, nonce, separate + body)
    subkey = session_subkey(psk, session_id)
    sealed = AESGCM(subkey).encrypt(separate[4:16], body, None)
    if ipsk is None:
        return _aes_ecb(psk, separate) + sealed
    hashed = blake3_hash(psk)[:16]
    identity = _aes_ecb(ipsk, bytes(a ^ b for a, b in zip(hashed, separate)))
    return _aes_ecb(ipsk, separate) + identity + sealed


def udp_open_server_packet(method, psk, packet):
    """Opens a server-to-client packet: (server session, packet id, type, timestamp, client
    session, address bytes + data). Raises on a bad tag."""
    if method.endswith("chacha20-poly1305"):
        plain = xchacha_open(psk, packet[:24], packet[24:])
        separate, body = plain[:16], plain[16:]
    else:
        separate = _aes_ecb(psk, packet[:16], decrypt=True)
        subkey = session_subkey(psk, separate[:8])
        body = AESGCM(subkey).decrypt(separate[4:16], packet[16:], None)
    htype, ts = struct.unpack(">BQ", body[:9])
    client_session = body[9:17]
    pad = struct.unpack(">H", body[17:19])[0]
    return (separate[:8], struct.unpack(">Q", separate[8:])[0], htype, ts, client_session,
            body[19 + pad:])
