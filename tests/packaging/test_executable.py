#!/usr/bin/env python3
"""The one executable (issue 28): every program answers under its link's name and as the first
argument, an unknown program is refused with exit code 2, the five names are links to one file,
and its stripped size is printed and held to the limit of its build (SS_SIZE_LIMIT bytes: the
release build's 3 MiB, the static build's 8.25 MiB). With SS_STATIC set, it is checked to need
no shared library at all, and its --print-url to say on a terminal that it draws no QR code.
With SS_START_RSS_LIMIT set (the static build linked in the recorded order), ss-server and
ss-local each hold at most that many bytes resident a second after they start with defaults.
For a cross build, SS_EMULATOR runs it (qemu-aarch64-static) and SS_STRIP strips it."""

import os
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "../integration"))
import sslib  # noqa: E402

BIN = os.environ["SS_BIN_DIR"]
EXE = os.path.join(BIN, "shadowsocks-cpp")
PROGRAMS = ("local", "server", "tunnel", "redir", "manager")
SIZE_LIMIT = int(os.environ.get("SS_SIZE_LIMIT", "0"))
START_RSS_LIMIT = int(os.environ.get("SS_START_RSS_LIMIT", "0"))
STATIC = os.environ.get("SS_STATIC") == "1"
EMULATOR = os.environ.get("SS_EMULATOR", "")
STRIP = os.environ.get("SS_STRIP") or "strip"


def run(*args, **kw):
    """Runs a command; ours (the executable, a link to it or a copy of it) runs under
    SS_EMULATOR when one is given."""
    args = [str(a) for a in args]
    if EMULATOR and os.path.isfile(args[0]) and os.path.getsize(args[0]) == os.path.getsize(EXE):
        args = [EMULATOR, *args]
    return subprocess.run(args, capture_output=True, text=True, timeout=120, **kw)


class MultiCall(unittest.TestCase):
    def test_links_are_one_file(self):
        for p in PROGRAMS:
            with self.subTest(program=p):
                link = os.path.join(BIN, f"ss-{p}")
                self.assertTrue(os.path.islink(link), link)
                self.assertTrue(os.path.samefile(link, EXE))

    def test_each_program_by_its_name_and_by_first_argument(self):
        for p in PROGRAMS:
            with self.subTest(program=p):
                by_name = run(os.path.join(BIN, f"ss-{p}"), "--version")
                self.assertEqual((by_name.returncode, by_name.stdout.strip()), (0, f"ss-{p} 0.1.0"))
                by_arg = run(EXE, p, "--version")
                self.assertEqual((by_arg.returncode, by_arg.stdout), (0, by_name.stdout))
                # --help is the program's own, under its own name, either way.
                help_name = run(os.path.join(BIN, f"ss-{p}"), "--help")
                help_arg = run(EXE, p, "--help")
                self.assertEqual(help_name.returncode, 0)
                self.assertEqual(help_name.stdout, help_arg.stdout)
                self.assertIn(f"ss-{p}", help_name.stdout.splitlines()[0])

    def test_a_link_under_another_name_and_rusts_names(self):
        with tempfile.TemporaryDirectory() as tmp:
            for name, program in (("ssserver", "ss-server"), ("sslocal", "ss-local"),
                                  ("ss-server.exe", "ss-server"), ("ssmanager", "ss-manager")):
                link = os.path.join(tmp, name)
                os.symlink(os.path.abspath(EXE), link)
                r = run(link, "--version")
                self.assertEqual((r.returncode, r.stdout.strip()), (0, f"{program} 0.1.0"), name)
            # Copied under a name that is no program: the first argument picks one.
            other = os.path.join(tmp, "proxy")
            shutil.copy(EXE, other)
            r = run(other, "tunnel", "--version")
            self.assertEqual((r.returncode, r.stdout.strip()), (0, "ss-tunnel 0.1.0"))

    def test_usage_and_bad_programs(self):
        r = run(EXE, "--help")
        self.assertEqual(r.returncode, 0)
        for p in PROGRAMS:
            self.assertIn(f"  {p} ", r.stdout)
        r = run(EXE, "--version")
        self.assertEqual((r.returncode, r.stdout.strip()), (0, "shadowsocks-cpp 0.1.0"))
        r = run(EXE)
        self.assertEqual(r.returncode, 2)
        self.assertIn("Usage: shadowsocks-cpp PROGRAM", r.stderr)
        for bad in ("bogus", "./ss-server", "-c"):
            r = run(EXE, bad)
            self.assertEqual(r.returncode, 2, bad)
            self.assertEqual(len(r.stderr.splitlines()), 1, r.stderr)
            self.assertIn(f'unknown program "{bad}"', r.stderr)

    def test_a_flag_error_names_the_program(self):
        r = run(EXE, "server", "--no-such-flag")
        self.assertEqual(r.returncode, 2)
        self.assertTrue(r.stderr.startswith("ss-server: "), r.stderr)


