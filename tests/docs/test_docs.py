#!/usr/bin/env python3
"""The documents cannot drift from the program (issue 29):

- every relative link and #anchor in README.md and docs/*.md points at something that exists,
  and so does every link of the documents as `cmake --install` puts them;
- a shell block marked runnable (an HTML comment `<!-- test: run -->` on the line before its
  fence) runs, in a temporary directory with our programs first on PATH (and `build`,
  `config`, `scripts` linked there), in network, PID and mount namespaces of its own (so its
  fixed ports are free, nothing leaves the machine, every process it starts ends with it, and
  /run and /var/lib are empty and its own), and must succeed;
- every other shell block names only flags its programs take, and every JSON block only keys
  the programs know.
"""

import json
import os
import re
import shlex
import shutil
import subprocess
import tempfile
import unittest

SOURCE = os.path.normpath(os.path.join(os.path.dirname(__file__), "../.."))
BUILD = os.path.abspath(os.environ.get("SS_BUILD_DIR", os.path.join(SOURCE, "build")))
BIN_DIR = os.path.abspath(os.environ.get("SS_BIN_DIR", os.path.join(BUILD, "src")))
PROGRAMS = ("ss-local", "ss-server", "ss-tunnel", "ss-redir", "ss-manager")
RUN_MARK = "<!-- test: run -->"


def documents(root=SOURCE):
    """The Markdown files of a tree: README.md and docs/*.md (as in the repository or as
    installed)."""
    out = [os.path.join(root, "README.md")]
    docs = os.path.join(root, "docs")
    out += sorted(os.path.join(docs, f) for f in os.listdir(docs) if f.endswith(".md"))
    return out


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def blocks(text):
    """(language, body, runnable) of each fenced block."""
    out = []
    for m in re.finditer(r"^```(\S*)[^\n]*\n(.*?)^```[ \t]*$", text, re.M | re.S):
        before = text[:m.start()].rstrip("\n").rsplit("\n", 1)[-1].strip()
        out.append((m.group(1), m.group(2), before == RUN_MARK))
    return out


def without_blocks(text):
    return re.sub(r"^```.*?^```[ \t]*$", "", text, flags=re.M | re.S)


def prose(text):
    """The text without its fenced blocks and inline code."""
    return re.sub(r"`[^`\n]*`", "", without_blocks(text))


def anchor(heading):
    """GitHub's anchor of a heading: lower case, punctuation out, spaces to hyphens."""
    text = re.sub(r"[`*_]", "", heading.strip()).lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path):
    return {anchor(m.group(1))
            for m in re.finditer(r"^#{1,6} (.+)$", without_blocks(read(path)), re.M)}


def broken_links(path):
    """What is wrong with each relative link of `path`."""
    problems = []
    for target in re.findall(r"\]\(([^)\s]+)\)", prose(read(path))):
        if re.match(r"^[a-z]+:", target):
            continue  # http:, https:, mailto:
        file, _, fragment = target.partition("#")
        dest = os.path.normpath(os.path.join(os.path.dirname(path), file)) if file else path
        if not os.path.exists(dest):
            problems.append(f"{target}: no {os.path.relpath(dest, os.path.dirname(path))}")
        elif fragment and dest.endswith(".md") and fragment not in anchors(dest):
            problems.append(f"{target}: no heading #{fragment} in {os.path.basename(dest)}")
    return problems


def help_flags(program):
    out = subprocess.run([os.path.join(BIN_DIR, program), "--help"], capture_output=True,
                         text=True, timeout=30).stdout
    flags = set()
    for m in re.finditer(r"^  (-\S+)", out, re.M):
        flags.update(m.group(1).split(","))
    return flags


def config_keys():
    """The keys of docs/configuration.md's table (a unit test holds it equal to the program's)."""
    keys = set()
    for line in read(os.path.join(SOURCE, "docs/configuration.md")).splitlines():
        m = re.match(r"^\| `(\w+)` \|", line)
        if m:
            keys.add(m.group(1))
    return keys


def commands(body):
    """The commands of a shell block: prompts ("vps$ ", "$ ") and comments taken out,
    continued lines joined, split at |, && , || and ;."""
    text = re.sub(r"\\\n", " ", body)
    text = text.replace("$(", "\n").replace(")", " ")  # a command substitution: a command
    out = []
    for line in text.splitlines():
        line = re.sub(r"^\s*[\w.-]*\$ ", "", line)
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        for part in re.split(r"\|\||&&|[|;]", line):
            try:
                words = shlex.split(part, comments=True)
            except ValueError:
                continue
            if words:
                out.append(words)
    return out


def flags_named(words, programs):
    """(program, flag) for each flag given to one of our programs in `words`."""
    out = []
    for i, w in enumerate(words):
        name = os.path.basename(w)
        if name == "shadowsocks-cpp" and i + 1 < len(words) and f"ss-{words[i + 1]}" in programs:
            name, i = f"ss-{words[i + 1]}", i + 1
        if name not in programs:
            continue
        for arg in words[i + 1:]:
            if arg in (">", ">>", "<", "&", "2>&1"):
                break
            if re.match(r"^--?[A-Za-z]", arg):
                out.append((name, arg.split("=", 1)[0]))
        break
    return out


