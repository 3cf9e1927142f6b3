#!/usr/bin/env python3
"""Our BLAKE3 (the 2022 edition's KDF) against Debian's b3sum, an implementation we did not
write: the hash, the keyed hash and derive_key, 32 bytes and extended output, for inputs
around every block and chunk boundary and one of a mebibyte."""

import os
import random
import shutil
import subprocess
import tempfile
import unittest

TOOL = os.environ.get("SS_BLAKE3_TOOL", "")
LENGTHS = [0, 1, 63, 64, 65, 1023, 1024, 1025, 2047, 2048, 2049, 3072, 5121, 65536, 1 << 20]
CONTEXT = "shadowsocks 2022 session subkey"


def ours(data, *mode, length=32):
    r = subprocess.run([TOOL, "--length", str(length), *mode], input=data, capture_output=True,
                       timeout=60, check=True)
    return r.stdout.decode().strip()


def b3sum(path, *args, stdin=None, length=32):
    r = subprocess.run(["b3sum", "--no-names", "--length", str(length), *args, path],
                       input=stdin, capture_output=True, timeout=60, check=True)
    return r.stdout.decode().strip()


@unittest.skipUnless(shutil.which("b3sum") and TOOL, "b3sum (Debian's b3sum) is not installed")
class AgainstB3sum(unittest.TestCase):
    def test_every_mode_at_every_boundary(self):
        rng = random.Random(2022)
        key = bytes(rng.randrange(256) for _ in range(32))
        with tempfile.TemporaryDirectory() as tmp:
            for n in LENGTHS:
                data = bytes(rng.randrange(256) for _ in range(n))
                path = os.path.join(tmp, f"input-{n}")
                with open(path, "wb") as f:
                    f.write(data)
                for length in (32, 131):
                    with self.subTest(n=n, length=length):
                        self.assertEqual(ours(data, "hash", length=length),
                                         b3sum(path, length=length))
                        self.assertEqual(ours(data, "keyed", key.hex(), length=length),
                                         b3sum(path, "--keyed", stdin=key, length=length))
                        self.assertEqual(ours(data, "derive-key", CONTEXT, length=length),
                                         b3sum(path, "--derive-key", CONTEXT, length=length))


if __name__ == "__main__":
    unittest.main(verbosity=2)
