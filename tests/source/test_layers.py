#!/usr/bin/env python3
"""The layer rule without holes (docs/architecture.md, "Layers"): no source file reaches
another folder by a relative path (`#include "../..."` compiles from any layer and so
would step around the rule), no layer includes a layer above it, and each layer's library
links only layers it includes, all read from src/CMakeLists.txt's ss_layer() calls."""

import os
import re
import unittest

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "../..")
CMAKE = os.path.join(ROOT, "src/CMakeLists.txt")
INCLUDE = re.compile(r'^\s*#\s*include\s*[<"]([^>"]+)[>"]', re.M)
SOURCE_EXTENSIONS = (".cpp", ".hpp", ".h", ".cc", ".in")


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def source_files(*tops):
    for top in tops:
        for folder, _, files in os.walk(os.path.join(ROOT, top)):
            for name in files:
                if name.endswith(SOURCE_EXTENSIONS):
                    yield os.path.join(folder, name)


def layers():
    """{layer: (sources, direct ss_ dependencies)} in the order of the ss_layer() calls,
    which is the order of the layers, lowest first."""
    text = re.sub(r"#[^\n]*", "", read(CMAKE))
    found = {}
    for m in re.finditer(r"ss_layer\((\w+)(.*?)\)", text, re.S):
        words = m.group(2).split()
        sources, deps, part = [], [], None
        for w in words:
            if w in ("SOURCES", "DEPS", "PRIVATE_DEPS"):
                part = w
            elif part == "SOURCES":
                sources.append(w)
            elif w.startswith("ss_"):
                deps.append(w[3:])
        found[m.group(1)] = (sources, deps)
    return found


def layer_files(layer, sources):
    """The layer's sources, the private headers beside them, and its public headers."""
    folders = {os.path.dirname(s) for s in sources}
    files = {os.path.join(ROOT, "src", s) for s in sources}
    for folder in folders:
        files |= set(source_files(os.path.join("src", folder)))
    files |= set(source_files(os.path.join("include/shadowsocks", layer)))
    return files


def included_layers(files, known):
    """The layers whose headers (shadowsocks/LAYER/...) the files include."""
    used = {}
    for path in files:
        for header in INCLUDE.findall(read(path)):
            parts = header.split("/")
            if len(parts) > 2 and parts[0] == "shadowsocks" and parts[1] in known:
                used.setdefault(parts[1], os.path.relpath(path, ROOT))
    return used


class Layers(unittest.TestCase):
    def test_no_relative_include_reaches_out_of_its_folder(self):
        offenders = []
        for path in source_files("src", "include", "tests", "bench"):
            for header in INCLUDE.findall(read(path)):
                if header.startswith("../") or "/../" in header:
                    offenders.append(f"{os.path.relpath(path, ROOT)}: {header}")
        self.assertEqual(offenders, [], "include it by its layer's path instead")

    def test_the_layers_are_read_from_cmake(self):
        found = layers()
        self.assertGreaterEqual(len(found), 6, found.keys())
        for layer, (sources, _) in found.items():
            self.assertTrue(sources, layer)
            for s in sources:
                self.assertTrue(os.path.isfile(os.path.join(ROOT, "src", s)), s)

    def test_each_layer_includes_only_layers_below_and_links_only_what_it_includes(self):
        found = layers()
        order = list(found)
        for layer, (sources, deps) in found.items():
            used = included_layers(layer_files(layer, sources), found)
            with self.subTest(layer=layer):
                above = {u: f for u, f in used.items() if order.index(u) > order.index(layer)}
                self.assertEqual(above, {}, f"{layer} includes a layer above it")
                unused = [d for d in deps if d not in used]
                self.assertEqual(unused, [], f"ss_{layer} links layers it does not include")
                reachable, todo = set(), list(deps)
                while todo:
                    d = todo.pop()
                    if d not in reachable:
                        reachable.add(d)
                        todo += found[d][1]
                unlinked = sorted(u for u in used if u != layer and u not in reachable)
                self.assertEqual(unlinked, [], f"ss_{layer} includes layers it does not link")


if __name__ == "__main__":
    unittest.main(verbosity=2)