class Links(unittest.TestCase):
    def test_relative_links_and_anchors_resolve(self):
        for path in documents():
            with self.subTest(document=os.path.relpath(path, SOURCE)):
                self.assertEqual(broken_links(path), [])

    def test_the_checker_sees_a_broken_link_and_anchor(self):
        with tempfile.TemporaryDirectory() as tmp:
            page = os.path.join(tmp, "a.md")
            with open(page, "w") as f:
                f.write("# Top `x`, here\n[a](b.md) [c](#nowhere) [d](#top-x-here) `[e](f.md)`\n")
            self.assertEqual(broken_links(page),
                             ["b.md: no b.md", "#nowhere: no heading #nowhere in a.md"])

    @unittest.skipUnless(os.path.isfile(os.path.join(BUILD, "cmake_install.cmake")),
                         "no build to install")
    def test_installed_documents_link_only_to_installed_files(self):
        with tempfile.TemporaryDirectory() as prefix:
            r = subprocess.run(["cmake", "--install", BUILD, "--prefix", prefix],
                               capture_output=True, text=True, timeout=300)
            self.assertEqual(r.returncode, 0, r.stderr)
            root = os.path.join(prefix, "share/doc/shadowsocks-cpp")
            for path in documents(root):
                with self.subTest(document=os.path.relpath(path, root)):
                    self.assertEqual(broken_links(path), [])


class Blocks(unittest.TestCase):
    def test_shell_blocks_name_only_flags_their_programs_take(self):
        known = {p: help_flags(p) for p in PROGRAMS}
        checked = 0
        for path in documents():
            for lang, body, _ in blocks(read(path)):
                if lang not in ("sh", ""):
                    continue
                for words in commands(body):
                    for program, flag in flags_named(words, known):
                        checked += 1
                        with self.subTest(document=os.path.basename(path), command=words):
                            self.assertIn(flag, known[program], f"{program} {flag}")
        self.assertGreater(checked, 30)

    def test_json_blocks_name_only_known_keys(self):
        keys = config_keys()
        self.assertGreater(len(keys), 30)
        for path in documents():
            for lang, body, _ in blocks(read(path)):
                if lang != "json":
                    continue
                with self.subTest(document=os.path.basename(path), block=body[:60]):
                    doc = json.loads(body)
                    self.assertEqual(sorted(set(doc) - keys), [])

    @unittest.skipUnless(os.geteuid() == 0 and shutil.which("unshare"),
                         "needs root and unshare(1) for namespaces of its own")
    def test_runnable_blocks_run(self):
        runnable = [(path, body) for path in documents()
                    for lang, body, run in blocks(read(path)) if run]
        self.assertGreaterEqual(len(runnable), 3)
        for path, body in runnable:
            with self.subTest(document=os.path.basename(path), block=body[:60]):
                code, out = run_block(body)
                self.assertEqual(code, 0, f"{os.path.basename(path)}:\n{body}\n---\n{out}")

    @unittest.skipUnless(os.geteuid() == 0 and shutil.which("unshare"),
                         "needs root and unshare(1) for namespaces of its own")
    def test_a_failing_block_fails(self):
        code, _ = run_block("ss-server --no-such-flag\n")
        self.assertEqual(code, 2)
        code, _ = run_block("sleep 300 &\ntrue\n")  # and what it leaves running ends with it
        self.assertEqual(code, 0)


def run_block(body):
    """Runs a shell block as the runnable-block test does; (exit code, output)."""
    with tempfile.TemporaryDirectory() as tmp:
        os.symlink(BUILD, os.path.join(tmp, "build"))
        for name in ("config", "scripts"):
            os.symlink(os.path.join(SOURCE, name), os.path.join(tmp, name))
        with open(os.path.join(tmp, "block.sh"), "w") as f:
            f.write(body)
        env = dict(os.environ, PATH=BIN_DIR + os.pathsep + os.environ["PATH"], HOME=tmp)
        # The shell is PID 1 of its namespace: when it exits, whatever it started is killed.
        # /run and /var/lib, where the documents put sockets and state, are its own too.
        script = ("mount -t tmpfs tmpfs /run && mount -t tmpfs tmpfs /var/lib && "
                  "ip link set lo up && exec bash -euo pipefail block.sh")
        try:
            r = subprocess.run(["unshare", "--net", "--pid", "--fork", "--mount-proc",
                                "sh", "-c", script], cwd=tmp, env=env, capture_output=True,
                               text=True, timeout=120)
        except subprocess.TimeoutExpired as e:
            return -1, f"timed out after 120 s:\n{e.stdout}{e.stderr}"
        return r.returncode, r.stdout + r.stderr


if __name__ == "__main__":
    unittest.main(verbosity=2)
