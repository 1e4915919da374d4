/**
 * The node's BGP speaker, announcing each instance's /32 to a router, as in clouds where the
 * compute node advertises its instances' addresses (Calico's BIRD, ovn-bgp-agent's FRR, an agent
 * driving GoBGP). Three speakers (bird2, FRR, GoBGP) run in the lab's link namespace; the router
 * is always bird2, in its own namespace, and only receives (it installs nothing in any kernel).
 * In a 2-node cluster both nodes' speakers peer with node 1's router, like a top-of-rack router:
 *
 *   <prefix>-link    bgp-rtr 198.18.255.0/31    AS 65001  ── veth ──  node1 198.18.255.1/31    <prefix>-rtr
 *   <prefix>n2-link  bgp-rtr 198.18.255.254/31  AS 65002  ── veth ──  node2 198.18.255.255/31  bird2 AS 65000
 *
 * Daemons run as children of this process (so Node reaps them), in the foreground, with private
 * config/sockets/logs under <lab dir>/bgp/, and listen on the /31 addresses only. See BGP.md.
 */
import { spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { deleteNamespaces, findTool, ipBatch, listNamespaces, nsExec, sh } from './netns.js';
import { releaseOnExit, teardownOnExit } from './cleanup.js';
import { comm, pidAlive, sleep, startDaemon, tail, versionOf } from './procs.js';

export type BgpDaemon = 'bird' | 'frr' | 'gobgp';
export const BGP_DAEMONS: readonly BgpDaemon[] = ['bird', 'frr', 'gobgp'];
export type BgpFault = 'no-bgp' | 'orphan-bgp';

/** The part of a lab this file uses. */
export interface BgpLabEnv {
  prefix: string;
  dir: string;
  linkNs: string;
  instances: { index: number; ip: string; uuid: string }[];
}

export interface BgpLab {
  daemon: BgpDaemon;
  prefix: string;
  /** 1, or 2 for a cluster's node 2, whose speaker peers with node 1's router. */
  node: number;
  /** The lab that owns the router (its bgpDown removes it): `prefix` for node 1, node 1's prefix for node 2. */
  routerOwner: string;
  /** The router's BGP protocol (and interface) for this node: `node1`, `node2`. */
  routerProto: string;
  routerNs: string;
  speakerNs: string;
  speakerAddr: string;
  routerAddr: string;
  speakerAs: number;
  routerAs: number;
  /** The veth end in the speaker (link) namespace; its peer is `routerProto` in routerNs. */
  speakerIface: string;
  /** Node 1: the router's bird, then the speaker daemon(s) (FRR: zebra, bgpd); node 2: its speaker daemon(s) only. */
  pids: number[];
  /** <lab dir>/bgp: every file the daemons use. */
  dir: string;
  /** e.g. "BIRD 2.0.12", "FRR 8.4.4", "GoBGP 3.10.0"; routerVersion is the router's bird. */
  version: string;
  routerVersion: string;
  /** Router side: `birdc -s routerSocket` (run in routerNs). */
  routerSocket: string;
  /** bird speaker: `birdc -s birdSocket`. */
  birdSocket?: string;
  /** FRR speaker: `vtysh --vty_socket vtyDir`. */
  vtyDir?: string;
  /** GoBGP speaker: `gobgp -u apiAddr -p apiPort` (gRPC on the lab address, inside speakerNs). */
  apiAddr?: string;
  apiPort?: number;
  /** From the speaker's start: session Established on the router, and all routes received. */
  timings: { establishedMs: number; routesMs: number };
  /** Current bgpFault()s: instance IPs not announced, and IPs announced although no instance has them. */
  noBgp: string[];
  orphans: string[];
  /** FRR writes to /var/tmp/frr/<daemon>.<pid> (compiled in); remove the parent only if this lab (cluster) made it. */
  frrTmpCreated: boolean;
  /** bird only, set by bgpSetV6: IPv6 /128s announced over an ipv6 channel of the same (IPv4) session. */
  v6?: string[];
}

// ---- constants ---------------------------------------------------------------------------------

/**
 * Node n's /31 to the router: [speaker, router]. .0/.1 and .254/.255 of 198.18.255.0/24 are never
 * an instance's (.2-.251), an orphan-bgp (.252) or a gone port's (.253) address.
 */
const PEERINGS: Record<number, [string, string]> = { 1: ['198.18.255.0', '198.18.255.1'], 2: ['198.18.255.254', '198.18.255.255'] };
/** eBGP, each compute node its own private AS (RFC 7938): node n is 65000 + n. */
const ROUTER_AS = 65000;
const ROUTER_ID = PEERINGS[1][1];
const SPEAKER_IFACE = 'bgp-rtr';
const GOBGP_API_PORT = 50051;
/** The bird speaker's protocol name for the router (the router's for node n is `node<n>`). */
const SPEAKER_PROTO = 'rtr';
const FRR_DIR = '/usr/lib/frr';
const FRR_TMP = '/var/tmp/frr';
const HOLD = 3;
const KEEPALIVE = 1;
const CONNECT_RETRY = 1;
const ESTABLISH_TIMEOUT_MS = 15_000;
const CONVERGE_TIMEOUT_MS = 10_000;
/** Names a recorded PID may have: never signal a PID that has been reused by something else. */
const OUR_COMMS = new Set(['ip', 'bird', 'zebra', 'bgpd', 'gobgpd']);

// ---- small helpers -----------------------------------------------------------------------------


function poll<T>(what: string, timeoutMs: number, probe: () => T | undefined): T {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = probe();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    sleep(50);
  }
}

