#!/usr/bin/env bash
# Cross-builds shadowsocks-cpp for 64-bit Windows and packs it:
#   dist/shadowsocks-cpp-VERSION-win64.zip   ss-local.exe ss-tunnel.exe ss-server.exe, the
#                                            example configs, README.txt
# Every library comes from Debian's archive: OpenSSL, c-ares, RE2 and libqrencode, which Debian
# builds for Linux only, are cross-built from their Debian source packages (`apt-get source`)
# into a cache outside the tree, kept per set of versions (rebuilt only when one changes);
# Boost, nlohmann/json, spdlog, fmt and CLI11 are header-only and come from the -dev packages.
# The executables are static: they need no DLL beyond Windows' own.
#
# Usage: scripts/build-windows.sh [--deps-only] [BUILD_DIR]   (default build-windows)
# Environment: SS_WINDOWS_CACHE (default ~/.cache/shadowsocks-cpp/win64), JOBS (default 2),
#              SS_WERROR (ON in CI and scripts/test.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

deps_only=0
if [[ ${1-} == --deps-only ]]; then deps_only=1; shift; fi
build=${1:-build-windows}
jobs=${JOBS:-2}
cache=${SS_WINDOWS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/shadowsocks-cpp/win64}
target=x86_64-w64-mingw32
toolchain=$root/cmake/mingw-w64.cmake
# The source packages, by their Debian names.
sources=(openssl c-ares re2 qrencode)

for tool in "$target-gcc-posix" "$target-g++-posix" apt-get perl make cmake; do
  command -v "$tool" >/dev/null ||
    { echo "build-windows: $tool is missing (scripts/install-deps.sh installs it)" >&2; exit 2; }
done

# --- The libraries --------------------------------------------------------------------------

# The cache key: the source tarballs apt-get would fetch now (their names carry the versions),
# the cross compiler, and this script's recipe for them (the function below).
build_deps() {
  local src=$1 prefix=$2
  export CC=$target-gcc-posix CXX=$target-g++-posix AR=$target-ar RANLIB=$target-ranlib
  local cmake_common=(-DCMAKE_TOOLCHAIN_FILE="$toolchain" -DSS_WINDOWS_DEPS="$prefix"
                      -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX="$prefix"
                      -DCMAKE_INSTALL_LIBDIR=lib -DBUILD_SHARED_LIBS=OFF)
  # OpenSSL without what a Shadowsocks client or server never uses (legacy ciphers, engines,
  # DTLS, CMS, certificate transparency, ...): a third less to compile.
  (cd "$src"/openssl-* &&
     ./Configure mingw64 no-shared no-tests no-legacy no-engine no-comp no-dtls no-ssl3 no-srp \
       no-psk no-ct no-cms no-ts no-ocsp no-sm2 no-sm3 no-sm4 no-idea no-seed no-camellia \
       no-aria no-bf no-cast no-rc2 no-rc4 no-rc5 no-md4 no-mdc2 no-whirlpool \
       --prefix="$prefix" --libdir=lib --openssldir="C:/ProgramData/shadowsocks-cpp/ssl" \
       RC=$target-windres &&
     make -j "$jobs" build_libs && make install_dev) || return
  (cd "$src"/c-ares-* &&
     cmake -S . -B build "${cmake_common[@]}" -DCARES_STATIC=ON -DCARES_SHARED=OFF \
       -DCARES_BUILD_TOOLS=OFF -DCARES_BUILD_TESTS=OFF &&
     cmake --build build -j "$jobs" && cmake --install build) || return
  (cd "$src"/re2-* &&
     # Debian's tarball leaves out RE2's generated tables; Debian's build makes them again
     # (REBUILD_TABLES=1) from the Unicode data of its unicode-data package, as here.
     sed -i 's|^_UNICODE_DIR = .*|_UNICODE_DIR = "/usr/share/unicode"|' re2/unicode.py &&
     perl re2/make_perl_groups.pl >re2/perl_groups.cc &&
     (cd re2 && /usr/bin/python3 make_unicode_casefold.py >unicode_casefold.cc &&
        /usr/bin/python3 make_unicode_groups.py >unicode_groups.cc) &&
     cmake -S . -B build "${cmake_common[@]}" -DRE2_BUILD_TESTING=OFF &&
     cmake --build build -j "$jobs" && cmake --install build &&
     # RE2's CMake build installs no pkg-config file; its Makefile's template is the one.
     sed -e "s|@includedir@|$prefix/include|" -e "s|@libdir@|$prefix/lib|" re2.pc \
       >"$prefix/lib/pkgconfig/re2.pc") || return
  (cd "$src"/qrencode-* &&
     cmake -S . -B build "${cmake_common[@]}" -DWITH_TOOLS=NO -DWITH_TESTS=NO &&
     cmake --build build -j "$jobs" && cmake --install build) || return
  # The header-only libraries: their headers and CMake package files, linked in, so that the
  # build sees them without the build machine's /usr/include (glibc's headers) on its path.
  local h
  for h in boost nlohmann spdlog fmt CLI; do ln -sfn "/usr/include/$h" "$prefix/include/$h"; done
  for h in nlohmann_json CLI11; do
    mkdir -p "$prefix/share/cmake/$h"
    ln -sf /usr/share/cmake/"$h"/*.cmake "$prefix/share/cmake/$h/"
  done
}

tarballs=$(cd /tmp && apt-get source --tar-only --print-uris -q "${sources[@]}" |
             awk '/^\x27/ {print $2}' | sort)
[[ -n $tarballs ]] ||
  { echo "build-windows: apt-get knows no source of ${sources[*]} (a deb-src entry for Debian's archive is needed; scripts/install-deps.sh adds it)" >&2
    exit 2; }
key=$( { echo "$tarballs"; "$target-g++-posix" --version | head -n 1; declare -f build_deps; } |
         sha256sum | cut -c1-16)
prefix=$cache/deps-$key
if [[ ! -f $prefix/.complete ]]; then
  echo "== build-windows: cross-building ${sources[*]} into $prefix"
  rm -rf "$prefix" "$prefix.src"
  mkdir -p "$prefix/lib/pkgconfig" "$prefix/include" "$prefix.src"
  # --tar-only: the upstream sources as Debian ships them; Debian's packaging part is for Linux.
  (cd "$prefix.src" && apt-get source --tar-only -q "${sources[@]}" >/dev/null 2>&1 &&
     for t in ./*.orig.tar.*; do tar xf "$t"; done)
  started=$SECONDS
  log=$cache/deps-$key.log
  if ! build_deps "$prefix.src" "$prefix" >"$log" 2>&1; then
    tail -n 40 "$log" >&2
    echo "build-windows: the libraries did not build (whole log: $log)" >&2
    exit 1
  fi
  rm -rf "$prefix.src"
  echo "$tarballs" >"$prefix/.complete"
  echo "== build-windows: libraries built in $((SECONDS - started)) s"
fi
((deps_only)) && { echo "$prefix"; exit 0; }

# --- shadowsocks-cpp ------------------------------------------------------------------------

cmake -S . -B "$build" -DCMAKE_TOOLCHAIN_FILE="$toolchain" -DSS_WINDOWS_DEPS="$prefix" \
  -DCMAKE_BUILD_TYPE=Release -DSS_STATIC=ON -DSS_WERROR="${SS_WERROR:-OFF}" \
  -DSS_BUILD_TESTS="${SS_BUILD_TESTS:-OFF}" >/dev/null
cmake --build "$build" -j "$jobs"
cmake --build "$build" --target ss_windows_zip
