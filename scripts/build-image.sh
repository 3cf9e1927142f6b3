#!/usr/bin/env bash
# Builds the container image (packaging/container/Containerfile, FROM scratch) from the static executable,
# with podman. Usage: scripts/build-image.sh [--arch x86_64|aarch64] [--save FILE] [TAG]
#   TAG   default localhost/shadowsocks-cpp:VERSION (-aarch64 appended for aarch64)
#   --save FILE   also writes the image as an OCI archive (podman save --format oci-archive)
# The static build (build-static/, or build-arm64/ for aarch64) is made first when it is
# missing; SS_STATIC_BUILD_DIR names another. Prints the image's size.
set -euo pipefail
cd "$(dirname "$0")/.."

arch=$(uname -m) save= tag=
while (($#)); do
  case $1 in
    --arch) arch=$2; shift 2 ;;
    --save) save=$2; shift 2 ;;
    -*) echo "build-image.sh: unknown option $1" >&2; exit 2 ;;
    *) tag=$1; shift ;;
  esac
done
version=$(sed -n 's/^project(shadowsocks-cpp VERSION \([0-9.]*\).*/\1/p' CMakeLists.txt)
case $arch in
  x86_64) build=${SS_STATIC_BUILD_DIR:-build-static} strip=strip oci_arch=amd64
          cross=() suffix= ;;
  aarch64) build=${SS_STATIC_BUILD_DIR:-build-arm64} strip=aarch64-linux-gnu-strip
           oci_arch=arm64 cross=(-DCMAKE_TOOLCHAIN_FILE=cmake/aarch64-linux-gnu.cmake)
           suffix=-aarch64 ;;
  *) echo "build-image.sh: --arch is x86_64 or aarch64, not $arch" >&2; exit 2 ;;
esac
tag=${tag:-localhost/shadowsocks-cpp:$version$suffix}

exe=$build/src/shadowsocks-cpp
if [[ ! -x $exe ]]; then
  cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DSS_STATIC=ON -DSS_BUILD_TESTS=OFF \
    "${cross[@]}" >/dev/null
  cmake --build "$build" -j "${JOBS:-2}" --target shadowsocks-cpp
fi

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
root=$stage/rootfs
mkdir -p "$root/usr/bin" "$root/etc/ssl/certs" "$root/etc/shadowsocks-cpp"
"$strip" -o "$root/usr/bin/shadowsocks-cpp" "$exe"
for name in ss-local ss-server ss-tunnel ss-redir ss-manager; do
  ln -s shadowsocks-cpp "$root/usr/bin/$name"
done
cp /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/"
# Names for the image's user id, for `ps` on the host and `-a`-free logs.
printf 'root:x:0:0::/:/nonexistent\nshadowsocks:x:65532:65532::/nonexistent:/nonexistent\n' \
  > "$root/etc/passwd"
printf 'root:x:0:\nshadowsocks:x:65532:\n' > "$root/etc/group"
cp packaging/container/Containerfile "$stage/"

scripts/podman build --quiet --arch "$oci_arch" \
  --label "org.opencontainers.image.version=$version" \
  --label "org.opencontainers.image.title=shadowsocks-cpp" \
  -t "$tag" -f "$stage/Containerfile" "$stage" >/dev/null
size=$(scripts/podman image inspect --format '{{.Size}}' "$tag")
echo "image $tag ($oci_arch): $size bytes"
if [[ -n $save ]]; then
  rm -f "$save"
  scripts/podman save --quiet --format oci-archive -o "$save" "$tag"
  echo "saved $save: $(stat -c %s "$save") bytes"
fi