const ipNum = (ip: string): number => ip.split('.').reduce((n, o) => n * 256 + Number(o), 0);
const isIpv4 = (s: string): boolean => /^(\d{1,3})(\.\d{1,3}){3}$/.test(s) && s.split('.').every((o) => Number(o) <= 255);
/** Inside 198.18.0.0/15, the only range the lab may use. */
const inLab = (ip: string): boolean => isIpv4(ip) && (ip.startsWith('198.18.') || ip.startsWith('198.19.'));

/** Sort "a.b.c.d/len" strings by address (so 198.18.1.10 comes after 198.18.1.9). */
export function sortPrefixes(list: Iterable<string>): string[] {
  return [...list].sort((a, b) => ipNum(a.split('/')[0]) - ipNum(b.split('/')[0]) || a.localeCompare(b));
}

/** The binaries a speaker needs (plus bird2 for the router); null when all are there. */
export function bgpUnavailableReason(daemon: BgpDaemon): string | null {
  const need: Record<BgpDaemon, string[]> = {
    bird: ['bird', 'birdc'],
    frr: [`${FRR_DIR}/zebra`, `${FRR_DIR}/bgpd`, 'vtysh'],
    gobgp: ['gobgpd', 'gobgp'],
  };
  const missing = [...need[daemon], 'bird', 'birdc'].filter((b) => (b.startsWith('/') ? !existsSync(b) : !findTool(b)));
  if (missing.length === 0) return null;
  return `${[...new Set(missing)].join(', ')} not installed (apt-get install bird2 frr gobgpd)`;
}

// ---- the link namespace's /32 routes -----------------------------------------------------------

/** The /32 routes in the lab range of the link namespace's main table: what the speaker should announce. */
export function linkRoutes(env: BgpLabEnv): string[] {
  const routes = JSON.parse(nsExec(env.linkNs, 'ip', ['-j', '-4', 'route', 'show', 'table', 'main']) || '[]') as { dst: string; type?: string }[];
  return sortPrefixes(routes.filter((r) => (r.type ?? 'unicast') === 'unicast' && inLab(r.dst)).map((r) => `${r.dst}/32`));
}

/** What the router should have received: the link routes, less no-bgp, plus orphans. */
function desired(bgp: BgpLab, env: BgpLabEnv): string[] {
  const set = new Set(linkRoutes(env));
  for (const ip of bgp.noBgp) set.delete(`${ip}/32`);
  for (const ip of bgp.orphans) set.add(`${ip}/32`);
  return sortPrefixes(set);
}

// ---- configs -----------------------------------------------------------------------------------

// bird waits max(1, connect delay) s, less up to 25 % (RFC 4271 jitter), before its first connect: hence ~0.8-1 s to Established.
const BIRD_TIMERS = `hold time ${HOLD}; keepalive time ${KEEPALIVE}; connect retry time ${CONNECT_RETRY}; connect delay time 1; error wait time 1, 5;`;

/** The router: one `protocol bgp node<n>` per node, each in its own file under peers/ (node 2 adds its own, then `birdc configure`). */
function routerBirdConf(dir: string): string {
  return `# lm-probe lab: the router. Receives the nodes' /32s; installs nothing in any kernel table.
router id ${ROUTER_ID};
log "${join(dir, 'bird.log')}" all;
protocol device { }
include "${join(dir, 'peers', '*.conf')}";
`;
}

function routerPeerConf(bgp: BgpLab): string {
  return `# lm-probe lab: the router's session with node ${bgp.node} (${bgp.speakerNs})
protocol bgp ${bgp.routerProto} {
  local ${bgp.routerAddr} as ${bgp.routerAs};
  neighbor ${bgp.speakerAddr} as ${bgp.speakerAs};
  strict bind yes; # listen on ${bgp.routerAddr}:179 only
  ${BIRD_TIMERS}
  ipv4 { import all; export none; };
${v6Channel(bgp, 'import all; export none;')}}
`;
}

/**
 * IPv6 without an IPv6 packet: the /128s ride the IPv4 session (MP-BGP, RFC 5549 extended next
 * hop) and are blackholes on the speaker; no interface gets an IPv6 address. They are IPv4-mapped
 * (::ffff:198.18.x.y), so every address stays in the lab's 198.18.0.0/15.
 */
const v6Channel = (bgp: BgpLab, policy: string): string => (bgp.v6 ? `  ipv6 { ${policy} extended next hop on; };\n` : '');
const v6Static = (bgp: BgpLab): string =>
  bgp.v6 ? `protocol static lmp_v6 { # bgpSetV6\n  ipv6;\n${bgp.v6.map((p) => `  route ${p} blackhole;\n`).join('')}}\n` : '';

