#!/usr/bin/env python3
"""Deployment files (issue 7): the systemd units pass `systemd-analyze verify` and keep their
hardening, `cmake --install` puts every file in place, and the .deb built by CPack declares
its dependencies, resolves on this Debian 12 (`apt-get install --simulate`) and, unpacked
into a scratch root with `dpkg -x`, has the files where the units expect them."""

import gzip
import os
import re
import shutil
import subprocess
import tempfile
import unittest

SOURCE = os.path.normpath(os.path.join(os.path.dirname(__file__), "../.."))
BUILD = os.environ.get("SS_BUILD_DIR", os.path.join(SOURCE, "build"))
KINDS = ("local", "server", "tunnel", "redir")
# Every unit: the four programs' templates and ss-manager's one service, with what it runs.
UNITS = {f"ss-{kind}@.service": f"/usr/bin/ss-{kind} -c /etc/shadowsocks-cpp/%i.json"
         for kind in KINDS}
UNITS["ss-manager.service"] = "/usr/bin/ss-manager -c /etc/shadowsocks-cpp/manager.json"

HARDENING = ["Type=notify", "NotifyAccess=all", "ExecReload=/bin/kill -HUP $MAINPID",
             "DynamicUser=yes", "SupplementaryGroups=shadowsocks-cpp",
             "StateDirectory=shadowsocks-cpp", "NoNewPrivileges=yes", "ProtectSystem=strict",
             "ProtectHome=yes", "PrivateTmp=yes", "LimitNOFILE=1048576",
             "RestartPreventExitStatus=2"]
# The capabilities of each unit, and no more: binding ports below 1024, and for ss-redir's
# TPROXY (IP_TRANSPARENT) CAP_NET_ADMIN.
CAPABILITIES = {"local": "CAP_NET_BIND_SERVICE", "server": "CAP_NET_BIND_SERVICE",
                "tunnel": "CAP_NET_BIND_SERVICE", "redir": "CAP_NET_BIND_SERVICE CAP_NET_ADMIN",
                "manager": "CAP_NET_BIND_SERVICE"}


def kind_of(unit):
    return re.match(r"ss-(\w+)", unit).group(1)


def project_version():
    with open(os.path.join(SOURCE, "CMakeLists.txt")) as f:
        return re.search(r"project\(shadowsocks-cpp VERSION ([0-9.]+)", f.read()).group(1)


def run(*args, **kw):
    return subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=600,
                          **kw)


def verify(unit_text, bin_dir, kind, tmp):
    """systemd-analyze verify on an instance of the unit whose ExecStart points into
    `bin_dir`; returns (returncode, everything it printed)."""
    path = os.path.join(tmp, "ss-manager.service" if kind == "manager"
                        else f"ss-{kind}@check.service")
    with open(path, "w") as f:
        f.write(unit_text.replace("/usr/bin/", bin_dir.rstrip("/") + "/"))
    r = run("systemd-analyze", "verify", "--man=no", path)
    return r.returncode, (r.stdout + r.stderr).strip()


