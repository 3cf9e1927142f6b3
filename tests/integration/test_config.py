#!/usr/bin/env python3
"""Bad flags and configs: exit code 2 and one line per problem naming the key or flag
(issue 3). Good ones: flags override the file; unknown keys are a warning."""

import base64
import json
import secrets
import os
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import sslib  # noqa: E402


def run(name, *args, timeout=20):
    r = subprocess.run([sslib.binary(name), *map(str, args)], capture_output=True, text=True,
                       timeout=timeout * sslib.SLOW, stdin=subprocess.DEVNULL)
    return r.returncode, r.stderr.strip().splitlines(), r.stdout


def config_file(obj_or_text):
    f = tempfile.NamedTemporaryFile("w", suffix=".json", delete=False)
    f.write(obj_or_text if isinstance(obj_or_text, str) else json.dumps(obj_or_text))
    f.close()
    return f.name


GOOD_LOCAL = ["-s", "127.0.0.1", "-p", "8388", "-k", "secret"]


class OneLine:
    """A refusal is exit code 2 and one line naming the problem."""

    def expect_one_line(self, name, args, *needles):
        code, lines, _ = run(name, *args)
        self.assertEqual(code, 2, f"{args}: {lines}")
        self.assertEqual(len(lines), 1, f"{args}: expected one line, got {lines}")
        self.assertTrue(lines[0].startswith(name + ": "), lines[0])
        for n in needles:
            self.assertIn(n, lines[0])
        self.assertNotIn("secret", lines[0], "a password must never be echoed")
        return lines[0]


class BadInput(OneLine, unittest.TestCase):
    def test_bad_flags(self):
        cases = [
            (["-p", "abc"], "-p", "whole number"),
            (["-p", "70000"], "-p", "port number"),
            (["-p", "0"], "-p", "port number"),
            (["-l", "-5"], "-l", "port number"),
            (["-t", "0"], "-t", "seconds"),
            (["-t", "x"], "-t", "whole number"),
            (["--workers", "0"], "--workers", "1 to 1024"),
            (["-m", "rc4-md5"], "-m", "stream cipher", "supported: aes-128-gcm"),
            (["-m", "none"], "-m", "without encryption"),
            (["-m", "aes-256-cfb"], "-m", "stream cipher"),
            (["-m", "bogus"], "-m", "not supported", "xchacha20-ietf-poly1305"),
            (["--key", "not base64!"], "--key", "base64"),
            (["-m", "aes-128-gcm", "--key", "qBBSBGBKCxHpFvOHmq47C85cafdYUUFJ2mBau/FoAZQ="],
             "--key", "16 bytes"),
            (["--udp-timeout", "0"], "--udp-timeout", "seconds"),
            (["--udp-max-associations", "0"], "--udp-max-associations", "1 to 1048576"),
            (["--bogus"], "--bogus"),
            (["-k", ""], "-k", "empty"),
        ]
        for extra, *needles in cases:
            with self.subTest(extra=extra):
                # The flag under test comes last so it overrides the good value before it.
                self.expect_one_line("ss-local", GOOD_LOCAL + extra, *needles)

    def test_every_problem_at_once(self):
        code, lines, _ = run("ss-local")
        self.assertEqual(code, 2)
        text = "\n".join(lines)
        for key in ("server:", "server_port:", "password:"):
            self.assertIn(key, text)
        # One line per problem, then where the settings come from (no -c was given).
        self.assertEqual(len(lines), 4, lines)
        self.assertIn("-c FILE", lines[-1])
        self.assertIn("--help", lines[-1])
        code, lines, _ = run("ss-local", "-p", "x", "-t", "y")
        self.assertEqual(code, 2)
        self.assertEqual(len(lines), 2, lines)

    def test_tunnel_needs_a_destination(self):
        self.expect_one_line("ss-tunnel", GOOD_LOCAL, "tunnel_address", "-L")
        self.expect_one_line("ss-tunnel", GOOD_LOCAL + ["-L", "nohost"], "-L", "host:port")
        self.expect_one_line("ss-tunnel", GOOD_LOCAL + ["-L", "[::1]:0"], "-L", "host:port")

    def test_bad_config_files(self):
        missing = os.path.join(tempfile.gettempdir(), "does-not-exist-ss.json")
        self.expect_one_line("ss-local", ["-c", missing], "-c", "cannot read")
        cases = [
            ("{ \"server\": ", "config file", "not valid JSON", "line"),
            ("[1, 2]", "config file", "JSON object"),
            ('{"timeout": 15e66666666}', "config file", "not valid JSON"),
            ({"server": "127.0.0.1", "server_port": "abc", "password": "secret"}, "server_port",
             "whole number"),
            ({"server": 5, "server_port": 8388, "password": "secret"}, "server", "string"),
            ({"server": "127.0.0.1", "server_port": 8388, "password": "secret",
              "method": "rc4-md5"}, "method", "stream cipher"),
            ({"server": "127.0.0.1", "server_port": 8388, "password": "secret",
              "fast_open": "yes"}, "fast_open", "true or false"),
            ({"server": "127.0.0.1", "server_port": 8388, "password": "secret",
              "udp_timeout": "soon"}, "udp_timeout", "whole number"),
            ({"server": "127.0.0.1", "server_port": 8388, "password": "secret",
              "mode": "both"}, "mode", "tcp_only"),
            ({"server": "127.0.0.1", "server_port": 8388, "password": "secret",
              "timeout": -1}, "timeout", "seconds"),
        ]
        for content, *needles in cases:
            with self.subTest(content=content):
                path = config_file(content)
                try:
                    self.expect_one_line("ss-local", ["-c", path], *needles)
                finally:
                    os.unlink(path)

    def test_port_in_use_is_a_start_failure(self):
        server, port = sslib.our_server("aes-128-gcm", "secret")
        with sslib.running(server):
            code, lines, _ = run("ss-server", "-s", "127.0.0.1", "-p", port, "-k", "x")
            self.assertEqual(code, 1)
            self.assertIn("cannot listen", "\n".join(lines))