/**
 * The speaker learns the link namespace's kernel routes (`learn`: they are "proto boot" routes,
 * alien to bird), as Calico's BIRD does: a lab no-route fault then withdraws the /32 by itself.
 * no-bgp is an export filter entry (the kernel route stays), orphan-bgp a static route only the
 * speaker has (like a leftover from an instance that migrated away). Regenerated on every change.
 */
function speakerBirdConf(bgp: BgpLab, log: string): string {
  const noBgp = bgp.noBgp.length ? `  if net ~ [ ${bgp.noBgp.map((ip) => `${ip}/32`).join(', ')} ] then reject; # no-bgp\n` : '';
  const orphans = bgp.orphans.length
    ? `protocol static lmp_orphans { # orphan-bgp\n  ipv4;\n${bgp.orphans.map((ip) => `  route ${ip}/32 blackhole;\n`).join('')}}\n`
    : '';
  return `# lm-probe lab: the compute node's BGP speaker (bird2), in ${bgp.speakerNs}
router id ${bgp.speakerAddr};
log "${log}" all;
protocol device { }
protocol kernel lmp_kernel {
  ipv4 { import where net ~ [ 198.18.0.0/15{32,32} ]; export none; }; # read-only: never writes the kernel table
  learn;
}
${orphans}filter lmp_to_router {
${noBgp}  if net ~ [ 198.18.0.0/15{32,32} ] then accept;
  reject;
}
${v6Static(bgp)}protocol bgp ${SPEAKER_PROTO} {
  local ${bgp.speakerAddr} as ${bgp.speakerAs};
  neighbor ${bgp.routerAddr} as ${bgp.routerAs};
  strict bind yes; # listen on ${bgp.speakerAddr}:179 only
  ${BIRD_TIMERS}
  ipv4 { import none; export filter lmp_to_router; };
${v6Channel(bgp, 'import none; export all;')}}
`;
}

/**
 * FRR: zebra reads the link namespace's kernel routes, bgpd redistributes the /32s of the lab
 * range ("redistribute kernel"; instances also live in 198.19.x, hence /15). no-bgp is an entry in
 * LMP-NO-BGP, which the redistribution route-map denies (an undefined prefix-list matches
 * nothing); orphan-bgp is a `network` statement (import-check off: no route backs it).
 * `bgp route-map delay-timer 1`: the default 5 s delays every prefix-list change, and 0 means
 * route-map changes are never applied.
 */
function frrBgpdConf(bgp: BgpLab, log: string): string {
  const n = `neighbor ${bgp.routerAddr}`;
  return `frr defaults traditional
hostname ${bgp.prefix}-node
log file ${log} informational
!
ip prefix-list LMP-INSTANCES seq 10 permit 198.18.0.0/15 ge 32
!
route-map LMP-REDIST deny 5
 match ip address prefix-list LMP-NO-BGP
exit
route-map LMP-REDIST permit 10
 match ip address prefix-list LMP-INSTANCES
exit
!
bgp route-map delay-timer 1
!
router bgp ${bgp.speakerAs}
 bgp router-id ${bgp.speakerAddr}
 no bgp ebgp-requires-policy
 no bgp network import-check
 coalesce-time 0
 timers bgp ${KEEPALIVE} ${HOLD}
 ${n} remote-as ${bgp.routerAs}
 ${n} update-source ${bgp.speakerAddr}
 ${n} timers ${KEEPALIVE} ${HOLD}
 ${n} timers connect ${CONNECT_RETRY}
 ${n} advertisement-interval 0
 !
 address-family ipv4 unicast
  redistribute kernel route-map LMP-REDIST
 exit-address-family
exit
`;
}

function gobgpConf(bgp: BgpLab): string {
  return `# lm-probe lab: the compute node's BGP speaker (GoBGP); routes are added with "gobgp global rib add"
[global.config]
  as = ${bgp.speakerAs}
  router-id = "${bgp.speakerAddr}"
  port = 179
  local-address-list = ["${bgp.speakerAddr}"] # listen on ${bgp.speakerAddr}:179 only

[[neighbors]]
  [neighbors.config]
    neighbor-address = "${bgp.routerAddr}"
    peer-as = ${bgp.routerAs}
  [neighbors.timers.config]
    connect-retry = ${CONNECT_RETRY}
    hold-time = ${HOLD}
    keepalive-interval = ${KEEPALIVE}
  [neighbors.transport.config]
    local-address = "${bgp.speakerAddr}"
  [[neighbors.afi-safis]]
    [neighbors.afi-safis.config]
      afi-safi-name = "ipv4-unicast"
`;
}

// ---- per-daemon commands -----------------------------------------------------------------------

const sub = (bgp: BgpLab, name: string): string => join(bgp.dir, name);

function birdc(ns: string, socket: string, args: string[]): string {
  return nsExec(ns, 'birdc', ['-s', socket, ...args]);
}

function vtysh(bgp: BgpLab, commands: string[]): string {
  // --config_dir: vtysh reads vtysh.conf from our dir, not /etc/frr.
  const args = ['--vty_socket', bgp.vtyDir!, '--config_dir', bgp.vtyDir!, ...commands.flatMap((c) => ['-c', c])];
  const out = nsExec(bgp.speakerNs, 'vtysh', args);
  if (/^%/m.test(out)) throw new Error(`vtysh ${commands.join(' / ')}: ${out.trim()}`);
  return out;
}

