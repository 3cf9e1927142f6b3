#!/usr/bin/env bash
# Installs what is missing, then builds and runs the whole test suite twice: a plain build
# (build/) and an AddressSanitizer + UndefinedBehaviorSanitizer build (build-asan/).
# Usage: scripts/test.sh [plain|asan]...   (default: both)
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh

jobs=${JOBS:-2}
variants=("$@")
((${#variants[@]})) || variants=(plain asan)

for variant in "${variants[@]}"; do
  case $variant in
    plain) dir=build flags=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DSS_SANITIZE=OFF) ;;
    asan) dir=build-asan flags=(-DCMAKE_BUILD_TYPE=Debug -DSS_SANITIZE=ON) ;;
    *) echo "test.sh: unknown build '$variant' (plain or asan)" >&2; exit 2 ;;
  esac
  echo "== $variant build ($dir)"
  cmake -S . -B "$dir" "${flags[@]}" >/dev/null
  cmake --build "$dir" -j "$jobs"
  echo "== $variant tests"
  ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1} \
  UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
    ctest --test-dir "$dir" --output-on-failure -j "$jobs" --timeout 600
done
