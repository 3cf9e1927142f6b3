"""SIP008 online configuration: ss-local takes its servers from an HTTPS URL of the test's own
(Python's ssl over a certificate from a test CA, trusted through SSL_CERT_FILE), keeps the
last good list (on disk too) and refuses what it must refuse: a certificate that expired or
names another host, an untrusted CA, a malformed document, a plugin it was not allowed."""

import base64
import contextlib
import datetime
import http.server
import ipaddress
import json
import os
import re
import shutil
import ssl
import sys
import tempfile
import threading
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import sslib  # noqa: E402

METHOD = "chacha20-ietf-poly1305"
PASSWORD = "online config test password"


class TestCa:
    """A CA and certificates it signs, written by python3-cryptography into `directory`."""

    def __init__(self, directory):
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID
        self.x509, self.hashes, self.ec, self.NameOID = x509, hashes, ec, NameOID
        self.dir = directory
        self.key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "shadowsocks-cpp test CA")])
        now = datetime.datetime.now(datetime.timezone.utc)
        self.name = name
        self.cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                     .public_key(self.key.public_key()).serial_number(x509.random_serial_number())
                     .not_valid_before(now - datetime.timedelta(days=1))
                     .not_valid_after(now + datetime.timedelta(days=30))
                     .add_extension(x509.BasicConstraints(ca=True, path_length=None),
                                    critical=True)
                     .sign(self.key, hashes.SHA256()))
        self.path = self._write("ca.pem", self.cert)

    def _write(self, name, cert, key=None):
        from cryptography.hazmat.primitives import serialization
        path = os.path.join(self.dir, name)
        with open(path, "wb") as f:
            f.write(cert.public_bytes(serialization.Encoding.PEM))
            if key is not None:
                f.write(key.private_bytes(serialization.Encoding.PEM,
                                          serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
        return path

    def leaf(self, name, hosts, expired=False):
        """A certificate (with its key, one PEM file) for `hosts` (names or IP addresses)."""
        x509 = self.x509
        key = self.ec.generate_private_key(self.ec.SECP256R1())
        now = datetime.datetime.now(datetime.timezone.utc)
        start, end = ((now - datetime.timedelta(days=30), now - datetime.timedelta(days=1))
                      if expired else (now - datetime.timedelta(days=1),
                                       now + datetime.timedelta(days=30)))
        alt = []
        for h in hosts:
            try:
                alt.append(x509.IPAddress(ipaddress.ip_address(h)))
            except ValueError:
                alt.append(x509.DNSName(h))
        cert = (x509.CertificateBuilder()
                .subject_name(x509.Name([x509.NameAttribute(self.NameOID.COMMON_NAME, hosts[0])]))
                .issuer_name(self.name).public_key(key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(start).not_valid_after(end)
                .add_extension(x509.SubjectAlternativeName(alt), critical=False)
                .sign(self.key, self.hashes.SHA256()))
        return self._write(name, cert, key)


class DocumentServer:
    """An HTTPS server answering every GET with `self.document` (bytes), with the certificate
    in `pem` (certificate and key)."""

    def __init__(self, pem):
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server's name)
                owner.requests += 1
                body = owner.document
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.document = b"{}"
        self.requests = 0
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(pem)
        self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def serve(self, servers):
        self.document = json.dumps({"version": 1, "servers": servers}).encode()

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def entry(port, **more):
    e = {"id": f"id-{port}", "remarks": f"server {port}", "server": "127.0.0.1",
         "server_port": port, "password": PASSWORD, "method": METHOD}
    e.update(more)
    return e


def connections_to(proc, port):
    return len(re.findall(rf"connected to 127\.0\.0\.1:{port}\b", proc.text()))


class OnlineFixture(sslib.EchoTargetsTestCase):
    """A test CA with its certificates, our servers, HTTPS document servers, a cache file."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.dir = tempfile.mkdtemp(prefix="ss-sip008-")
        cls.ca = TestCa(cls.dir)
        cls.good = cls.ca.leaf("good.pem", ["localhost", "127.0.0.1"])
        cls.expired = cls.ca.leaf("expired.pem", ["localhost", "127.0.0.1"], expired=True)
        cls.other_host = cls.ca.leaf("other.pem", ["www.example.com"])

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dir, ignore_errors=True)
        super().tearDownClass()

    def setUp(self):
        self.procs = []
        self.https = []
        self.cache = os.path.join(self.dir, f"cache-{self.id().rsplit('.', 1)[1]}.json")

    def tearDown(self):
        for p in self.procs:
            p.cleanup()
        for h in self.https:
            h.stop()
        with contextlib.suppress(OSError):
            os.unlink(self.cache)

    def server(self, *extra):
        p, port = sslib.our_server(METHOD, PASSWORD, "-v", *extra)
        self.procs.append(p)
        return p, port

    def document_server(self, pem=None):
        h = DocumentServer(pem or self.good)
        self.https.append(h)
        return h

    def echoes(self, port):
        return sslib.echoes_through(port, "127.0.0.1", self.echo4_port)

    def start_local(self, cfg, trust=True):
        """ss-local with the configuration `cfg`, trusting the test CA unless not `trust`."""
        path = sslib.write_temp(json.dumps(cfg), ".json")
        self.addCleanup(os.unlink, path)
        env = dict(os.environ)
        if trust:
            env["SSL_CERT_FILE"] = self.ca.path
        p = sslib.Proc([sslib.binary("ss-local"), "-c", path, "-v"], env=env)
        self.procs.append(p)
        return p, p.listen_port()


class OnlineConfig(OnlineFixture):

    def local(self, url, allowed=(), trust=True, interval=1):
        cfg = {"local_address": "127.0.0.1", "local_port": 0, "timeout": 10,
               "online_config": {"config_url": url, "update_interval": interval,
                                 "allowed_plugins": list(allowed), "cache_file": self.cache}}
        return self.start_local(cfg, trust)

    def test_the_servers_come_from_the_url_and_an_update_changes_them(self):
        a, a_port = self.server()
        b, b_port = self.server()
        doc = self.document_server()
        doc.serve([entry(a_port)])
        local, port = self.local(f"https://localhost:{doc.port}/list.json?token=secret")
        local.wait_for(r"online_config: 1 server\(s\) from https://localhost:\d+/list\.json\n")
        self.assertNotIn("secret", local.text())  # the URL's query may be a credential
        for _ in range(5):
            self.assertTrue(self.echoes(port))
        self.assertEqual(connections_to(a, self.echo4_port), 5)
        doc.serve([entry(b_port)])
        local.wait_for(r"online_config: 1 server\(s\) from .*\n(.|\n)*"
                       r"online_config: 1 server\(s\) from ", timeout=10)
        for _ in range(5):
            self.assertTrue(self.echoes(port))
        self.assertEqual(connections_to(a, self.echo4_port), 5)
        self.assertEqual(connections_to(b, self.echo4_port), 5)
        # The list is kept on disk, readable by its owner alone.
        with open(self.cache) as f:
            self.assertEqual(json.load(f)["servers"][0]["server_port"], b_port)
        self.assertEqual(os.stat(self.cache).st_mode & 0o777, 0o600)

    def test_a_restart_without_the_url_has_the_kept_list(self):
        a, a_port = self.server()
        doc = self.document_server()
        doc.serve([entry(a_port)])
        local, port = self.local(f"https://127.0.0.1:{doc.port}/")
        local.wait_for(r"online_config: 1 server\(s\) from https://127\.0\.0\.1")
        local.cleanup()
        self.procs.remove(local)
        doc.stop()
        self.https.remove(doc)
        local, port = self.local(f"https://127.0.0.1:{doc.port}/")
        local.wait_for(r"online_config: 1 server\(s\) from the list kept in ")
        self.assertTrue(self.echoes(port))
        local.wait_for(r"cannot update from https://127\.0\.0\.1:\d+/: cannot connect: .*; "
                       r"keeping the last good list \(1 server\(s\)\)")
        self.assertTrue(self.echoes(port))

    def test_a_malformed_document_keeps_the_last_good_list(self):
        a, a_port = self.server()
        doc = self.document_server()
        doc.serve([entry(a_port)])
        local, port = self.local(f"https://localhost:{doc.port}/")
        local.wait_for(r"online_config: 1 server\(s\)")
        for bad, why in ((b"<html>oops</html>", r"not JSON"),
                         (b'{"version": 1, "servers": [{"server": "127.0.0.1"}]}',
                          r"names no server we can use \(servers\[0\]: has no server_port")):
            doc.document = bad
            local.wait_for(rf"its document is refused: {why}.*keeping the last good list",
                           timeout=10)
            self.assertTrue(self.echoes(port))
        self.assertEqual(connections_to(a, self.echo4_port), 2)

    def test_a_certificate_that_expired_or_names_another_host_is_refused(self):
        a, a_port = self.server()
        for pem, why in ((self.expired, "certificate has expired"),
                         (self.other_host, "hostname mismatch")):
            doc = self.document_server(pem)
            doc.serve([entry(a_port)])
            local, port = self.local(f"https://localhost:{doc.port}/")
            local.wait_for(rf"cannot update from https://localhost:\d+/: the server's "
                           rf"certificate is refused: {why}; no server from it yet")
            self.assertNotIn("server(s) from", local.text())
            self.assertFalse(self.echoes(port))
            self.assertEqual(doc.requests, 0)  # nothing was asked over the refused session

    def test_a_ca_the_system_does_not_trust_is_refused(self):
        a, a_port = self.server()
        doc = self.document_server()
        doc.serve([entry(a_port)])
        local, port = self.local(f"https://localhost:{doc.port}/", trust=False)
        local.wait_for(r"the server's certificate is refused: unable to get local issuer "
                       r"certificate")
        self.assertEqual(doc.requests, 0)

    def test_a_plugin_in_the_document_runs_only_if_allowed(self):
        if shutil.which("obfs-server") is None:
            self.skipTest("simple-obfs is not installed")
        a_port = sslib.free_port()
        a = sslib.Proc([sslib.binary("ss-server"), "-s", "127.0.0.1", "-p", a_port, "-m", METHOD,
                        "-k", PASSWORD, "--outbound-allow-private", "-v", "--plugin",
                        "obfs-server", "--plugin-opts", "obfs=http"])
        self.procs.append(a)
        a.wait_for(r"listening on")
        b, b_port = self.server()
        with_plugin = entry(a_port, plugin="obfs-local",
                            plugin_opts="obfs=http;obfs-host=www.example.com")
        doc = self.document_server()
        doc.serve([with_plugin, entry(b_port)])
        local, port = self.local(f"https://localhost:{doc.port}/")
        local.wait_for(r"online_config: servers\[0\]: its plugin \"obfs-local\" is not in "
                       r"online_config.allowed_plugins; left out")
        local.wait_for(r"online_config: 1 server\(s\) from https://localhost:\d+/ \(1 left out\)")
        for _ in range(3):
            self.assertTrue(self.echoes(port))
        self.assertNotIn("plugin obfs-local", local.text())  # never started
        self.assertEqual(connections_to(b, self.echo4_port), 3)
        self.assertEqual(connections_to(a, self.echo4_port), 0)
        # Allowed, it runs and carries the connections to its server.
        doc2 = self.document_server()
        doc2.serve([with_plugin])
        local2, port2 = self.local(f"https://localhost:{doc2.port}/", allowed=["obfs-local"])
        local2.wait_for(r"online_config: 1 server\(s\)")
        local2.wait_for(r"plugin obfs-local \(pid \d+\) listening")
        self.assertTrue(self.echoes(port2))
        self.assertEqual(connections_to(a, self.echo4_port), 1)


class DynamicAccessKey(OnlineFixture):
    """Outline's dynamic access keys: --server-url ssconf://host/path (or https://) fetches the
    server's details over verified HTTPS, in both shapes Outline serves (a JSON object of them,
    an ss:// URL), refreshes them and keeps the last good one; the prefix they carry is used."""

    def ssconf_local(self, url, interval=1, cache=None):
        cfg = {"local_address": "127.0.0.1", "local_port": 0, "timeout": 10, "server_url": url,
               "online_config": {"update_interval": interval,
                                 "cache_file": cache or self.cache}}
        return self.start_local(cfg)

    def test_both_shapes_are_used_refreshed_and_the_last_good_kept(self):
        a, a_port = self.server()
        b, b_port = self.server()
        tap = sslib.Tap(a_port)
        self.addCleanup(tap.stop)
        doc = self.document_server()
        # The JSON object of a key's details, with Outline's prefix.
        doc.document = json.dumps({"server": "127.0.0.1", "server_port": tap.port,
                                   "password": PASSWORD, "method": METHOD,
                                   "prefix": "\u0016\u0003\u0001\u0000"}).encode()
        local, port = self.ssconf_local(f"ssconf://localhost:{doc.port}/keys/alice#Alice")
        local.wait_for(r"online_config: 1 server\(s\) from https://localhost:\d+/keys/alice\n")
        self.assertTrue(self.echoes(port))
        self.assertTrue(tap.sessions)
        self.assertTrue(bytes(tap.sessions[0][0]).startswith(b"\x16\x03\x01\x00"))
        # Refreshed: now a plain ss:// URL naming the other server.
        userinfo = base64.urlsafe_b64encode(f"{METHOD}:{PASSWORD}".encode()).decode().rstrip("=")
        doc.document = f"ss://{userinfo}@127.0.0.1:{b_port}/?outline=1#B\n".encode()
        local.wait_for(r"online_config: 1 server\(s\) from .*\n(.|\n)*"
                       r"online_config: 1 server\(s\) from ", timeout=10)
        self.assertTrue(self.echoes(port))
        self.assertEqual(connections_to(b, self.echo4_port), 1)
        # Broken: the last good one stays.
        doc.document = b"<html>502 Bad Gateway</html>"
        local.wait_for(r"its document is refused: not JSON.*keeping the last good list",
                       timeout=10)
        self.assertTrue(self.echoes(port))
        self.assertEqual(connections_to(b, self.echo4_port), 2)

    def test_an_https_key_works_the_same_and_an_untrusted_one_is_refused(self):
        a, a_port = self.server()
        doc = self.document_server()
        doc.document = json.dumps({"server": "127.0.0.1", "server_port": a_port,
                                   "password": PASSWORD, "method": METHOD}).encode()
        local, port = self.ssconf_local(f"https://localhost:{doc.port}/k")
        local.wait_for(r"online_config: 1 server\(s\) from https://localhost")
        self.assertTrue(self.echoes(port))
        # The same key with a certificate of another host: refused, nothing served.
        other = self.document_server(self.other_host)
        other.document = doc.document
        local, port = self.ssconf_local(f"ssconf://localhost:{other.port}/k",
                                        cache=self.cache + ".other")
        self.addCleanup(lambda: os.path.exists(self.cache + ".other") and
                        os.unlink(self.cache + ".other"))
        local.wait_for(r"certificate is refused: hostname mismatch; no server from it yet")
        self.assertFalse(self.echoes(port))


if __name__ == "__main__":
    unittest.main(verbosity=2)
