#!/usr/bin/env bash
# Installs what is missing, then builds and runs the whole test suite in seven builds: plain
# (build/, Release), the portable fallbacks of the platform seam only (build-portable/,
# -DSS_PORTABLE=ON: the unit tests and the platform's integration suites), AddressSanitizer +
# UndefinedBehaviorSanitizer (build-asan/), the fully static executable (build-static/: unit
# tests, the executable from an empty root, from Debian 11 and in its container image,
# against libev), the static aarch64 executable (build-arm64/, cross-built: unit tests and
# interop with x86_64 peers under qemu), Windows (build-windows/, cross-built with mingw-w64
# by scripts/build-windows.sh: the .exe files under Wine against curl, libev and the plain
# build; then the zip), and the libFuzzer targets under clang with ASan + UBSan (build-fuzz/,
# each target for SS_FUZZ_SECONDS, 10).
# Usage: scripts/test.sh [plain|portable|asan|static|arm64|windows|fuzz]...   (default: all)
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh

jobs=${JOBS:-2}
variants=("$@")
((${#variants[@]})) || variants=(plain portable asan static arm64 windows fuzz)

summary=()
failed=0
for variant in "${variants[@]}"; do
  started=$SECONDS
  only=()  # a ctest selection, where a build runs part of the suite
  case $variant in
    # The plain build is a Release build (-O3), so that a packager's build keeps compiling
    # cleanly with GCC; warnings are errors in all three (SS_WERROR).
    plain) dir=build flags=(-DCMAKE_BUILD_TYPE=Release -DSS_SANITIZE=OFF) ;;
    # The programs with the portable fallbacks only: the unit tests and the integration suites
    # of what the platform seam serves (processes, plugins, reloads, the relays); the
    # protocol's own suites (2022, many servers, hardening, detection), what the programs are
    # checked against (libev, plugins, packaging), the documents and the speed are the plain
    # build's.
    portable) dir=build-portable flags=(-DCMAKE_BUILD_TYPE=Release -DSS_PORTABLE=ON)
              only=(-E '^(interop|packaging|source|demo|docs|bench)\.|^integration\.test_(sip022|servers|hardening|detection)$') ;;
    asan) dir=build-asan flags=(-DCMAKE_BUILD_TYPE=Debug -DSS_SANITIZE=ON) ;;
    static) dir=build-static flags=(-DCMAKE_BUILD_TYPE=Release -DSS_STATIC=ON) ;;
    # Its 2022 test talks to the x86_64 static executable (built first when missing).
    arm64) dir=build-arm64 flags=(-DCMAKE_BUILD_TYPE=Release -DSS_STATIC=ON
                                  -DCMAKE_TOOLCHAIN_FILE=cmake/aarch64-linux-gnu.cmake
                                  "-DSS_HOST_BIN_DIR=$PWD/build-static/src") ;;
    # The libraries cross-built once (cached by scripts/build-windows.sh); the tests compare
    # with the plain build (built first when missing).
    windows) dir=build-windows
             if ! deps=$(scripts/build-windows.sh --deps-only | tail -n 1); then
               summary+=("windows: FAILED to build the libraries")
               failed=1
               continue
             fi
             flags=(-DCMAKE_BUILD_TYPE=Release -DSS_STATIC=ON "-DSS_WINDOWS_DEPS=$deps"
                    -DCMAKE_TOOLCHAIN_FILE=cmake/mingw-w64.cmake
                    "-DSS_HOST_BIN_DIR=$PWD/build/src") ;;
    fuzz) dir=build-fuzz flags=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DSS_FUZZ=ON
                                -DCMAKE_CXX_COMPILER=clang++
                                "-DSS_FUZZ_SECONDS=${SS_FUZZ_SECONDS:-10}") ;;
    *) echo "test.sh: unknown build '$variant' (plain, portable, asan, static, arm64, windows or fuzz)" >&2
       exit 2 ;;
  esac
  echo "== $variant build ($dir)"
  # SS_BUILD_TESTS=ON always: a build tree configured without tests (docs/guide.md's package
  # build) must not make this script pass without running any.
  if [[ $variant == arm64 && ! -x build-static/src/shadowsocks-cpp ]]; then
    cmake -S . -B build-static -DCMAKE_BUILD_TYPE=Release -DSS_STATIC=ON -DSS_WERROR=ON >/dev/null
    cmake --build build-static -j "$jobs" --target shadowsocks-cpp
  fi
  if [[ $variant == windows && ! -x build/src/shadowsocks-cpp ]]; then
    cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DSS_WERROR=ON >/dev/null
    cmake --build build -j "$jobs" --target shadowsocks-cpp
  fi
  if ! { cmake -S . -B "$dir" "${flags[@]}" -DSS_WERROR=ON -DSS_BUILD_TESTS=ON >/dev/null &&
         cmake --build "$dir" -j "$jobs"; }; then
    summary+=("$variant: FAILED to build ($((SECONDS - started)) s)")
    failed=1
    continue
  fi
  echo "== $variant tests"
  # --no-tests=error: no test found is a failure, not a pass.
  if ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1} \
     UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
       ctest --test-dir "$dir" --output-on-failure --no-tests=error -j "$jobs" --timeout 600 \
         "${only[@]}" | tee "$dir/ctest-output.log"; then
    result=$(grep -E '^[0-9]+% tests passed' "$dir/ctest-output.log" | tail -n 1)
  else
    result="FAILED: $(grep -E '^[0-9]+% tests passed|No tests were found' "$dir/ctest-output.log" |
                      tail -n 1)"
    failed=1
  fi
  if [[ $variant == windows ]]; then
    # The zip of scripts/build-windows.sh, from this build.
    if zip=$(cmake --build "$dir" --target ss_windows_zip | sed -n 's/^packed //p') && [[ -f $zip ]]; then
      summary+=("windows: $(basename "$zip"): $(stat -c %s "$zip") bytes")
    else
      summary+=("windows: FAILED to pack the zip")
      failed=1
    fi
  fi
  summary+=("$variant: $result ($((SECONDS - started)) s)")
  # The executable's stripped size, which tests/packaging/test_executable.py prints.
  while read -r line; do summary+=("$variant: $line"); done < <(
    grep -h '^size: ' "$dir/Testing/Temporary/LastTest.log" 2>/dev/null || true)
done

echo "== summary"
printf '%s\n' "${summary[@]}"
echo "total: $((SECONDS / 60)) min $((SECONDS % 60)) s"
exit "$failed"
