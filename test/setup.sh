#!/usr/bin/env bash
# Installs what a fresh Debian 12 machine lacks to build lm-probe and run its tests and lab:
# the system tools the lab and the probes use, and the npm dependencies. Idempotent and quiet
# when everything is there (it runs before every `npm test` and `npm run demo`).
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages: iproute2 (ip netns, veth), ping/arping/fping/mtr (what the probes and the
# lab check with), openvswitch-switch (the lab's br-int, userspace datapath), libvirt-clients
# (virsh; its test driver serves the lab's domains), libvirt-daemon + its qemu driver +
# qemu-system-x86 (the lab's real KVM live migration), qemu-utils (the lab's nova disk tree),
# bird2/frr/gobgpd (the node's BGP speaker and the lab router), nagios4/nsca/icinga2/curl (the
# lab's monitoring namespace, for passive checks), time (/usr/bin/time -v), monitoring-plugins-basic
# (check_icmp, which `npm run bench` measures lm-probe against),
# util-linux (unshare, setpriv).
PACKAGES=(iproute2 iputils-ping arping arp-scan ndisc6 fping mtr-tiny openvswitch-switch libvirt-clients libvirt-daemon libvirt-daemon-driver-qemu qemu-system-x86 qemu-utils bird2 frr gobgpd nagios4 nsca icinga2 curl openssl time util-linux procps prometheus prometheus-node-exporter monitoring-plugins-basic)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "lm-probe setup: missing Debian packages: ${missing[*]} (run as root to install them)" >&2
  else
    echo "lm-probe setup: installing ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    # The lab runs its own OVS with private sockets: apt must not start the host's services.
    guard=/usr/sbin/policy-rc.d
    [ -e "$guard" ] || { printf '#!/bin/sh\nexit 101\n' > "$guard"; chmod +x "$guard"; trap 'rm -f "$guard"' EXIT; }
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
fi

# Debian's libvirtd refuses to start its QEMU driver without this user (libvirt-daemon-system
# would create it, but also brings the host's libvirt services, which the lab never uses).
if [ "$(id -u)" = 0 ] && ! getent passwd libvirt-qemu >/dev/null; then
  getent group libvirt-qemu >/dev/null || groupadd --system libvirt-qemu
  useradd --system -g libvirt-qemu -d /nonexistent -M -s /usr/sbin/nologin libvirt-qemu
fi

# npm dependencies, from the lock file; again only when package-lock.json changed.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi
