#!/usr/bin/env bash
# Installs what is missing, then builds and runs the whole test suite in three builds: plain
# (build/, Release), AddressSanitizer + UndefinedBehaviorSanitizer (build-asan/), and the libFuzzer
# targets under clang with ASan + UBSan (build-fuzz/, each target for SS_FUZZ_SECONDS, 60).
# Usage: scripts/test.sh [plain|asan|fuzz]...   (default: all three)
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh

jobs=${JOBS:-2}
variants=("$@")
((${#variants[@]})) || variants=(plain asan fuzz)

summary=()
failed=0
for variant in "${variants[@]}"; do
  case $variant in
    # The plain build is a Release build (-O3), so that a packager's build keeps compiling
    # cleanly with GCC; warnings are errors in all three (SS_WERROR).
    plain) dir=build flags=(-DCMAKE_BUILD_TYPE=Release -DSS_SANITIZE=OFF) ;;
    asan) dir=build-asan flags=(-DCMAKE_BUILD_TYPE=Debug -DSS_SANITIZE=ON) ;;
    fuzz) dir=build-fuzz flags=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DSS_FUZZ=ON
                                -DCMAKE_CXX_COMPILER=clang++
                                "-DSS_FUZZ_SECONDS=${SS_FUZZ_SECONDS:-60}") ;;
    *) echo "test.sh: unknown build '$variant' (plain, asan or fuzz)" >&2; exit 2 ;;
  esac
  started=$SECONDS
  echo "== $variant build ($dir)"
  # SS_BUILD_TESTS=ON always: a build tree configured without tests (docs/guide.md's package
  # build) must not make this script pass without running any.
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
       | tee "$dir/ctest-output.log"; then
    result=$(grep -E '^[0-9]+% tests passed' "$dir/ctest-output.log" | tail -n 1)
  else
    result="FAILED: $(grep -E '^[0-9]+% tests passed|No tests were found' "$dir/ctest-output.log" |
                      tail -n 1)"
    failed=1
  fi
  summary+=("$variant: $result ($((SECONDS - started)) s)")
done

echo "== summary"
printf '%s\n' "${summary[@]}"
exit "$failed"
