#!/usr/bin/env bash
# npm run demo: build lm-probe, bring up a lab node with 6 instances (2: no-route, 3: drop-icmp,
# 4: dead), run the probes against it and print what they say, then tear the lab down.
# For a fresh Debian 12, as root. Exits 0 when the probes report non-OK: that is the point.
set -euo pipefail
cd "$(dirname "$0")/../.."

if [ "$(id -u)" != 0 ]; then
  echo "demo: must run as root (the lab uses network namespaces)" >&2
  exit 1
fi

# System tools: the lab needs ip, ping, arping, sysctl; the probes also use fping and mtr.
# (Debian's "arping" is Thomas Habets' arping, which is the one the probes expect.)
missing=()
for pair in ip:iproute2 ping:iputils-ping arping:arping fping:fping mtr:mtr-tiny sysctl:procps; do
  tool=${pair%%:*} pkg=${pair#*:}
  command -v "$tool" >/dev/null 2>&1 || [ -x "/usr/sbin/$tool" ] || [ -x "/sbin/$tool" ] || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "demo: installing ${missing[*]}"
  apt-get update
  DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}"
fi

[ -d node_modules ] || npm ci

build_failed=0
if ! npm run build; then
  # Keep the demo useful while src/ is mid-change: build the lab alone, run it, fail at the end.
  build_failed=1
  echo "demo: WARNING: npm run build failed; building only the lab to go on (lm-probe may not start)" >&2
  npx tsc --noEmit false --outDir build --rootDir . --module NodeNext --moduleResolution NodeNext \
    --target ES2022 --strict --skipLibCheck --types node test/lab/*.ts
fi

prefix="" child=""
down() {
  # A probe still running (we were interrupted) is ours: stop it by its PID first.
  if [ -n "$child" ]; then
    kill "$child" 2>/dev/null || true
    wait "$child" 2>/dev/null || true
    child=""
  fi
  if [ -n "$prefix" ]; then
    npm run -s lab -- down "$prefix" || true
    prefix=""
  fi
}
trap down EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

lab_json=$(npm run -s lab -- up 6 --faults 2:no-route,3:drop-icmp,4:dead)
prefix=$(basename "$(dirname "$lab_json")")
config="$(dirname "$lab_json")/config.yaml"
npm run -s lab -- status "$prefix"

# Nagios exit codes: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN. Non-OK is expected here.
probe() {
  echo
  echo "+ bin/lm-probe $*"
  local rc=0
  # In the background + wait, so that a signal runs the trap at once, not when the probe ends.
  bin/lm-probe "$@" &
  child=$!
  wait "$child" || rc=$?
  child=""
  echo "(exit code $rc)"
}
probe run --config "$config"
probe instance-routed --debug --config "$config"

echo
down
trap - EXIT
exit "$build_failed"