const gobgpArgs = (bgp: BgpLab): string[] => ['-u', bgp.apiAddr!, '-p', String(bgp.apiPort!)];
const gobgp = (bgp: BgpLab, args: string[]): string => nsExec(bgp.speakerNs, 'gobgp', [...gobgpArgs(bgp), ...args]);

/** GoBGP has no kernel: make its global RIB exactly `want` (an agent's reconcile loop). */
function gobgpSync(bgp: BgpLab, want: string[]): void {
  const have = Object.keys((JSON.parse(gobgp(bgp, ['global', 'rib', '-a', 'ipv4', '-j']) || '{}') ?? {}) as Record<string, unknown>);
  for (const p of have.filter((p) => !want.includes(p))) gobgp(bgp, ['global', 'rib', 'del', '-a', 'ipv4', p]);
  for (const p of want.filter((p) => !have.includes(p))) gobgp(bgp, ['global', 'rib', 'add', '-a', 'ipv4', p]);
}

function startSpeaker(bgp: BgpLab, env: BgpLabEnv): void {
  const ns = bgp.speakerNs;
  switch (bgp.daemon) {
    case 'bird': {
      const d = sub(bgp, 'bird');
      writeFileSync(join(d, 'bird.conf'), speakerBirdConf(bgp, join(d, 'bird.log')));
      bgp.pids.push(startDaemon(ns, join(d, 'stdout.log'), 'bird', ['-f', '-c', join(d, 'bird.conf'), '-s', bgp.birdSocket!, '-P', join(d, 'bird.pid')]));
      break;
    }
    case 'frr': {
      const d = bgp.vtyDir!;
      writeFileSync(join(d, 'zebra.conf'), `frr defaults traditional\nhostname ${bgp.prefix}-node\nlog file ${join(d, 'zebra.log')} informational\n`);
      writeFileSync(join(d, 'bgpd.conf'), frrBgpdConf(bgp, join(d, 'bgpd.log')));
      writeFileSync(join(d, 'vtysh.conf'), '! lm-probe lab: keeps vtysh away from /etc/frr/vtysh.conf\n');
      chownTree(d, 'frr');
      // As user frr (the packaged daemons' user); -P 0: no TCP vty; bgpd -l: listen on the lab address only (implies -n, no FIB install).
      const common = (name: string) => ['-u', 'frr', '-g', 'frr', '-f', join(d, `${name}.conf`), '-i', join(d, `${name}.pid`), '-z', join(d, 'zserv.api'), '--vty_socket', d, '-P', '0'];
      bgp.pids.push(startDaemon(ns, join(d, 'zebra.stdout.log'), `${FRR_DIR}/zebra`, common('zebra')));
      // bgpd retries a missing zserv.api only seconds later (routes came ~9 s late once in 12 runs): start it once zebra listens.
      poll('zebra to listen on zserv.api', ESTABLISH_TIMEOUT_MS, () => (existsSync(join(d, 'zserv.api')) ? true : undefined));
      bgp.pids.push(startDaemon(ns, join(d, 'bgpd.stdout.log'), `${FRR_DIR}/bgpd`, [...common('bgpd'), '-l', bgp.speakerAddr]));
      break;
    }
    case 'gobgp': {
      const d = sub(bgp, 'gobgp');
      writeFileSync(join(d, 'gobgpd.toml'), gobgpConf(bgp));
      const api = `${bgp.apiAddr}:${bgp.apiPort}`;
      bgp.pids.push(startDaemon(ns, join(d, 'gobgpd.log'), 'gobgpd', ['-f', join(d, 'gobgpd.toml'), '--api-hosts', api, '--pprof-disable', '--log-plain']));
      poll(`gobgpd's API on ${api}`, ESTABLISH_TIMEOUT_MS, () => (spawnSync('ip', ['netns', 'exec', ns, 'gobgp', ...gobgpArgs(bgp), 'global'], { stdio: 'ignore' }).status === 0 ? true : undefined));
      gobgpSync(bgp, desired(bgp, env));
      break;
    }
  }
}

function chownTree(dir: string, user: string): void {
  const uid = Number(sh('id', ['-u', user]));
  const gid = Number(sh('id', ['-g', user]));
  chownSync(dir, uid, gid);
  for (const f of readdirSync(dir)) chownSync(join(dir, f), uid, gid);
}