@unittest.skipUnless(shutil.which("systemd-analyze"), "systemd-analyze is not installed")
class Units(unittest.TestCase):
    def test_units_verify_cleanly_and_are_hardened(self):
        bin_dir = os.path.join(BUILD, "src")
        with tempfile.TemporaryDirectory() as tmp:
            for unit, command in UNITS.items():
                kind = kind_of(unit)
                with self.subTest(unit=unit):
                    with open(os.path.join(SOURCE, "config/systemd", unit)) as f:
                        text = f.read()
                    code, out = verify(text, bin_dir, kind, tmp)
                    self.assertEqual((code, out), (0, ""))
                    self.assertIn(f"ExecStart={command}", text)
                    lines = text.splitlines()
                    for setting in HARDENING:
                        self.assertIn(setting, lines)
                    for setting in ("CapabilityBoundingSet", "AmbientCapabilities"):
                        self.assertIn(f"{setting}={CAPABILITIES[kind]}", lines)
                    # systemd's own score of the sandbox (0 = fully locked down, 10 = none).
                    r = run("systemd-analyze", "security", "--offline=yes",
                            os.path.join(tmp, "ss-manager.service" if kind == "manager"
                                         else f"ss-{kind}@check.service"))
                    m = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", r.stdout)
                    self.assertIsNotNone(m, r.stdout + r.stderr)
                    self.assertLessEqual(float(m.group(1)), 2.5, r.stdout)

    def test_socket_units_verify_with_their_services(self):
        # Socket activation (issue 33): each .socket unit verifies beside its service (and
        # not without it: the check can fail), holds TCP and, for ss-server, UDP.
        bin_dir = os.path.join(BUILD, "src")
        for kind, listens in (("server", ["ListenStream=", "ListenDatagram="]),
                              ("local", ["ListenStream="])):
            with self.subTest(kind=kind), tempfile.TemporaryDirectory() as tmp:
                with open(os.path.join(SOURCE, "config/systemd", f"ss-{kind}@.socket")) as f:
                    socket_text = f.read()
                for setting in listens + ["WantedBy=sockets.target"]:
                    self.assertRegex(socket_text, "(?m)^" + re.escape(setting))
                socket_path = os.path.join(tmp, f"ss-{kind}@check.socket")
                with open(socket_path, "w") as f:
                    f.write(socket_text)
                r = run("systemd-analyze", "verify", "--man=no", socket_path)
                self.assertNotEqual(r.returncode, 0, "without its service")
                with open(os.path.join(SOURCE, "config/systemd", f"ss-{kind}@.service")) as f:
                    self.assertEqual(verify(f.read(), bin_dir, kind, tmp), (0, ""))
                r = run("systemd-analyze", "verify", "--man=no", socket_path)
                self.assertEqual((r.returncode, (r.stdout + r.stderr).strip()), (0, ""))

    def test_the_sandbox_lets_a_plugin_run(self):
        # SIP003 plugins (docs/plugins.md) are programs from /usr/bin that the daemon forks,
        # execs, watches through a pidfd and reaps: the system call filter must allow it all,
        # and no setting may forbid executing programs.
        needed = {"execve", "clone", "pidfd_open", "prctl", "wait4", "pipe2", "kill", "dup2"}
        cache = {}

        def expand(group):
            if group not in cache:
                out = run("systemd-analyze", "syscall-filter", group).stdout.splitlines()
                names = set()
                for line in out[1:]:
                    word = line.strip()
                    if not word or word.startswith("#"):
                        continue
                    names |= expand(word) if word.startswith("@") else {word}
                cache[group] = names
            return cache[group]

        for unit in UNITS:
            with self.subTest(unit=unit):
                with open(os.path.join(SOURCE, "config/systemd", unit)) as f:
                    text = f.read()
                for forbidding in ("NoExecPaths=", "ExecPaths=", "SystemCallFilter=~"):
                    self.assertNotIn(forbidding, text)
                allowed = set()
                for line in re.findall(r"^SystemCallFilter=(.*)$", text, re.M):
                    for item in line.split():
                        allowed |= expand(item) if item.startswith("@") else {item}
                self.assertLessEqual(needed, allowed, needed - allowed)

    def test_verify_catches_a_broken_unit(self):
        # The check above can fail: a typo or a missing binary is reported.
        with open(os.path.join(SOURCE, "config/systemd/ss-server@.service")) as f:
            text = f.read()
        with tempfile.TemporaryDirectory() as tmp:
            code, out = verify(text.replace("Type=notify", "Type=notfy"),
                               os.path.join(BUILD, "src"), "server", tmp)
            self.assertIn("notfy", out)
            code, out = verify(text, "/nonexistent", "server", tmp)
            self.assertNotEqual(code, 0)


