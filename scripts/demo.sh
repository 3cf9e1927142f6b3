#!/usr/bin/env bash
# The main job in one command: installs what is missing, builds, and runs ss-server and
# ss-local on this machine's loopback with a freshly generated password. It checks that a
# request really travels through the pair, prints the SOCKS5 address to use, and keeps both
# running until Ctrl-C.
#
# Environment: SS_METHOD (default chacha20-ietf-poly1305), SS_LOCAL_PORT (default 1080; 0 or a
# busy port picks a free one), SS_BUILD_DIR (default build), SS_DEMO_ONESHOT=1 (stop after
# the check; used by the test suite).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh
build_dir=${SS_BUILD_DIR:-build}
echo "demo: building shadowsocks-cpp (ss-server, ss-local) in $build_dir/ (about five minutes" \
  "on two cores the first time, seconds after that;" \
  "progress in $build_dir/demo-build.log)"
mkdir -p "$build_dir"
if ! { cmake -S . -B "$build_dir" && cmake --build "$build_dir" -j "${JOBS:-2}" \
         --target shadowsocks-cpp; } >"$build_dir/demo-build.log" 2>&1; then
  tail -n 30 "$build_dir/demo-build.log" >&2
  echo "demo: the build failed (the whole output: $build_dir/demo-build.log)" >&2
  exit 1
fi
echo "demo: built"

method=${SS_METHOD:-chacha20-ietf-poly1305}
local_port=${SS_LOCAL_PORT:-1080}
password=$(python3 -c 'import secrets; print(secrets.token_urlsafe(24))')
state=$(mktemp -d)  # the secret config and the self-check's page; removed at exit
# The logs stay after the demo ends, so that they can be read then.
logs=$build_dir/demo-logs
mkdir -p "$logs"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$state"
}
trap cleanup EXIT
trap 'exit 0' INT TERM

# Waits for "listening on HOST:PORT" in a log and prints PORT.
listen_port() {
  local log=$1 pid=$2
  for _ in $(seq 100); do
    if port=$(grep -o 'listening on [^ ,]*' "$log" | head -n1 | sed 's/.*://'); [[ -n $port ]]; then
      echo "$port"
      return 0
    fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  echo "demo: failed to start:" >&2
  cat "$log" >&2
  return 1
}

# The password goes in a private config file, not on a command line other users can read.
umask 077
printf '{"password": "%s", "method": "%s"}\n' "$password" "$method" >"$state/secret.json"

# --outbound-allow-private: the self-check below fetches a page from this machine, which the
# server's outbound guard refuses by default. A real server should not use it.
"$build_dir/src/ss-server" -c "$state/secret.json" -s 127.0.0.1 -p 0 --outbound-allow-private \
  >"$logs/server.log" 2>&1 &
pids+=($!)
server_port=$(listen_port "$logs/server.log" "${pids[-1]}")

# SO_REUSEADDR, as our listener sets it: connections of a previous run in TIME_WAIT do not
# make the port busy.
if ! python3 -c "import socket,sys; s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(('127.0.0.1', int(sys.argv[1])))" \
    "$local_port" 2>/dev/null; then
  echo "demo: port $local_port is busy; using a free one" >&2
  local_port=0
fi
"$build_dir/src/ss-local" -c "$state/secret.json" -s 127.0.0.1 -p "$server_port" \
  -b 127.0.0.1 -l "$local_port" >"$logs/local.log" 2>&1 &
pids+=($!)
local_port=$(listen_port "$logs/local.log" "${pids[-1]}")

# Self-check: fetch a page from a throw-away local web server through the proxy.
mkdir "$state/www"
echo "shadowsocks-cpp demo works" >"$state/www/index.html"
python3 -m http.server 0 --bind 127.0.0.1 --directory "$state/www" >"$state/http.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do
  http_port=$(grep -o 'port [0-9]*' "$state/http.log" | head -n1 | cut -d' ' -f2) && [[ -n $http_port ]] && break
  sleep 0.1
done
if curl -sS --max-time 10 --socks5-hostname "127.0.0.1:$local_port" \
    "http://127.0.0.1:$http_port/" | grep -q "demo works"; then
  check="passed"
else
  check="FAILED"
fi
kill "${pids[-1]}" 2>/dev/null || true

cat <<MSG

  ss-server  127.0.0.1:$server_port  (method $method, generated password)
  ss-local   SOCKS5 proxy at 127.0.0.1:$local_port (the same port is an HTTP proxy too)
  self-check through the proxy: $check

  Point your browser's SOCKS5 proxy at 127.0.0.1:$local_port, or try:
    curl --socks5-hostname 127.0.0.1:$local_port https://example.com/
    curl -x http://127.0.0.1:$local_port https://example.com/

  Logs: $logs/server.log, $logs/local.log (kept). Ctrl-C stops both.
MSG

[[ $check == passed ]] || exit 1
[[ ${SS_DEMO_ONESHOT:-0} == 1 ]] && exit 0
wait "${pids[0]}"
