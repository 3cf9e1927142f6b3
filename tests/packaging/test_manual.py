#!/usr/bin/env python3
"""The man pages and --help cannot drift apart (issue 29): each program's page, as the build
generated it, lists exactly the flags its --help lists, with the same text; a --no-X switch
says what it turns off; and every page points at the other four programs."""

import os
import re
import subprocess
import unittest

BIN_DIR = os.environ.get("SS_BIN_DIR", "build/src")
MAN_DIR = os.environ.get("SS_MAN_DIR", os.path.join(os.path.dirname(BIN_DIR), "man"))
PROGRAMS = ("ss-local", "ss-server", "ss-tunnel", "ss-redir", "ss-manager")


def help_entries(program):
    """{flag: (value name, text)} from `program --help`. CLI11's layout (column width 28): the
    names and the value's name, then the text from column 28; or, when the names reach that
    column, the text alone on the next line."""
    out = subprocess.run([os.path.join(BIN_DIR, program), "--help"], capture_output=True,
                         text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    entries = {}
    lines = out.stdout.splitlines()
    for i, line in enumerate(lines):
        if not line.startswith("  -"):
            continue
        alone = i + 1 < len(lines) and lines[i + 1].startswith(" " * 28)
        head, text = (line, lines[i + 1].strip()) if alone else (line[:28], line[28:].strip())
        m = re.match(r"  (\S+)(?: (.*))?$", head.rstrip())
        value = (m.group(2) or "").strip()
        entries.update({n: (value, text) for n in m.group(1).split(",")})
    return entries


def unroff(text):
    text = text.replace("\\-", "-").replace("\\e", "\\").replace("\\&", "")
    return re.sub(r"\\f[BIRP]", "", text)


def man_page(program):
    with open(os.path.join(MAN_DIR, f"{program}.1.in")) as f:
        return f.read()


def man_entries(program, notes=None):
    """{flag: (value name, text)} from the OPTIONS section of the generated man page; and in
    `notes`, if given, {flag: the "Config key: ..." line under it}."""
    page = man_page(program)
    options = page[page.index(".SH OPTIONS\n"):]
    options = options[:options.index("\n.SH ", 1)]
    entries = {}
    for block in options.split(".TP\n")[1:]:
        lines = block.rstrip("\n").split("\n")
        tag, body = lines[0], lines[1:]
        note = ""
        cut = next((i for i, line in enumerate(body) if line in (".br", ".IP")), len(body))
        if body[cut:cut + 2][:1] == [".br"] and body[cut + 1].startswith("Config key:"):
            note = unroff(body[cut + 1])
        body = body[:cut]
        text = unroff(" ".join(body)).strip()
        assert text.endswith("."), (program, tag, text)
        text = text[:-1]
        m = re.match(r'\.BI (\S+) " (.*)"$', tag)
        if m:
            names, value = [unroff(m.group(1))], unroff(m.group(2))
        elif tag.startswith(".BR "):
            names, value = [unroff(n) for n in re.findall(r'(?:^\.BR |" )(\S+)', tag)], ""
        else:
            m = re.match(r"\.B (\S+)$", tag)
            assert m, (program, tag)
            names, value = [unroff(m.group(1))], ""
        for n in names:
            entries[n] = (value, text)
            if notes is not None:
                notes[n] = note
    return entries


def documented_rows():
    """(names, meaning) of each row of docs/configuration.md's key table: the JSON key, or the
    flags of a row without one; the meaning as plain text."""
    source = os.path.normpath(os.path.join(os.path.dirname(__file__), "../.."))
    with open(os.path.join(source, "docs/configuration.md")) as f:
        text = f.read()
    table = text[text.index("| JSON key | flag | default | meaning |"):]
    rows = []
    for line in table.splitlines()[2:]:
        if not line.startswith("| "):
            break
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]]
        names = re.findall(r"`([^`]+)`", cells[0] or cells[1])
        meaning = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", cells[3])
        meaning = meaning.replace("\\|", "|").replace("`", "").replace("*", "")
        if meaning:
            rows.append((names, " ".join(meaning.split())))
    return rows


class ManualAndHelp(unittest.TestCase):
    def test_each_key_and_flag_has_the_meaning_configuration_md_gives_it(self):
        rows = documented_rows()
        self.assertGreater(len(rows), 40)
        for program in PROGRAMS:
            page = " ".join(unroff(man_page(program)).split())
            notes = {}
            flags = man_entries(program, notes)
            keys = {re.match(r"Config key: (\w+)", n).group(1) for n in notes.values() if n}
            keys |= set(re.findall(r"^\.TP\n\.B (\w+)$", man_page(program), re.M))
            for names, meaning in rows:
                if any(n in keys or n in flags for n in names):
                    with self.subTest(program=program, row=names):
                        self.assertIn(meaning, page)

    def test_every_flag_of_help_is_in_the_man_page_and_the_reverse(self):
        for program in PROGRAMS:
            with self.subTest(program=program):
                helped, documented = help_entries(program), man_entries(program)
                self.assertGreater(len(helped), 10)
                self.assertEqual(sorted(set(helped) - set(documented)), [],
                                 "flags without a man page entry")
                self.assertEqual(sorted(set(documented) - set(helped)), [],
                                 "man page entries that are not flags")
                for flag, (value, text) in helped.items():
                    self.assertEqual(documented[flag], (value, text), flag)

    def test_a_switch_that_turns_something_off_says_so(self):
        for program in PROGRAMS:
            for flag, (value, text) in help_entries(program).items():
                if flag.startswith("--no-"):
                    with self.subTest(program=program, flag=flag):
                        self.assertEqual(value, "")
                        self.assertTrue(text.startswith("Do not "), text)
                        self.assertNotIn("default true", text)

    def test_flags_share_a_text_only_when_they_do_the_same(self):
        # -u and -U once shared one; -T and --tcp-tproxy (the same switch) may.
        for program in PROGRAMS:
            notes, texts = {}, {}
            man_entries(program, notes)
            for flag, (_, text) in help_entries(program).items():
                texts.setdefault(text, []).append(flag)
            for flags in texts.values():
                if flags == ["-h", "--help"]:
                    continue
                effects = {notes[f] for f in flags}
                self.assertEqual(len(effects), 1, (program, flags, effects))
                self.assertTrue(len(flags) == 1 or effects != {""}, (program, flags))

    def test_only_the_manager_takes_the_managers_flags(self):
        server, manager = help_entries("ss-server"), help_entries("ss-manager")
        for flag in ("--manager-state-file", "--manager-allow-remote"):
            self.assertIn(flag, manager)
            self.assertNotIn(flag, server)
        for flag in ("--print-url", "--public-host", "--keygen"):
            self.assertIn(flag, server)
            self.assertNotIn(flag, manager)

    def test_see_also_names_the_other_programs(self):
        for program in PROGRAMS:
            page = man_page(program)
            see_also = page[page.index(".SH SEE ALSO"):]
            for other in PROGRAMS:
                if other != program:
                    self.assertIn(f".BR {other} (1)", see_also, program)


if __name__ == "__main__":
    unittest.main(verbosity=2)
