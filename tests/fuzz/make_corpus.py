#!/usr/bin/env python3
"""Writes the seed corpora in tests/fuzz/corpus/ (run once; the files are committed)."""

import json
import os
import random
import struct

HERE = os.path.dirname(os.path.abspath(__file__))

# The third-party AEAD stream vectors of issue 2 (password "密码"), by method index in the
# registry order: aes-128-gcm, aes-192-gcm, aes-256-gcm, chacha20-ietf-poly1305, xchacha20.
VECTORS = [
    "c3b3e419f8de8c2d4701d94f5258915a967bf7b27a9e97e4cee0c00d67caa7c992f4f41d83109f0a9a6710871501"
    "b64851ffa1588c0603c168e00a4ac50b4d729203aecfddd1475b78e338bfe943662fe25f2fe49afc1f5eb0038911"
    "3d417e5e",
    "c58266923546894ea26c786e1cb6e35a4a15ac9b5ba83cbdf43187f7b1d53bd0bb4e61821d519c71eb2fdcea0573"
    "aaaa0a7a0ba59a3e4e966b51750b2602c740f293720a31665f879332974ad715b0cd7a8e1428d9b7c4b71f5ed07c"
    "539f7f1a296dd39ffe354924",
    "5648a2d3e86fe68d7c137ad894294f8e8b57ce55eb545cb7da69b93708e2a689a4a8798171d001ed9ef8d3e1b1c8"
    "9d862604ce7e0803584719ea65e0c4025800187a0e0a2c5408519e93b2279358fb81842e9c913a76ee93ee25d4dd"
    "bfb4729fcc64411054411a01a4ada4f22c5e401e",
    "8bd996a259f861d54c4b27e740a6ad23381631dae3ab69e5c0377625752fa0f5dc68c4ae6a4c6b2c4f6bdda92ffa"
    "d4e11fbf5b63bf05809d419cd0b562e927b370c627f14f42b18e146c832bfb6e6bd1f58cc71333ac60943d5592a8"
    "f8148687d6008defd21c791fc199efe26dc136e5",
    "1dca4629620bfecd77133488d3e34d9594155982cf514f554f8d0332a4007742979d66ac9524d52d03d82bad6594"
    "da985a20b53a52138b5dfc95e9ead17f1e7281568e90111b0b8d26dd11a74eb36457de35505dbb99d91ef4a4848f"
    "a9c4dffb1e5938c1a9537b3c09f1bcba762a2f64",
]


