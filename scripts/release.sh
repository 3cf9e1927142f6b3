#!/usr/bin/env bash
# Builds every artifact of a release into dist/ (docs/install.md says which is for what):
#   shadowsocks-cpp_VERSION_amd64.deb                    Debian 12 / Ubuntu package (dynamic)
#   shadowsocks-cpp-VERSION-linux-x86_64.tar.gz          static executable, any Linux x86_64
#   shadowsocks-cpp-VERSION-linux-aarch64.tar.gz         static executable, any Linux aarch64
#   shadowsocks-cpp-VERSION-image-{amd64,arm64}.oci.tar  container images (podman load -i)
#   SHA256SUMS
# Builds in build-release/ (no tests: scripts/test.sh tests); installs what is missing first.
# Usage: scripts/release.sh [--no-image]
set -euo pipefail
cd "$(dirname "$0")/.."

images=1
[[ ${1:-} == --no-image ]] && images=0
scripts/install-deps.sh
jobs=${JOBS:-2}
version=$(sed -n 's/^project(shadowsocks-cpp VERSION \([0-9.]*\).*/\1/p' CMakeLists.txt)
dist=$PWD/dist
mkdir -p "$dist"
rm -f "$dist"/shadowsocks-cpp*"$version"* "$dist/SHA256SUMS"

build() {  # build DIR [cmake flags...]
  local dir=$1
  shift
  cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=Release -DSS_BUILD_TESTS=OFF "$@" >/dev/null
  cmake --build "$dir" -j "$jobs" --target shadowsocks-cpp ss_man
}

# The .deb: the dynamic build, stripped by CPack.
build build-release/deb
(cd build-release/deb && cpack -G DEB -B "$dist" >/dev/null)
rm -rf "$dist/_CPack_Packages"

# The static tarballs: the executable (stripped), its links, man pages, units, examples, and
# docs/ (where the README's links point).
tarball() {  # tarball ARCH DIR STRIP
  local arch=$1 dir=$2 strip=$3
  local name=shadowsocks-cpp-$version-linux-$arch
  local stage
  stage=$(mktemp -d)
  local top=$stage/$name
  mkdir -p "$top/bin" "$top/man/man1" "$top/systemd" "$top/examples" "$top/docs"
  "$strip" -o "$top/bin/shadowsocks-cpp" "$dir/src/shadowsocks-cpp"
  for p in ss-local ss-server ss-tunnel ss-redir ss-manager; do
    ln -s shadowsocks-cpp "$top/bin/$p"
    sed "s|@SS_DOCDIR@|docs|" "$dir/man/$p.1.in" > "$top/man/man1/$p.1"
  done
  cp "$dir/man/shadowsocks-cpp.1" "$top/man/man1/"
  cp config/systemd/*.service "$top/systemd/"
  cp config/*.json "$top/examples/"
  cp README.md LICENSE "$top/"
  cp docs/*.md docs/performance-chart.png "$top/docs/"
  mkdir -p "$top/packaging/container"  # docs/container.md links to these
  cp packaging/container/compose.yaml packaging/container/kubernetes.yaml "$top/packaging/container/"
  tar -C "$stage" --owner=0 --group=0 --sort=name -czf "$dist/$name.tar.gz" "$name"
  rm -rf "$stage"
}
build build-release/static-x86_64 -DSS_STATIC=ON
tarball x86_64 build-release/static-x86_64 strip
build build-release/static-aarch64 -DSS_STATIC=ON -DCMAKE_TOOLCHAIN_FILE=cmake/aarch64-linux-gnu.cmake
tarball aarch64 build-release/static-aarch64 aarch64-linux-gnu-strip

if ((images)); then
  SS_STATIC_BUILD_DIR=build-release/static-x86_64 scripts/build-image.sh --arch x86_64 \
    --save "$dist/shadowsocks-cpp-$version-image-amd64.oci.tar"
  SS_STATIC_BUILD_DIR=build-release/static-aarch64 scripts/build-image.sh --arch aarch64 \
    --save "$dist/shadowsocks-cpp-$version-image-arm64.oci.tar"
fi

(cd "$dist" && sha256sum -- *"$version"* > SHA256SUMS)
echo "release $version in $dist:"
(cd "$dist" && ls -l -- *"$version"* SHA256SUMS)