/** Push the current noBgp/orphans to the speaker. `prev` is what it had (FRR takes deltas). */
function applyFaults(bgp: BgpLab, env: BgpLabEnv, prev: { noBgp: string[]; orphans: string[] }): void {
  switch (bgp.daemon) {
    case 'bird': {
      const d = sub(bgp, 'bird');
      writeFileSync(join(d, 'bird.conf'), speakerBirdConf(bgp, join(d, 'bird.log')));
      const out = birdc(bgp.speakerNs, bgp.birdSocket!, ['configure']);
      if (!/Reconfigur/.test(out)) throw new Error(`birdc configure: ${out.trim()}`);
      break;
    }
    case 'frr': {
      const cmds = ['configure terminal'];
      for (const ip of bgp.noBgp.filter((x) => !prev.noBgp.includes(x))) cmds.push(`ip prefix-list LMP-NO-BGP permit ${ip}/32`);
      for (const ip of prev.noBgp.filter((x) => !bgp.noBgp.includes(x))) cmds.push(`no ip prefix-list LMP-NO-BGP permit ${ip}/32`);
      cmds.push(`router bgp ${bgp.speakerAs}`, 'address-family ipv4 unicast');
      for (const ip of bgp.orphans.filter((x) => !prev.orphans.includes(x))) cmds.push(`network ${ip}/32`);
      for (const ip of prev.orphans.filter((x) => !bgp.orphans.includes(x))) cmds.push(`no network ${ip}/32`);
      vtysh(bgp, cmds); // never "write": vtysh's integrated config would go to /etc/frr
      break;
    }
    case 'gobgp':
      gobgpSync(bgp, desired(bgp, env));
      break;
  }
}

// ---- what the router received, what the speaker says it announces -----------------------------

/** Prefixes at the start of lines, as birdc's `show route` prints them. */
function birdPrefixes(out: string): string[] {
  return sortPrefixes([...out.matchAll(/^(\d{1,3}(?:\.\d{1,3}){3}\/\d{1,2})\s/gm)].map((m) => m[1]));
}

/**
 * What the router received from this node (`birdc show route protocol node<n>` in the router
 * namespace), sorted. With a shared router it lists the node's paths, best or not.
 */
export function announced(bgp: BgpLab): string[] {
  return birdPrefixes(birdc(bgp.routerNs, bgp.routerSocket, ['show', 'route', 'protocol', bgp.routerProto]));
}

/**
 * The whole router's view (`birdc show route`): prefix -> the protocols (`node1`, `node2`) it
 * has a path from, sorted. Any node's BgpLab will do: they all name the same router.
 */