def write(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def addr_v4():
    return b"\x01\x7f\x00\x00\x01" + struct.pack(">H", 80)


def addr_v6():
    return b"\x04" + b"\x00" * 15 + b"\x01" + struct.pack(">H", 443)


def addr_name(name=b"example.com"):
    return b"\x03" + bytes([len(name)]) + name + struct.pack(">H", 8388)


def main():
    for name, data in [("ipv4", addr_v4()), ("ipv6", addr_v6()), ("domain", addr_name()),
                       ("longest", addr_name(b"a" * 255)), ("empty-domain", b"\x03\x00\x00\x50"),
                       ("bad-atyp", b"\x05\x01\x02\x03"), ("text-v6", b"[::1]:53"),
                       ("text-name", b"localhost:1080")]:
        write("address", name, data)

    socks = {
        "greeting": b"\x00\x05\x02\x00\x02",
        "method": b"\x01\x05\x00",
        "auth": b"\x02\x01\x04user\x04pass",
        "auth-reply": b"\x03\x01\x00",
        "connect-v4": b"\x04\x05\x01\x00" + addr_v4(),
        "connect-name": b"\x04\x05\x01\x00" + addr_name(),
        "udp-associate": b"\x04\x05\x03\x00" + addr_v6(),
        "reply": b"\x05\x05\x00\x00" + addr_v4(),
        "udp-header": b"\x06\x00\x00\x00" + addr_name() + b"payload",
        "udp-frag": b"\x06\x00\x00\x01" + addr_v4() + b"x",
    }
    for name, data in socks.items():
        write("socks5", name, data)

    for i, hexdata in enumerate(VECTORS):
        write("aead_stream", f"vector-{i}", bytes([i]) + bytes.fromhex(hexdata))
    write("aead_stream", "short", b"\x02" + b"\x00" * 40)

    for i in range(5):
        write("udp_packet", f"random-{i}", bytes([i]) + random.Random(i).randbytes(48 + i * 40))

    configs = {
        "server": {"server": ["0.0.0.0", "::"], "server_port": 8388, "password": "p",
                   "method": "chacha20-ietf-poly1305", "timeout": 60, "mode": "tcp_and_udp"},
        "local": {"server": "203.0.113.10", "server_port": "8388", "local_port": 1080,
                  "password": "p", "fast_open": True, "workers": 2},
        "tunnel": {"server": "h", "server_port": 1, "password": "p",
                   "tunnel_address": "[::1]:53", "udp_timeout": 30,
                   "replay_state_file": "/var/lib/x", "outbound_allow_private": False},
        "key": {"server": "h", "server_port": 1, "method": "aes-256-gcm",
                "key": "qBBSBGBKCxHpFvOHmq47C85cafdYUUFJ2mBau_FoAZQ="},
    }
    for name, obj in configs.items():
        write("config", name, json.dumps(obj))
    sip008 = {
        "two": {"version": 1, "servers": [
            {"id": "27b8a625-4f4b-4428-9f0f-8a2317db7c79", "remarks": "one",
             "server": "198.51.100.1", "server_port": 8388, "password": "a long enough password",
             "method": "chacha20-ietf-poly1305"},
            {"server": "2001:db8::1", "server_port": 443, "password": "another long password",
             "method": "aes-256-gcm", "plugin": "sh", "plugin_opts": "x=1"}],
            "bytes_used": 274877906944, "bytes_remaining": 824633720832},
        "2022": {"version": 1, "servers": [
            {"server": "example.com", "server_port": 8388, "method": "2022-blake3-aes-128-gcm",
             "password": "AAAAAAAAAAAAAAAAAAAAAA=="}]},
        "left-out": {"version": 1, "servers": [
            {"server": "x", "server_port": 1, "password": "p", "method": "rot13"},
            {"server": "y", "server_port": 2, "password": "p", "method": "aes-128-gcm",
             "plugin": "evil"}, 7]},
    }
    for name, doc in sip008.items():
        write("sip008", name, json.dumps(doc))
    write("sip008", "not-json", "<html>")
    write("config", "broken", '{"server": "x", "server_port": ')
    # Regression: a number too large for a double made nlohmann throw out_of_range.
    write("config", "huge-number", '{"timeout": 15e66666666}')
    write("config", "types", '{"server": 1, "timeout": "x", "mode": [], "no_delay": "yes"}')

    # The examples of shadowsocks-org's sip002.md, and our own forms.
    urls = {
        "doc-1": "ss://YWVzLTEyOC1nY206dGVzdA@192.168.100.1:8888#Example1",
        "doc-2": "ss://cmM0LW1kNTpwYXNzd2Q@192.168.100.1:8888/?plugin=obfs-local%3Bobfs%3Dhttp"
                 "#Example2",
        "doc-3": "ss://2022-blake3-aes-256-gcm:YctPZ6U7xPPcU%2Bgp3u%2B0tx%2FtRizJN9K8y%2BuKlW2qjlI"
                 "%3D@192.168.100.1:8888/?plugin=v2ray-plugin%3Bserver#Example3",
        "doc-4": "ss://YmYtY2ZiOnRlc3Q@192.168.100.1:8888/?plugin=url-encoded-plugin-argument-value"
                 "&unsupported-arguments=should-be-ignored#Dummy+profile+name",
        "ipv6": "ss://YWVzLTEyOC1nY206cHc@[::1]:8388/",
        "padded": "SS://Y2hhY2hhMjAtaWV0Zi1wb2x5MTMwNTp4fnk+eg==@example.com:443",
    }
    for name, url in urls.items():
        write("sip002", name, url)
    # Regression, found by fuzz_sip002 in its first second: inet_pton stopped at the NUL and
    # took "192.168.100.1\0..." for an IPv4 address.
    write("sip002", "regression-nul-in-host", b"ss://YmYtY2ZiOnRlc3Q@192.168.100.1\x00junk:88:8")
    sip022_stream_seeds()


def sip022_stream_seeds():
    """Valid 2022 streams for fuzz_sip022_stream: its keys (byte i is i * 7 + 1), its clock
    (1,700,000,000) and its response salt (0x5A...), built by the spec client of the tests."""
    import sys
    sys.path.insert(0, os.path.join(HERE, "..", "integration"))
    import sip022
    for index, method in enumerate(sip022.METHODS):
        size = sip022.METHODS[method][0]
        psk = bytes((i * 7 + 1) & 0xFF for i in range(size))
        stream, _, aead = sip022.request_stream(method, psk, "example.com", 443, b"GET /",
                                                timestamp=1_700_000_000)
        stream += sip022.seal_chunks(aead, b"more data" * 10)
        write("sip022_stream", f"request-{index}", bytes([index]) + stream)
        padded, _, _ = sip022.request_stream(method, psk, "10.0.0.1", 25, b"",
                                             padding=b"\0" * 40, timestamp=1_700_000_000)
        write("sip022_stream", f"padded-{index}", bytes([index]) + padded)
        salt = os.urandom(size)
        aead = sip022.Aead(method, psk, salt)
        header = struct.pack(">BQ", 1, 1_700_000_000) + b"\x5a" * size + struct.pack(">H", 5)
        response = salt + aead.seal(header) + aead.seal(b"hello")
        response += sip022.seal_chunks(aead, b"world" * 20)
        write("sip022_stream", f"response-{index}", bytes([index]) + response)
        # fuzz_udp_2022: a client packet (its timestamp is long stale when the fuzzer runs, so
        # it reaches the header checks) under the same key.
        packet = sip022.udp_client_packet(method, psk, b"\x01" * 8, 7, "127.0.0.1", 53, b"query",
                                          padding=b"\0" * 3)
        write("udp_2022", f"client-{index}", bytes([index]) + packet)


if __name__ == "__main__":
    main()
