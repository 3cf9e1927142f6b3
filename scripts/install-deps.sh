#!/usr/bin/env bash
# Installs, with apt-get, everything shadowsocks-cpp needs to build and test on Debian 12.
# Idempotent: when every package is already present it installs nothing and prints nothing.
set -euo pipefail

packages=(
  build-essential cmake pkg-config
  libboost1.81-dev libssl-dev nlohmann-json3-dev libspdlog-dev libfmt-dev libcli11-dev
  libqrencode-dev libc-ares-dev libre2-dev
  libgtest-dev libgmock-dev
  systemd zbar-tools dpkg-dev lintian netcat-openbsd
  shadowsocks-libev simple-obfs shadowsocks-v2ray-plugin b3sum curl python3 python3-cryptography
  clang libclang-rt-14-dev lld valgrind
  iperf3 wrk nginx-light strace python3-matplotlib chromium prometheus iproute2 nftables iptables
  # The static and aarch64 builds, and where they run (tests/portable): a Debian 11 root, qemu,
  # the container image.
  debootstrap qemu-user-static podman runc crossbuild-essential-arm64 python3-yaml
  libssl-dev:arm64 libc-ares-dev:arm64 libre2-dev:arm64 libgtest-dev:arm64
  libboost1.81-dev:arm64 libspdlog-dev:arm64 libfmt-dev:arm64
  # The Windows build (scripts/build-windows.sh) and Wine to test it; RE2's tables are made
  # again from unicode-data, as Debian's own build does.
  g++-mingw-w64-x86-64-posix wine64 unicode-data python3-six
)

sudo=()
((EUID == 0)) || sudo=(sudo)
export DEBIAN_FRONTEND=noninteractive
# The :arm64 packages need arm64 among dpkg's architectures (then a fresh package list).
added_arch=0
if ! dpkg --print-foreign-architectures | grep -qx arm64; then
  "${sudo[@]}" dpkg --add-architecture arm64
  added_arch=1
fi

# scripts/build-windows.sh cross-builds libraries from Debian's source packages: apt needs a
# deb-src entry for Debian's archive (then a fresh package list).
added_src=0
src_list=/etc/apt/sources.list.d/shadowsocks-cpp-deb-src.sources
if ! grep -rqsE '^(deb-src|Types:.*deb-src)' /etc/apt/sources.list /etc/apt/sources.list.d/; then
  "${sudo[@]}" tee "$src_list" >/dev/null <<'EOF'
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb-src
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
  added_src=1
fi

# A name without an architecture is the machine's own package (or an "all" one): with arm64
# added, a bare name would also match its :arm64 twin.
native=$(dpkg --print-architecture)
missing=()
for p in "${packages[@]}"; do
  if [[ $p == *:* ]]; then p_native=$p; else p_native="$p:$native"; fi
  status=$(dpkg-query -W -f='${Status}' "$p_native" 2>/dev/null ||
           dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [[ $status == "install ok installed" ]] || missing+=("$p")
done
((${#missing[@]} == 0 && added_arch == 0 && added_src == 0)) && exit 0

echo "install-deps: installing ${missing[*]}" >&2
"${sudo[@]}" apt-get update -q
((${#missing[@]} == 0)) ||
  "${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