class Build(unittest.TestCase):
    @unittest.skipUnless(SIZE_LIMIT, "SS_SIZE_LIMIT is set for release builds only")
    def test_stripped_size_of_the_whole_set(self):
        with tempfile.TemporaryDirectory() as tmp:
            stripped = os.path.join(tmp, "shadowsocks-cpp")
            r = run(STRIP, "-o", stripped, EXE)
            self.assertEqual(r.returncode, 0, r.stderr)
            size = os.path.getsize(stripped)
        # Printed for the log (the whole set: the links take no room of their own).
        kind = ("static" if STATIC else "dynamic") + (" aarch64" if EMULATOR else "")
        print(f"\nsize: stripped {kind} executable for all five programs: {size} bytes "
              f"({size / 2**20:.2f} MiB; limit {SIZE_LIMIT / 2**20:.2f} MiB)", flush=True)
        self.assertLessEqual(size, SIZE_LIMIT)

    @unittest.skipUnless(START_RSS_LIMIT, "SS_START_RSS_LIMIT is set for the static build "
                         "linked in order only (the dynamic build: docs/performance.md)")
    def test_memory_at_start(self):
        method, password = "chacha20-ietf-poly1305", "memory-at-start-password"
        server = sslib.Proc([os.path.join(BIN, "ss-server"), "-s", "127.0.0.1", "-p", 0,
                             "-m", method, "-k", password])
        with sslib.running(server):
            local = sslib.Proc([os.path.join(BIN, "ss-local"), "-s", "127.0.0.1",
                                "-p", server.listen_port(), "-l", 0, "-m", method,
                                "-k", password])
            with sslib.running(local):
                local.listen_port()
                time.sleep(1.0)  # the second worker and the timers have started
                for name, proc in (("ss-server", server), ("ss-local", local)):
                    with open(f"/proc/{proc.p.pid}/status") as f:
                        status = dict(line.split(":", 1) for line in f if ":" in line)
                    rss = int(status["VmRSS"].split()[0]) * 1024
                    print(f"\nmemory: {name} a second after start: {rss / 2**20:.2f} MiB "
                          f"resident (limit {START_RSS_LIMIT / 2**20:.2f} MiB)", flush=True)
                    self.assertLessEqual(rss, START_RSS_LIMIT, name)

    @unittest.skipUnless(STATIC, "the static build only")
    def test_no_shared_library_at_all(self):
        if not EMULATOR:  # ldd runs the host's loader
            r = run("ldd", EXE)
            self.assertIn("not a dynamic executable", r.stdout + r.stderr)
        r = run("readelf", "-d", EXE)
        self.assertNotIn("NEEDED", r.stdout)
        self.assertNotIn("INTERP", run("readelf", "-l", EXE).stdout)

    @unittest.skipUnless(STATIC, "the static build only")
    def test_print_url_says_there_is_no_qr_code(self):
        args = [os.path.join(BIN, "ss-server"), "-s", "203.0.113.7", "-p", "8388", "-k",
                "correct horse battery staple", "--print-url"]
        code, out, err = sslib.run_on_terminal([EMULATOR, *args] if EMULATOR else args, 60)
        self.assertEqual(code, 0, err)
        lines = out.splitlines()
        self.assertTrue(lines[0].startswith("ss://"), lines)
        self.assertEqual(lines[1:], ["(this build draws no QR code: it has no libqrencode; "
                                     "`qrencode -t UTF8 URL` draws one)"])


if __name__ == "__main__":
    unittest.main(verbosity=2)