export function routerView(bgp: BgpLab): Record<string, string[]> {
  const view: Record<string, string[]> = {};
  let prefix = '';
  // A prefix's first path is on its line, the others on the following indented lines:
  // "198.18.1.2/32  unicast [node1 12:00:00.000] * (100) [AS65001i]" / "  unicast [node2 ...] (100) [AS65002i]".
  for (const m of birdc(bgp.routerNs, bgp.routerSocket, ['show', 'route']).matchAll(/^(\S+\/\d+)?\s+\w+ \[(\S+) /gm)) {
    prefix = m[1] ?? prefix;
    (view[prefix] ??= []).push(m[2]);
  }
  for (const p of Object.keys(view)) view[p].sort();
  return Object.fromEntries(sortPrefixes(Object.keys(view)).map((p) => [p, view[p]]));
}

export interface SpeakerView {
  /** Fixture base name, e.g. "export-all" or "advertised-routes". */
  name: string;
  ext: 'txt' | 'json';
  /** The command, run inside speakerNs (`ip netns exec <speakerNs> ...`). */
  argv: string[];
  output: string;
}

/** The speaker-side commands a `bgp-announcements` probe would read, with their current output. The first is the primary one. */
export function speakerViews(bgp: BgpLab): SpeakerView[] {
  const view = (name: string, ext: 'txt' | 'json', argv: string[]) => ({ name, ext, argv });
  const peer = bgp.routerAddr;
  const birdcCmd = ['birdc', '-s', bgp.birdSocket!];
  const vtyshCmd = ['vtysh', '--vty_socket', bgp.vtyDir!, '--config_dir', bgp.vtyDir!, '-c'];
  const adjOut = ['gobgp', ...gobgpArgs(bgp), 'neighbor', peer, 'adj-out', '-a', 'ipv4'];
  const views = {
    bird: () => [
      view('export-all', 'txt', [...birdcCmd, 'show', 'route', 'export', SPEAKER_PROTO, 'all']),
      view('protocols-all', 'txt', [...birdcCmd, 'show', 'protocols', 'all', SPEAKER_PROTO]),
    ],
    frr: () => [
      view('advertised-routes', 'json', [...vtyshCmd, `show bgp ipv4 unicast neighbors ${peer} advertised-routes json`]),
      view('advertised-routes', 'txt', [...vtyshCmd, `show bgp ipv4 unicast neighbors ${peer} advertised-routes`]),
    ],
    gobgp: () => [view('adj-out', 'json', [...adjOut, '-j']), view('adj-out', 'txt', adjOut)],
  }[bgp.daemon]();
  return views.map((v) => ({ ...v, output: nsExec(bgp.speakerNs, v.argv[0], v.argv.slice(1)) }));
}

/** The prefixes the speaker says it announces to the router, parsed from its primary view. */
export function speakerAnnounced(bgp: BgpLab): string[] {
  const out = speakerViews(bgp)[0].output;
  switch (bgp.daemon) {
    case 'bird':
      return birdPrefixes(out);
    case 'frr':
      return sortPrefixes(Object.keys((JSON.parse(out) as { advertisedRoutes?: Record<string, unknown> }).advertisedRoutes ?? {}));
    case 'gobgp':
      return sortPrefixes(Object.keys((JSON.parse(out.trim() || '{}') as Record<string, unknown> | null) ?? {}));
  }
}

function routerEstablished(bgp: BgpLab): boolean {
  const r = spawnSync('ip', ['netns', 'exec', bgp.routerNs, 'birdc', '-s', bgp.routerSocket, 'show', 'protocols', bgp.routerProto], { encoding: 'utf8' });
  return r.status === 0 && /Established/.test(r.stdout);
}

/** Wait (bounded) until the router holds exactly `want` from this node (what other nodes announce does not count). */
function waitRouter(bgp: BgpLab, want: string[]): void {
  let last: string[] = [];
  try {
    poll(`the router to receive [${want.join(' ')}]`, CONVERGE_TIMEOUT_MS, () => {
      last = announced(bgp);
      return last.join() === want.join() ? true : undefined;
    });
  } catch (err) {
    throw new Error(`${(err as Error).message}; it has [${last.join(' ')}] (${bgp.daemon} speaker)`);
  }
}

// ---- API ---------------------------------------------------------------------------------------

/**
 * Start `daemon` as the node's speaker in env.linkNs, announcing every /32 route of the link
 * namespace, and the router (`<prefix>-rtr`, bird2) it peers with; returns once the router has
 * them all. With `router` (node 1's BgpLab), this is a cluster's node 2: its speaker gets its own
 * veth into that router's namespace and the router a `node2` session (`birdc configure`, no restart).
 */
export function bgpUp(env: BgpLabEnv, daemon: BgpDaemon, router?: BgpLab): BgpLab {
  if (!BGP_DAEMONS.includes(daemon)) throw new Error(`unknown BGP daemon ${JSON.stringify(daemon)} (want ${BGP_DAEMONS.join(', ')})`);
  const missing = bgpUnavailableReason(daemon);
  if (missing) throw new Error(missing);
  if (!/^lmp[a-z0-9]+$/.test(env.prefix)) throw new Error(`not a lab prefix: ${env.prefix}`);
  const dir = join(env.dir, 'bgp');
  if (existsSync(dir)) throw new Error(`lab ${env.prefix} already has a BGP speaker (${dir}); one at a time`);
  if (router && router.node !== 1) throw new Error(`node 2 peers with node 1's router, not node ${router.node}'s`);
  const node = router ? 2 : 1;
  const [speakerAddr, routerAddr] = PEERINGS[node];

  const bgp: BgpLab = {
    daemon,
    prefix: env.prefix,
    node,
    routerOwner: router?.prefix ?? env.prefix,
    routerProto: `node${node}`,
    routerNs: router?.routerNs ?? `${env.prefix}-rtr`,
    speakerNs: env.linkNs,
    speakerAddr,
    routerAddr,
    speakerAs: ROUTER_AS + node,
    routerAs: ROUTER_AS,
    speakerIface: SPEAKER_IFACE,
    pids: [],
    dir,
    version: {
      bird: () => versionOf('bird', ['--version'], /BIRD version (\S+)/, 'BIRD'),
      frr: () => versionOf(`${FRR_DIR}/bgpd`, ['--version'], /bgpd version (\S+)/, 'FRR'),
      gobgp: () => versionOf('gobgpd', ['--version'], /gobgpd version (\S+)/, 'GoBGP'),
    }[daemon](),
    routerVersion: versionOf('bird', ['--version'], /BIRD version (\S+)/, 'BIRD'),
    routerSocket: router?.routerSocket ?? join(dir, 'router', 'bird.ctl'),
    timings: { establishedMs: NaN, routesMs: NaN },
    noBgp: [],
    orphans: [],
    // Node 2 shares node 1's claim: either may go last (a sweep takes them in any order).
    frrTmpCreated: daemon === 'frr' && (!existsSync(FRR_TMP) || router?.frrTmpCreated === true),
  };
  if (daemon === 'bird') bgp.birdSocket = join(dir, 'bird', 'bird.ctl');
  if (daemon === 'frr') bgp.vtyDir = join(dir, 'frr');
  if (daemon === 'gobgp') Object.assign(bgp, { apiAddr: speakerAddr, apiPort: GOBGP_API_PORT });

  const exitKey = `${env.prefix}-bgp`;
  teardownOnExit(exitKey, () => bgpDown(bgp)); // before anything exists, so a crash half-way still cleans up
  try {
    mkdirSync(join(dir, daemon), { recursive: true });
    if (!router) {
      mkdirSync(join(routerDir(bgp), 'peers'), { recursive: true });
      ipBatch([`netns add ${bgp.routerNs}`]);
    }
    // The /31 between the node and the router; no IPv6 (addrgenmode none), no other address, no default route.
    ipBatch([
      `link add ${SPEAKER_IFACE} type veth peer name ${bgp.routerProto} netns ${bgp.routerNs}`,
      `link set ${SPEAKER_IFACE} addrgenmode none`,
      `address add ${speakerAddr}/31 dev ${SPEAKER_IFACE}`,
      `link set ${SPEAKER_IFACE} up`,
    ], env.linkNs);
    const iface = bgp.routerProto;
    ipBatch([...(router ? [] : ['link set lo up']), `link set ${iface} addrgenmode none`, `address add ${routerAddr}/31 dev ${iface}`, `link set ${iface} up`], bgp.routerNs);
    writeFileSync(peerFile(bgp), routerPeerConf(bgp));
    if (router) {
      configureRouter(bgp);
    } else {
      const r = routerDir(bgp);
      writeFileSync(join(r, 'bird.conf'), routerBirdConf(r));
      bgp.pids.push(startDaemon(bgp.routerNs, join(r, 'stdout.log'), 'bird', ['-f', '-c', join(r, 'bird.conf'), '-s', bgp.routerSocket, '-P', join(r, 'bird.pid')]));
      poll('the router bird to start', ESTABLISH_TIMEOUT_MS, () => (existsSync(bgp.routerSocket) ? true : undefined));
    }

    const t0 = Date.now();
    startSpeaker(bgp, env);
    poll(`the ${daemon} session to be Established`, ESTABLISH_TIMEOUT_MS, () => {
      if (!bgp.pids.every(pidAlive)) throw new Error(`a BGP daemon exited`);
      return routerEstablished(bgp) ? true : undefined;
    });
    bgp.timings.establishedMs = Date.now() - t0;
    waitRouter(bgp, desired(bgp, env));
    bgp.timings.routesMs = Date.now() - t0;
    save(bgp);
  } catch (err) {
    const logs = readLogs(bgp);
    bgpDown(bgp);
    throw new Error(`bgpUp(${daemon}): ${(err as Error).message}${logs}`);
  }
  return bgp;
}

/** The router's files (in the router owner's lab dir), and this node's session file among them. */
const routerDir = (bgp: BgpLab): string => dirname(bgp.routerSocket);
const peerFile = (bgp: BgpLab): string => join(routerDir(bgp), 'peers', `${bgp.routerProto}.conf`);

/** Make the running router re-read its config (sessions with the other nodes stay up). */
function configureRouter(bgp: BgpLab): void {
  const out = birdc(bgp.routerNs, bgp.routerSocket, ['configure']);
  if (!/Reconfigur/.test(out)) throw new Error(`router: birdc configure: ${out.trim()}`);
}

/** <lab dir>/bgp/bgp.json: this record (PIDs, sockets, faults), for a CLI, a probe's config or a sweep. */
function save(bgp: BgpLab): void {
  writeFileSync(join(bgp.dir, 'bgp.json.tmp'), JSON.stringify(bgp, null, 2) + '\n');
  renameSync(join(bgp.dir, 'bgp.json.tmp'), join(bgp.dir, 'bgp.json'));
}

function readLogs(bgp: BgpLab): string {
  const files: string[] = [];
  for (const d of [routerDir(bgp), join(bgp.dir, bgp.daemon)]) {
    try {
      for (const f of readdirSync(d)) if (f.endsWith('.log')) files.push(join(d, f));
    } catch {
      /* no dir */
    }
  }
  return files.map((f) => `\n--- ${f}\n${tail(f)}`).join('');
}

/**
 * Stop the daemons (by their PIDs), remove the veth and every file, and the router namespace if
 * this node owns it (node 2 only leaves the shared router). Idempotent, never throws.
 */
export function bgpDown(bgp: BgpLab): void {
  const ours = bgp.pids.filter((pid) => pidAlive(pid) && OUR_COMMS.has(comm(pid) ?? ''));
  for (const pid of ours) signal(pid, 'SIGTERM'); // all three shut down cleanly on SIGTERM (bird and FRR remove their sockets)
  const end = Date.now() + 3_000;
  while (ours.some(pidAlive) && Date.now() < end) sleep(20);
  for (const pid of ours.filter(pidAlive)) signal(pid, 'SIGKILL');
  while (ours.some(pidAlive) && Date.now() < end + 2_000) sleep(20);

  // Deleting a veth end deletes its peer too: this node's interface in the router namespace goes with it.
  if (listNamespaces().includes(bgp.speakerNs)) spawnSync('ip', ['-n', bgp.speakerNs, 'link', 'del', bgp.speakerIface], { stdio: 'ignore' });
  if (bgp.routerOwner === bgp.prefix) {
    deleteNamespaces([bgp.routerNs]); // with any other node's veth end in it; their bgpDown finds nothing left
  } else {
    // A node 2 leaves the shared router: drop its session (a router already gone has nothing to drop).
    rmSync(peerFile(bgp), { force: true });
    if (existsSync(bgp.routerSocket)) spawnSync('ip', ['netns', 'exec', bgp.routerNs, 'birdc', '-s', bgp.routerSocket, 'configure'], { stdio: 'ignore', timeout: 10_000 });
  }
  if (bgp.daemon === 'frr') {
    // FRR keeps a crash-log dir in /var/tmp/frr/<daemon>.<pid> (removed on a clean exit, not after SIGKILL).
    for (const pid of bgp.pids) for (const d of ['zebra', 'bgpd']) rmSync(join(FRR_TMP, `${d}.${pid}`), { recursive: true, force: true });
    if (bgp.frrTmpCreated) spawnSync('rmdir', [FRR_TMP], { stdio: 'ignore' }); // only if empty: another lab's FRR may use it
  }
  rmSync(bgp.dir, { recursive: true, force: true });
  releaseOnExit(`${bgp.prefix}-bgp`);
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    /* already gone */
  }
}