class Install(unittest.TestCase):
    def test_cmake_install_puts_everything_in_place(self):
        with tempfile.TemporaryDirectory() as prefix:
            r = run("cmake", "--install", BUILD, "--prefix", prefix)
            self.assertEqual(r.returncode, 0, r.stderr)
            for kind in KINDS:
                binary = os.path.join(prefix, "bin", f"ss-{kind}")
                self.assertTrue(os.access(binary, os.X_OK), binary)
                unit = os.path.join(prefix, "lib/systemd/system", f"ss-{kind}@.service")
                with open(unit) as f:
                    self.assertIn(f"ExecStart={binary} -c ", f.read())
                man = os.path.join(prefix, "share/man/man1", f"ss-{kind}.1.gz")
                with gzip.open(man, "rt") as f:
                    page = f.read()
                # The version and the documents' folder are filled in for this prefix.
                self.assertNotRegex(page, r"@[A-Z_]+@", man)
                self.assertIn(f"{prefix}/share/doc/shadowsocks-cpp/docs/configuration.md", page)
            docs = os.path.join(prefix, "share/doc/shadowsocks-cpp")
            for name in ("docs/guide.md", "docs/configuration.md", "docs/troubleshooting.md",
                         "README.md",
                         "examples/server.json", "examples/local.json", "examples/manager.json",
                         "copyright", "changelog.gz"):
                self.assertTrue(os.path.isfile(os.path.join(docs, name)), name)
            with open(os.path.join(prefix, "lib/systemd/system/ss-manager.service")) as f:
                self.assertIn(f"ExecStart={prefix}/bin/ss-manager -c ", f.read())
            for unit in ("ss-server@.socket", "ss-local@.socket"):
                self.assertTrue(os.path.isfile(os.path.join(prefix, "lib/systemd/system", unit)))
            # The copyright file carries LICENSE's text (as Debian's machine-readable format
            # writes it); the changelog's latest entry is this version.
            with open(os.path.join(SOURCE, "LICENSE")) as f:
                license_text = f.read()
            with open(os.path.join(docs, "copyright")) as f:
                copyright_text = f.read()
            self.assertIn("License: Expat", copyright_text)
            body = license_text[license_text.index("Permission"):].strip().split("\n")
            self.assertIn("\n".join(" " + (line or ".") for line in body), copyright_text)
            with gzip.open(os.path.join(docs, "changelog.gz"), "rt") as f:
                self.assertEqual(f.readline().split()[1], f"({project_version()})")


class PackagersBuild(unittest.TestCase):
    def test_without_tests_it_builds_the_program_and_its_pages_only(self):
        # -DSS_BUILD_TESTS=OFF (a packager's build): no test, no benchmark among the targets.
        with tempfile.TemporaryDirectory() as tmp:
            r = run("cmake", "-S", SOURCE, "-B", tmp, "-DSS_BUILD_TESTS=OFF")
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            targets = run("cmake", "--build", tmp, "--target", "help").stdout
            for wanted in ("shadowsocks-cpp", "ss_man"):
                self.assertIn(f"... {wanted}\n", targets)
            for unwanted in ("udp_load", "acl_bench", "key_ring_bench", "conn_load",
                             "ss_app_tests", "blake3_tool"):
                self.assertNotIn(f"... {unwanted}\n", targets)


