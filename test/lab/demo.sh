#!/usr/bin/env bash
# npm run demo: build lm-probe, bring up a 2-node lab with 6 instances on node 1 (2: no-route,
# 3: drop-icmp, 4: no-flows) and a nova disk tree on each node, live-migrate instance 1 to node 2
# forgetting its route, its flows and its instance dir on node 1 (--leave route,flows,disk; node 1's
# bird speaker, which follows its kernel routes, then keeps announcing the /32 too), run the probes
# against both nodes and the disk reaper's dry run on node 1, `lm-probe instance` before (--save)
# and after (--compare) the migration, print what they say, deliver the
# results as passive checks through NSCA to the lab's nagios and print what nagios shows, then
# tear the lab down.
# For a fresh Debian 12, as root. Exits 0 when the probes report non-OK: that is the point.
set -euo pipefail
cd "$(dirname "$0")/../.."

if [ "$(id -u)" != 0 ]; then
  echo "demo: must run as root (the lab uses network namespaces)" >&2
  exit 1
fi

bash test/setup.sh        # Debian packages and npm dependencies, only what is missing
npm run -s build

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

lab_json=$(npm run -s lab -- up 6 --nodes 2 --bgp bird --disks --monitoring --faults 2:no-route,3:drop-icmp,4:no-flows)
prefix=$(basename "$(dirname "$lab_json")")
config1="$(dirname "$lab_json")/config.yaml"
uuid1=$(node -e 'console.log(JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")).instances[0].uuid)' "$lab_json")
before="$(dirname "$lab_json")/instance-1-before.json"
# A migration workflow's "before" step, on the source: instance 1's findings, kept to compare with.
bin/lm-probe instance "$uuid1" --quiet --config "$config1" --save "$before" >/dev/null || true
config2=$(npm run -s lab -- migrate 1 --leave route,flows,disk --prefix "$prefix")
npm run -s lab -- status "$prefix"

# Nagios exit codes: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN. Non-OK is expected here.
probe() {
  echo
  echo "+ lm-probe $*"
  local rc=0
  # In the background + wait, so that a signal runs the trap at once, not when the probe ends.
  bin/lm-probe "$@" &
  child=$!
  wait "$child" || rc=$?
  child=""
  echo "(exit code $rc)"
}
probe run --config "$config1"    # node 1: the three faults, and the route, flows, BGP announcement and dir instance 1 left behind
probe reap-disks --config "$config1"   # node 1: what the disk reaper would do (a dry run: nothing changes)
probe run --config "$config2"    # node 2: instance 1, migrated
probe instance "$uuid1" --quiet --config "$config2" --compare "$before"   # the "after" step, on the destination: what the migration broke
probe instance "$uuid1" --quiet --config "$config1"   # and on the source: what instance 1 left behind
# The migration, counted on both sides with its real duration and downtime (Prometheus textfile).
for config in "$config1" "$config2"; do
  probe metrics --quiet --config "$config" >/dev/null
  echo "+ $(dirname "$config")/metrics/lm-probe.prom:"
  grep -E '^lm_probe_migrations_total|^lm_probe_migration_(duration|downtime)_seconds_(sum|count)' "$(dirname "$config")/metrics/lm-probe.prom" | grep -v ' 0$' || true
done

# The same runs delivered as passive checks: from each node's namespace (the hypervisor's
# management network), through send_nsca to the lab's nsca and nagios (test/lab/MONITORING.md).
passive() {
  local dir; dir=$(dirname "$1")
  # shellcheck disable=SC1091
  . "$dir/monitoring.env"
  { cat "$1"; printf 'report:\n  passive:\n    - {type: nsca, host: "%s", port: %s, config: "%s"}\n' "$LMP_MON_ADDR" "$LMP_NSCA_PORT" "$LMP_NSCA_CONFIG"; } > "$dir/config-passive.yaml"
  echo
  echo "+ ip netns exec $LMP_MON_NETNS lm-probe run --passive --config $dir/config-passive.yaml   (its delivery lines)"
  { ip netns exec "$LMP_MON_NETNS" bin/lm-probe run --passive --config "$dir/config-passive.yaml" 2>&1 >/dev/null || true; } | grep 'passive:' || true
}
passive "$config1"
passive "$config2"
sleep 2   # nagios writes status.dat every second
echo
echo "+ what nagios shows (status.dat: host, service, state, output)"
awk -F= '/^servicestatus \{/ { h = s = st = o = ""; lc = 0 }
  /^\thost_name=/ { h = $2 } /^\tservice_description=/ { s = $2 } /^\tcurrent_state=/ { st = $2 }
  /^\tlast_check=/ { lc = $2 } /^\tplugin_output=/ { o = substr($0, index($0, "=") + 1) }
  /^\t\}/ && h != "" && lc > 0 { printf "%s  %s  %s  %s\n", h, s, st, o; h = "" }' "$LMP_NAGIOS_STATUS"

echo
down
trap - EXIT