/**
 * no-bgp: the speaker stops announcing `ip` (its route stays in the link namespace).
 * orphan-bgp: the speaker announces `ip`/32 although no instance has that IP.
 * Returns once the router's view has changed accordingly (bounded).
 */
export function bgpFault(bgp: BgpLab, env: BgpLabEnv, fault: BgpFault, ip: string): void {
  if (!inLab(ip)) throw new Error(`${ip}: not an address in the lab range 198.18.0.0/15`);
  const prev = { noBgp: [...bgp.noBgp], orphans: [...bgp.orphans] };
  if (fault === 'no-bgp') {
    if (!bgp.noBgp.includes(ip)) bgp.noBgp.push(ip);
  } else if (fault === 'orphan-bgp') {
    if (env.instances.some((i) => i.ip === ip)) throw new Error(`orphan-bgp needs an IP no instance has; ${ip} is instance ${env.instances.find((i) => i.ip === ip)!.index}'s`);
    if (!bgp.orphans.includes(ip)) bgp.orphans.push(ip);
  } else {
    throw new Error(`unknown BGP fault ${JSON.stringify(fault)} (want no-bgp, orphan-bgp)`);
  }
  applyFaults(bgp, env, prev);
  save(bgp);
  waitRouter(bgp, desired(bgp, env));
}

