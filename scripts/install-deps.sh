#!/usr/bin/env bash
# Installs, with apt-get, everything shadowsocks-cpp needs to build and test on Debian 12.
# Idempotent: when every package is already present it installs nothing and prints nothing.
set -euo pipefail

packages=(
  build-essential cmake pkg-config
  libboost1.81-dev libssl-dev nlohmann-json3-dev libspdlog-dev libfmt-dev libcli11-dev
  libqrencode-dev libc-ares-dev libre2-dev
  libgtest-dev libgmock-dev
  systemd zbar-tools dpkg-dev
  shadowsocks-libev simple-obfs shadowsocks-v2ray-plugin b3sum curl python3 python3-cryptography
  clang libclang-rt-14-dev
  iperf3 wrk nginx-light strace python3-matplotlib chromium prometheus iproute2 nftables iptables
)

missing=()
for p in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [[ $status == "install ok installed" ]] || missing+=("$p")
done
((${#missing[@]} == 0)) && exit 0

sudo=()
((EUID == 0)) || sudo=(sudo)
echo "install-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -q
"${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