class GoodInput(OneLine, unittest.TestCase):
    def test_help_and_version(self):
        for name in ("ss-local", "ss-server", "ss-tunnel"):
            code, _, out = run(name, "--help")
            self.assertEqual(code, 0)
            for flag in ("-c", "-s", "-p", "-k", "--key", "-m", "-t", "-u", "-U", "-v",
                         "--fast-open", "--no-delay", "--reuse-port", "--workers",
                         "--udp-timeout", "--udp-max-associations"):
                self.assertIn(flag, out, f"{name} --help lacks {flag}")
            code, _, out = run(name, "--version")
            self.assertEqual(code, 0)
            self.assertIn(name, out)

    def test_flags_override_the_file_and_unknown_keys_warn(self):
        path = config_file({"server": "127.0.0.1", "server_port": 1, "password": "from-file",
                            "method": "aes-128-gcm", "timeout": 30, "remarks": "my server",
                            "plugin": "", "shiny_new_key": 1})
        try:
            p = sslib.Proc([sslib.binary("ss-server"), "-c", path, "-p", 0, "-m", "aes-256-gcm"])
            with sslib.running(p):
                port = p.listen_port()
                text = p.text()
                self.assertNotEqual(port, 1)
                self.assertIn("method aes-256-gcm", text)
                self.assertIn('"remarks" is not supported', text)
                self.assertNotIn("plugin", text, 'an empty "plugin" asks for nothing')
                self.assertIn('unknown config key "shiny_new_key"', text)
                # A password shorter than 16 characters: a warning that gives its length only.
                self.assertIn("password: 9 characters is short", text)
                self.assertNotIn("from-file", text, "a password must never be logged")
        finally:
            os.unlink(path)

    def test_udp_keys_in_json(self):
        path = config_file({"server": "127.0.0.1", "server_port": 0,
                            "password": "a-long-enough-password",
                            "mode": "tcp_and_udp", "udp_timeout": 30,
                            "udp_max_associations": 10})
        try:
            p = sslib.Proc([sslib.binary("ss-server"), "-c", path, "--workers", 1])
            with sslib.running(p):
                p.listen_port()
                self.assertIn("tcp_and_udp", p.text())
                self.assertNotIn("warn", p.text())
        finally:
            os.unlink(path)

    def test_libev_style_json_with_string_port_and_server_list(self):
        path = config_file({"server": ["127.0.0.1", "::1"], "server_port": "0",
                            "password": "p", "method": "chacha20-ietf-poly1305"})
        try:
            p = sslib.Proc([sslib.binary("ss-server"), "-c", path, "--workers", 1])
            with sslib.running(p):
                line = p.wait_for(r"listening on (\S+)").group(1)
                self.assertIn("127.0.0.1:", line)
                self.assertIn("[::1]:", line)
        finally:
            os.unlink(path)

    def test_example_configs_start_once_their_password_is_replaced(self):
        config_dir = os.path.join(os.path.dirname(__file__), "..", "..", "config")
        for name, extra in (("ss-server", ["-s", "127.0.0.1", "-p", 0]),
                            ("ss-local", ["-l", 0]), ("ss-tunnel", ["-l", 0])):
            with self.subTest(name=name):
                path = os.path.join(config_dir, name[3:] + ".json")
                # As shipped, the published placeholder password is refused ...
                self.expect_one_line(name, ["-c", path, *extra], "password", "placeholder",
                                     "--keygen")
                # ... and with a real one the example starts without a warning.
                p = sslib.Proc([sslib.binary(name), "-c", path, *extra,
                                "-k", secrets.token_urlsafe(24)])
                with sslib.running(p):
                    p.listen_port()
                    self.assertNotIn("warn", p.text())

    def test_keygen_makes_a_key_for_the_method(self):
        for method, size in (("aes-128-gcm", 16), ("chacha20-ietf-poly1305", 32)):
            with self.subTest(method=method):
                keys = []
                for _ in range(2):
                    r = subprocess.run([sslib.binary("ss-server"), "-m", method, "--keygen"],
                                       capture_output=True, text=True, timeout=20)
                    self.assertEqual(r.returncode, 0, r.stderr)
                    keys.append(r.stdout.strip())
                    self.assertEqual(len(base64.b64decode(keys[-1])), size)
                self.assertNotEqual(keys[0], keys[1])
                # Good as a key as it is, and as a password (long enough: no warning).
                for flag in ("--key", "-k"):
                    p = sslib.Proc([sslib.binary("ss-server"), "-s", "127.0.0.1", "-p", 0,
                                    "-m", method, flag, keys[0]])
                    with sslib.running(p):
                        p.listen_port()
                        self.assertNotIn("warn", p.text())
        code, lines, _ = run("ss-local", "-m", "rc4-md5", "--keygen")
        self.assertEqual(code, 2)
        self.assertIn("-m:", lines[0])

    def test_config_file_rules(self):
        good = '"server": "127.0.0.1", "server_port": 8388, "password": "long-enough-password"'
        cases = [
            # A syntax error names the file.
            ('{' + good + ' "x"}', "config file", "not valid JSON", "{path}"),
            # A key one or two letters from a known one is a typo, not an unknown key.
            ('{' + good + ', "methd": "aes-128-gcm"}', "methd", 'did you mean "method"'),
            ('{' + good + ', "time_out": 5}', "time_out", 'did you mean "timeout"'),
            # Features we lack refuse to start instead of running without them.
            # A plugin that is not installed stops the start, naming it.
            ('{' + good + ', "plugin": "obfs-absent", "plugin_opts": "obfs=http"}', "plugin",
             '"obfs-absent" is not installed'),
            # An ACL file that is not there.
            ('{' + good + ', "acl": "/etc/no-such.acl"}', "acl", "cannot read /etc/no-such.acl"),
        ]
        for text, *needles in cases:
            with self.subTest(text=text):
                path = config_file(text)
                try:
                    self.expect_one_line("ss-local", ["-c", path],
                                         *[n.replace("{path}", path) for n in needles])
                finally:
                    os.unlink(path)

    def test_comments_and_trailing_commas_as_rust_and_libev_accept_them(self):
        path = config_file("""{
            // shadowsocks-rust accepts comments
            "server": "127.0.0.1", /* and block comments */
            "server_port": 0,
            "password": "a-long-enough-password, with a comma,}",
            "mode": "tcp_only",   // libev accepts the trailing comma below
        }""")
        try:
            p = sslib.Proc([sslib.binary("ss-server"), "-c", path, "--workers", 1])
            with sslib.running(p):
                p.listen_port()
                self.assertNotIn("warn", p.text())
        finally:
            os.unlink(path)


if __name__ == "__main__":
    unittest.main(verbosity=2)