/** Undo every bgpFault: the speaker announces exactly the link namespace's /32s again. */
export function bgpHeal(bgp: BgpLab, env: BgpLabEnv): void {
  const prev = { noBgp: bgp.noBgp, orphans: bgp.orphans };
  bgp.noBgp = [];
  bgp.orphans = [];
  applyFaults(bgp, env, prev);
  save(bgp);
  waitRouter(bgp, desired(bgp, env));
}

/**
 * Make the speaker's faults exactly `faults` (any mix of no-bgp and orphan IPs), and reconcile
 * it with the link namespace's current /32s (GoBGP has no kernel view: a new instance's route
 * reaches it only this way). Returns once the router agrees (bounded). The lab uses this to
 * heal one instance's BGP faults and to keep the speaker in step with addInstance.
 */
export function bgpSetFaults(bgp: BgpLab, env: BgpLabEnv, faults: { noBgp: string[]; orphans: string[] }): void {
  for (const ip of [...faults.noBgp, ...faults.orphans]) if (!inLab(ip)) throw new Error(`${ip}: not an address in the lab range 198.18.0.0/15`);
  const prev = { noBgp: bgp.noBgp, orphans: bgp.orphans };
  bgp.noBgp = [...new Set(faults.noBgp)];
  bgp.orphans = [...new Set(faults.orphans)];
  applyFaults(bgp, env, prev);
  save(bgp);
  waitRouter(bgp, desired(bgp, env));
}

/**
 * bird speaker only: announce exactly these IPv6 /128s (IPv4-mapped, "::ffff:198.18.x.y/128") on an
 * ipv6 channel of the session, the router's side too. The first call adds the channel (bird
 * restarts the session). Returns once the router has exactly them from this node (bounded).
 */
export function bgpSetV6(bgp: BgpLab, prefixes: string[]): void {
  if (bgp.daemon !== 'bird') throw new Error(`bgpSetV6: bird speakers only, not ${bgp.daemon}`);
  for (const p of prefixes) if (!p.startsWith('fd6c:6d70::') || !p.endsWith('/128')) throw new Error(`${p}: not a /128 of the lab's IPv6 prefix (fd6c:6d70::/64)`);
  bgp.v6 = [...new Set(prefixes)];
  const d = sub(bgp, 'bird');
  writeFileSync(join(d, 'bird.conf'), speakerBirdConf(bgp, join(d, 'bird.log')));
  writeFileSync(peerFile(bgp), routerPeerConf(bgp));
  configureRouter(bgp);
  const out = birdc(bgp.speakerNs, bgp.birdSocket!, ['configure']);
  if (!/Reconfigur/.test(out)) throw new Error(`birdc configure: ${out.trim()}`);
  save(bgp);
  const want = [...bgp.v6].sort().join();
  poll(`the router to receive [${want}] from ${bgp.routerProto}`, ESTABLISH_TIMEOUT_MS, () => {
    const got = birdc(bgp.routerNs, bgp.routerSocket, ['show', 'route', 'table', 'master6', 'protocol', bgp.routerProto]);
    return [...got.matchAll(/^(\S+\/128)\s/gm)].map((m) => m[1]).sort().join() === want ? true : undefined;
  });
}

/** The BGP record a lab dir holds (<dir>/bgp/bgp.json), or null: lets labDown stop a speaker another process started. */
export function readBgpRecord(labDir: string): BgpLab | null {
  try {
    return JSON.parse(readFileSync(join(labDir, 'bgp', 'bgp.json'), 'utf8')) as BgpLab;
  } catch {
    return null;
  }
}