@unittest.skipUnless(shutil.which("dpkg-deb") and shutil.which("cpack"), "dpkg or cpack missing")
class DebianPackage(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp()
        r = run("cpack", "--config", os.path.join(BUILD, "CPackConfig.cmake"), "-B", cls.tmp)
        if r.returncode != 0:
            raise AssertionError(r.stdout + r.stderr)
        debs = [f for f in os.listdir(cls.tmp) if f.endswith(".deb")]
        assert len(debs) == 1, debs
        cls.deb = os.path.join(cls.tmp, debs[0])
        cls.root = os.path.join(cls.tmp, "root")
        r = run("dpkg", "-x", cls.deb, cls.root)
        assert r.returncode == 0, r.stderr

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def field(self, name):
        return run("dpkg-deb", "-f", self.deb, name).stdout.strip()

    def test_control_fields(self):
        self.assertEqual(self.field("Package"), "shadowsocks-cpp")
        self.assertEqual(self.field("Architecture"), "amd64")
        depends = self.field("Depends")
        for lib in ("libssl3", "libc-ares2", "libqrencode4", "libspdlog", "libstdc++6",
                    "adduser"):
            self.assertIn(lib, depends)
        # sd_notify is our own code: libsystemd is not linked.
        self.assertNotIn("libsystemd", depends)
        # A maintainer others can write to (lintian refuses localhost).
        self.assertRegex(self.field("Maintainer"), r"^[^<>]+ <[^@<>]+@[^@<>]+\.[a-z]+>$")
        self.assertNotIn("localhost", self.field("Maintainer"))
        # Next to libev, not instead of it (packaging/preinst diverts its five commands).
        self.assertEqual(self.field("Conflicts"), "")
        self.assertEqual(self.field("Replaces"), "")
        self.assertEqual(self.field("Provides"), "")
        r = run("dpkg-deb", "--ctrl-tarfile", self.deb)
        self.assertEqual(r.returncode, 0)

    def test_files_are_where_the_units_expect_them(self):
        unit_dir = os.path.join(self.root, "usr/lib/systemd/system")
        for kind in KINDS:
            with self.subTest(kind=kind):
                binary = os.path.join(self.root, "usr/bin", f"ss-{kind}")
                self.assertTrue(os.access(binary, os.X_OK), binary)
                with open(os.path.join(unit_dir, f"ss-{kind}@.service")) as f:
                    text = f.read()
                m = re.search(r"^ExecStart=(\S+)", text, re.M)
                self.assertEqual(m.group(1), f"/usr/bin/ss-{kind}")
                with tempfile.TemporaryDirectory() as tmp:
                    code, out = verify(text, os.path.join(self.root, "usr/bin"), kind, tmp)
                    self.assertEqual((code, out), (0, ""))
                # The packaged binary runs with the libraries its Depends names.
                r = run(binary, "--version")
                self.assertEqual(r.returncode, 0, r.stderr)
                self.assertIn("0.1.0", r.stdout)
                self.assertTrue(os.path.isfile(os.path.join(self.root, "usr/share/man/man1",
                                                            f"ss-{kind}.1.gz")))
        # ss-manager: one service, not a template.
        manager = os.path.join(self.root, "usr/bin/ss-manager")
        self.assertEqual(run(manager, "--version").stdout.strip(), "ss-manager 0.1.0")
        for name in ("ss-manager.1.gz", "shadowsocks-cpp.1.gz"):
            self.assertTrue(os.path.isfile(os.path.join(self.root, "usr/share/man/man1", name)))
        with open(os.path.join(unit_dir, "ss-manager.service")) as f:
            text = f.read()
        self.assertIn("ExecStart=/usr/bin/ss-manager -c /etc/shadowsocks-cpp/manager.json", text)
        with tempfile.TemporaryDirectory() as tmp:
            self.assertEqual(verify(text, os.path.join(self.root, "usr/bin"), "manager", tmp),
                             (0, ""))
        doc = os.path.join(self.root, "usr/share/doc/shadowsocks-cpp")
        self.assertTrue(os.path.isfile(os.path.join(doc, "docs/guide.md")))
        self.assertTrue(os.path.isfile(os.path.join(doc, "examples/server.json")))

    @unittest.skipUnless(shutil.which("lintian"), "lintian is not installed")
    def test_lintian_finds_no_error_and_no_warning(self):
        # What is left at --pedantic are two notes (I:), not warnings: the ss-manager service
        # has no init.d script (the units need systemd: DynamicUser, notify, state
        # directories), and docs/install.md says so.
        r = run("lintian", "--fail-on", "error,warning", "--display-info", "--pedantic",
                self.deb)
        tags = [line for line in r.stdout.splitlines() if re.match(r"^[EWIPXO]: ", line)]
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual([t for t in tags if t[0] in "EW"], [], r.stdout)

    def test_postinst_creates_the_config_group(self):
        r = run("dpkg-deb", "-e", self.deb, os.path.join(self.tmp, "control"))
        self.assertEqual(r.returncode, 0, r.stderr)
        postinst = os.path.join(self.tmp, "control", "postinst")
        self.assertTrue(os.access(postinst, os.X_OK))
        with open(postinst) as f:
            text = f.read()
        self.assertIn("addgroup --system --quiet shadowsocks-cpp", text)
        self.assertEqual(run("sh", "-n", postinst).returncode, 0)

    @unittest.skipUnless(shutil.which("apt-get"), "apt-get is not available")
    def test_installs_on_this_debian(self):
        # A simulation: resolves every dependency against the archive, changes nothing.
        r = run("apt-get", "install", "--simulate", "-o", "Debug::NoLocking=1", self.deb)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertRegex(r.stdout, r"Inst shadowsocks-cpp \(0\.1\.0")
        # Nothing goes: not libev, not the plugin packages that depend on it.
        self.assertNotIn("Remv ", r.stdout)

    @unittest.skipUnless(os.geteuid() == 0 and shutil.which("unshare"),
                         "needs root and unshare(1) for a throw-away copy of the system")
    def test_installs_next_to_libev_and_its_plugins_in_a_copy_of_this_system(self):
        needed = ("shadowsocks-libev", "simple-obfs", "shadowsocks-v2ray-plugin")
        for package in needed:
            status = run("dpkg-query", "-W", "-f=${Status}", package).stdout
            if status != "install ok installed":
                self.skipTest(f"{package} is not installed (scripts/install-deps.sh installs it)")
        # dpkg -i for real, in an overlay of / inside a private mount and network namespace:
        # the machine itself is not touched, and the daemons' ports are the namespace's own.
        work = os.path.join(self.tmp, "overlay")
        for d in ("upper", "work", "merged"):
            os.makedirs(os.path.join(work, d), exist_ok=True)
        shutil.copy(self.deb, os.path.join(work, "upper"))
        script = OVERLAY_SCRIPT.format(work=work, deb=os.path.basename(self.deb),
                                       packages=" ".join(needed))
        r = subprocess.run(["unshare", "-m", "-n", "--propagation", "private", "sh", "-c", script],
                           capture_output=True, text=True, timeout=300)
        out = r.stdout + r.stderr
        if "overlay-unavailable" in out:
            self.skipTest("overlayfs is not available here")
        self.assertEqual(r.returncode, 0, out)
        for line in ("installed: shadowsocks-cpp", "ours: ss-server 0.1.0",
                     "ours: ss-manager 0.1.0", "libev's: shadowsocks-libev",
                     "libev's ss-manager: shadowsocks-libev", "shadowsocks-libev.service: listening",
                     "shadowsocks-libev-server@config.service: listening",
                     "shadowsocks-libev-local@config.service: listening",
                     "shadowsocks-libev-redir@config.service: listening",
                     "removed: shadowsocks-cpp", "back: shadowsocks-libev", "diversions left: 0",
                     "upgraded by postinst: ",
                     "systemctl kill --kill-whom=main --signal=SIGUSR2 ss-server@upgrade.service"):
            self.assertIn(line, out)
        for package in needed:
            self.assertEqual(out.count(f"still installed: {package}"), 2, out)


# Runs inside `unshare -m -n`: an overlay of / at {work}/merged, then dpkg in a chroot there.
# Each check prints a line the test looks for.
OVERLAY_SCRIPT = r"""
set -e
mount -t overlay overlay -o lowerdir=/,upperdir={work}/upper,workdir={work}/work   {work}/merged 2>/dev/null || {{ echo overlay-unavailable; exit 0; }}
for d in proc sys dev; do mount --rbind /$d {work}/merged/$d; done
ip link set lo up 2>/dev/null || true
chroot {work}/merged /bin/sh -e -c '
export DEBIAN_FRONTEND=noninteractive PATH=/usr/sbin:/usr/bin:/sbin:/bin
still_installed() {{
  for p in {packages}; do
    [ "$(dpkg-query -W -f="\${{Status}}" $p)" = "install ok installed" ] &&
      echo "still installed: $p"
  done
}}
dpkg -i /{deb} >/tmp/dpkg.log 2>&1 || {{ cat /tmp/dpkg.log; exit 1; }}
echo "installed: $(dpkg-query -W -f="\${{Package}}" shadowsocks-cpp)"
still_installed
echo "ours: $(/usr/bin/ss-server --version)"
/usr/bin/ss-server.libev -h 2>&1 | grep -q shadowsocks-libev && echo "libev'"'"'s: shadowsocks-libev"
echo "ours: $(/usr/bin/ss-manager --version)"
/usr/bin/ss-manager.libev -h 2>&1 | grep -q shadowsocks-libev &&
  echo "libev'"'"'s ss-manager: shadowsocks-libev"
# What libev'"'"'s units run, with their own files, runs our daemons.
start() {{
  name=$1; shift
  "$@" >/tmp/$name.log 2>&1 &
  pid=$!
  for i in $(seq 100); do grep -q "listening on" /tmp/$name.log && break; sleep 0.1; done
  grep -q "listening on" /tmp/$name.log && echo "$name: listening" || cat /tmp/$name.log
  kill $pid; wait $pid || true
}}
unit_command() {{
  sed -n "s/^ExecStart=//p" /lib/systemd/system/$1 | sed "s/%i/$2/g"
}}
. /etc/default/shadowsocks-libev
start shadowsocks-libev.service $(unit_command shadowsocks-libev.service |   sed "s|\$CONFFILE|$CONFFILE|; s|\$DAEMON_ARGS|$DAEMON_ARGS|")
start shadowsocks-libev-server@config.service $(unit_command "shadowsocks-libev-server@.service" config)
start shadowsocks-libev-local@config.service $(unit_command "shadowsocks-libev-local@.service" config)
start shadowsocks-libev-redir@config.service $(unit_command "shadowsocks-libev-redir@.service" config)
# A package upgrade hands a running service over to the new program (packaging/postinst),
# with a stand-in systemctl that knows one running unit: our ss-server, started with -f.
mkdir -p /run/systemd/system
printf "%s\n" "#!/bin/sh" "echo \"systemctl \$*\" >>/tmp/systemctl.log" \
  "[ \"\$1\" = list-units ] && echo \"ss-server@upgrade.service loaded active running x\"" \
  "[ \"\$1 \$2 \$3 \$4\" = \"kill --kill-whom=main --signal=SIGUSR2 ss-server@upgrade.service\" ] && kill -USR2 \$(cat /run/ss-upgrade.pid)" \
  "exit 0" >/usr/sbin/systemctl
chmod 755 /usr/sbin/systemctl
/usr/bin/ss-server -s 127.0.0.1 -p 18765 -m aes-256-gcm -k "a password for the upgrade" -f /run/ss-upgrade.pid
before=$(cat /run/ss-upgrade.pid)
dpkg -i /{deb} >/tmp/dpkg-again.log 2>&1 || {{ cat /tmp/dpkg-again.log; exit 1; }}
for i in $(seq 100); do [ "$(cat /run/ss-upgrade.pid)" != "$before" ] && break; sleep 0.1; done
after=$(cat /run/ss-upgrade.pid)
[ "$after" != "$before" ] && kill -0 "$after" && echo "upgraded by postinst: $before to $after"
cat /tmp/systemctl.log
kill "$after" 2>/dev/null || true
rm -f /usr/sbin/systemctl
rm -rf /run/systemd
dpkg -r shadowsocks-cpp >/tmp/dpkg-r.log 2>&1 || {{ cat /tmp/dpkg-r.log; exit 1; }}
[ "$(dpkg-query -W -f="\${{Status}}" shadowsocks-cpp 2>/dev/null)" != "install ok installed" ] &&
  echo "removed: shadowsocks-cpp"
/usr/bin/ss-server -h 2>&1 | grep -q shadowsocks-libev && echo "back: shadowsocks-libev"
echo "diversions left: $(dpkg-divert --list "*shadowsocks-cpp*" | wc -l)"
still_installed
'
"""


if __name__ == "__main__":
    unittest.main(verbosity=2)
