#!/usr/bin/env python3
"""The Wine prefix of a test run (tests/windows/CMakeLists.txt): `start` makes a fresh one at
$WINEPREFIX (Wine creates it on its first program); `end` stops that prefix's wineserver and
the Windows processes of it (services.exe, explorer.exe and the like, which Wine started for
us), so that nothing outlives the run."""

import os
import shutil
import subprocess
import sys
import tempfile

WINE = os.environ.get("SS_WINE", "/usr/lib/wine/wine64")
PREFIX = os.environ["WINEPREFIX"]
ENV = dict(os.environ, WINEDEBUG="-all")


def wineserver():
    for name in ("wineserver64", "wineserver"):
        path = os.path.join(os.path.dirname(WINE), name)
        if os.path.exists(path):
            return path
    return shutil.which("wineserver") or "wineserver"


def main():
    if sys.argv[1:] == ["start"]:
        shutil.rmtree(PREFIX, ignore_errors=True)
        os.makedirs(PREFIX)
        # One wineserver for the whole run (`end` stops it): every program starts faster than
        # with a wineserver started, and gone again, around each one. It outlives this script:
        # not on our output, which the test runner reads to its end.
        subprocess.run([wineserver(), "-p"], env=ENV, timeout=60, stdin=subprocess.DEVNULL,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        # Any program makes the prefix; `cmd /c exit` is the quickest one Wine has. Its output
        # goes to a file: the Windows services it starts outlive it and would hold a pipe.
        with tempfile.TemporaryFile() as out:
            subprocess.run([WINE, "cmd", "/c", "exit"], env=ENV, stdout=out,
                           stderr=subprocess.STDOUT, timeout=280, stdin=subprocess.DEVNULL)
            if not os.path.isdir(os.path.join(PREFIX, "drive_c")):
                out.seek(0)
                print(out.read().decode(errors="replace"))
                sys.exit(f"no Wine prefix at {PREFIX}")
        print(f"Wine prefix ready at {PREFIX}")
    elif sys.argv[1:] == ["end"]:
        subprocess.run([wineserver(), "-k"], env=ENV, timeout=60)
        subprocess.run([wineserver(), "-w"], env=ENV, timeout=60)
        print(f"Wine prefix {PREFIX} stopped")
    else:
        sys.exit("usage: wine_prefix.py start|end")


if __name__ == "__main__":
    main()
