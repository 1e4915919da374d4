/**
 * The lab's monitoring namespace: the receivers lm-probe's passive check results go to.
 * nagios4 (external command file + status.dat), nsca in front of it, and icinga2 with its REST
 * API, all in `<prefix>-mon`, reachable from each peer namespace (a lab node's node namespace,
 * where results are sent from) over its own veth with a /31; the daemons listen on one service
 * address on the mon namespace's lo, routed via each /31, so every node sends to the same address:
 *
 *   <peer 1>  to-mon 198.18.254.0/31 ── veth ── to-node1 198.18.254.1/31 ┐ <prefix>-mon
 *   <peer 2>  to-mon 198.18.254.2/31 ── veth ── to-node2 198.18.254.3/31 ┘  lo 198.18.254.254/32:
 *                                                   nsca    :5667 → nagios command file
 *                                                   icinga2 :5665 (API, TLS)
 *                                                   nagios4 (no socket; files only)
 *
 * Every daemon runs as a child of this process, in the foreground, as root, with private
 * config/state/run/log dirs under <lab dir>/mon/, and is stopped by its recorded PID. The host's
 * own /etc/nagios4, /etc/icinga2, /etc/nsca.cfg and services are never used. See MONITORING.md.
 */
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, closeSync, existsSync, mkdirSync, openSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { deleteNamespaces, findTool, ipBatch, listNamespaces } from './netns.js';
import { releaseOnExit, teardownOnExit } from './cleanup.js';
import { comm, groupPids, pidAlive, sleep, startDaemon, stopPid, tail, versionOf } from './procs.js';

const groupAlive = (pgid: number): boolean => groupPids(pgid).length > 0;
const ours = (c: string): boolean => OUR_COMMS.has(c);

export interface ServiceState {
  state: number;
  output: string;
  perfdata: string;
  /** Unix seconds; 0 = never checked. */
  lastCheck: number;
}

/** A namespace results come from: one per lab node. */
export interface MonitoringPeer {
  /** The node's name (its config.yaml `host`): its host object in nagios and icinga2. */
  host: string;
  /** Where the results are sent from (`ip netns exec <ns> send_nsca|curl`). */
  ns: string;
  /** The veth end in `ns` ("to-mon") and its /31 address. */
  iface: string;
  addr: string;
  /** The other end, in the mon namespace ("to-node<k>"), and its address: the route to the service address. */
  monIface: string;
  monAddr: string;
}

export interface MonitoringLab {
  /** The lab that owns it (node 1's prefix): it lives in that lab's dir and its labDown stops it. */
  prefix: string;
  /** <prefix>-mon */
  ns: string;
  /** The service address (on the mon namespace's lo) nsca and icinga2 listen on, the same for every peer. */
  addr: string;
  peers: MonitoringPeer[];
  /** <lab dir>/mon: every file the daemons use. */
  dir: string;
  /** Every peer's host has these passive services, the same in nagios and icinga2. */
  services: string[];
  nagios: { commandFile: string; statusFile: string; pid: number; version: string };
  nsca: { port: number; password: string; /** for send_nsca -c */ configFile: string; pid: number; version: string };
  icinga: {
    apiUrl: string;
    user: string;
    password: string;
    /** The lab CA (icinga2 pki new-ca); the server certificate's CN is tlsName, not the address. */
    caFile?: string;
    /** The ApiUser a client certificate with CN clientCn logs in as (icingaClientCert issues one). */
    certUser?: string;
    clientCn?: string;
    tlsName: string;
    pid: number;
    version: string;
  };
  timings: { certsMs: number; nagiosMs: number; nscaMs: number; icingaMs: number; totalMs: number };
}

// ---- constants ---------------------------------------------------------------------------------

/** Peer k (1-based) gets 198.18.254.(2k-2)/31, the mon side .(2k-1); the service address is above them all. */
const MON_ADDR = '198.18.254.254';
const MAX_PEERS = 127;
const PEER_IFACE = 'to-mon';
const NSCA_PORT = 5667;
const ICINGA_PORT = 5665;
const ICINGA_USER = 'lmp-probe';
/** The API user authenticated by a client certificate instead of a password, and the CN it must carry. */
const ICINGA_CERT_USER = 'lmp-probe-cert';
const ICINGA_CLIENT_CN = 'lmp-probe-client';
/** lm-probe's probes: one passive service each. */
export const MONITORING_SERVICES: readonly string[] = ['instance-routed', 'bgp-announcements', 'openflow-rules', 'ovs-ports', 'orphaned-disks'];
const NAGIOS_BIN = '/usr/sbin/nagios4';
const NAGIOS_TIMEOUT_MS = 15_000;
const ICINGA_TIMEOUT_MS = 30_000;
/** Names a recorded PID may have: never signal a PID that has been reused by something else. */
const OUR_COMMS = new Set(['ip', 'nagios4', 'nagios', 'nsca', 'icinga2']);

// ---- small helpers -----------------------------------------------------------------------------


function poll<T>(what: string, timeoutMs: number, probe: () => T | undefined, diag?: () => string): T {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = probe();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${diag ? `\n${diag()}` : ''}`);
    sleep(50);
  }
}

function run(cmd: string, args: string[], opts: { input?: string; timeout?: number } = {}): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(cmd, args, { input: opts.input, encoding: 'utf8', timeout: opts.timeout ?? 30_000 });
  if (r.error) throw new Error(`${cmd} ${args.join(' ')}: ${r.error.message}`);
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function mustRun(cmd: string, args: string[], opts: { input?: string; timeout?: number } = {}): string {
  const r = run(cmd, args, opts);
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}: ${(r.stderr || r.stdout).trim()}`);
  return r.stdout;
}

/** The binaries needed; null when all are there. */
export function monitoringUnavailableReason(): string | null {
  const need = [NAGIOS_BIN, 'nsca', 'send_nsca', 'icinga2', 'curl'];
  const missing = need.filter((b) => (b.startsWith('/') ? !existsSync(b) : !findTool(b)));
  if (missing.length === 0) return null;
  return `${missing.join(', ')} not installed (apt-get install --no-install-recommends nagios4 nsca icinga2 curl)`;
}

// ---- configs -----------------------------------------------------------------------------------

function nagiosCfg(d: string): string {
  return `# lm-probe lab: private nagios4 main config (never /etc/nagios4)
cfg_file=${d}/objects.cfg
log_file=${d}/nagios.log
object_cache_file=${d}/objects.cache
precached_object_file=${d}/objects.precache
status_file=${d}/status.dat
status_update_interval=1
temp_file=${d}/nagios.tmp
temp_path=${d}/tmp
check_result_path=${d}/checkresults
lock_file=${d}/nagios.lock
query_socket=${d}/nagios.qh
command_file=${d}/nagios.cmd
check_external_commands=1
command_check_interval=1s
state_retention_file=${d}/retention.dat
retain_state_information=0
use_retained_program_state=0
nagios_user=root
nagios_group=root
check_workers=1
use_syslog=0
log_rotation_method=n
log_passive_checks=1
log_external_commands=1
accept_passive_service_checks=1
accept_passive_host_checks=1
execute_service_checks=0
execute_host_checks=0
enable_notifications=0
enable_event_handlers=0
enable_flap_detection=0
check_service_freshness=0
check_host_freshness=0
process_performance_data=0
check_result_reaper_frequency=1
debug_level=0
debug_file=${d}/nagios.debug
date_format=iso8601
illegal_macro_output_chars=\`~$&|'"<>
`;
}

function nagiosObjects(peers: readonly MonitoringPeer[], services: readonly string[]): string {
  return `# lm-probe lab: one host per node, one passive service per lm-probe probe
define timeperiod {
  timeperiod_name 24x7
  alias 24x7
  sunday 00:00-24:00
  monday 00:00-24:00
  tuesday 00:00-24:00
  wednesday 00:00-24:00
  thursday 00:00-24:00
  friday 00:00-24:00
  saturday 00:00-24:00
}
define command {
  command_name lmp_passive
  command_line /bin/true
}
define contact {
  contact_name lmp
  host_notifications_enabled 0
  service_notifications_enabled 0
  host_notification_period 24x7
  service_notification_period 24x7
  host_notification_options n
  service_notification_options n
  host_notification_commands lmp_passive
  service_notification_commands lmp_passive
}
${peers
  .map(
    (p) => `define host {
  host_name ${p.host}
  address ${p.addr}
  check_command lmp_passive
  max_check_attempts 1
  check_period 24x7
  notification_period 24x7
  contacts lmp
  active_checks_enabled 0
  passive_checks_enabled 1
}
`,
  )
  .join('')}${services
  .map(
    (s) => `define service {
  host_name ${peers.map((p) => p.host).join(',')}
  service_description ${s}
  check_command lmp_passive
  max_check_attempts 1
  check_interval 5
  retry_interval 1
  check_period 24x7
  notification_period 24x7
  contacts lmp
  active_checks_enabled 0
  passive_checks_enabled 1
  check_freshness 0
}
`,
  )
  .join('')}`;
}

function nscaCfg(d: string, commandFile: string, password: string): string {
  return `# lm-probe lab: private nsca config (never /etc/nsca.cfg)
pid_file=${d}/nsca.pid
server_address=${MON_ADDR}
server_port=${NSCA_PORT}
nsca_user=root
nsca_group=root
debug=0
command_file=${commandFile}
alternate_dump_file=${d}/nsca.dump
aggregate_writes=0
append_to_file=0
max_packet_age=30
password=${password}
decryption_method=1
`;
}

function sendNscaCfg(password: string): string {
  return `# lm-probe lab: send_nsca config matching the lab's nsca
password=${password}
encryption_method=1
`;
}

const q = (s: string): string => JSON.stringify(s);

function icingaConf(m: { peers: readonly MonitoringPeer[]; services: readonly string[]; user: string; password: string; log: string }): string {
  return `// lm-probe lab: private icinga2 config (never /etc/icinga2)
include <itl>
object FileLogger "lmp-log" {
  path = ${q(m.log)}
  severity = "information"
}
object Endpoint NodeName { }
object Zone ZoneName { endpoints = [ NodeName ] }
object ApiListener "api" {
  bind_host = ${q(MON_ADDR)}
  bind_port = ${ICINGA_PORT}
  accept_config = false
  accept_commands = false
}
object ApiUser ${q(m.user)} {
  password = ${q(m.password)}
  // "objects/query" alone matches nothing: the permission checked is objects/query/<type>
  permissions = [ "actions/process-check-result", "objects/query/*" ]
}
object ApiUser ${q(ICINGA_CERT_USER)} {
  client_cn = ${q(ICINGA_CLIENT_CN)} // no password: only a client certificate with this CN, signed by the lab CA
  permissions = [ "actions/process-check-result", "objects/query/*" ]
}
${m.peers
  .map(
    (p) => `object Host ${q(p.host)} {
  address = ${q(p.addr)}
  check_command = "dummy"
  max_check_attempts = 1 // one passive result is a HARD state, as in the nagios config
  enable_active_checks = false
  enable_passive_checks = true
}
${m.services
  .map(
    (s) => `object Service ${q(s)} {
  host_name = ${q(p.host)}
  check_command = "dummy"
  max_check_attempts = 1
  enable_active_checks = false
  enable_passive_checks = true
}
`,
  )
  .join('')}`,
  )
  .join('')}`;
}

/** The -D defines that move every icinga2 path into the private dir and keep it root. */
function icingaDefines(d: string, node: string): string[] {
  const defs: Record<string, string> = {
    ConfigDir: join(d, 'etc'),
    DataDir: join(d, 'lib'),
    LogDir: join(d, 'log'),
    CacheDir: join(d, 'cache'),
    SpoolDir: join(d, 'spool'),
    InitRunDir: join(d, 'run'),
    PidPath: join(d, 'run', 'icinga2.pid'),
    ZonesDir: join(d, 'etc', 'zones.d'),
    VarsPath: join(d, 'cache', 'icinga2.vars'),
    ObjectsPath: join(d, 'cache', 'icinga2.debug'),
    StatePath: join(d, 'lib', 'icinga2.state'),
    ModAttrPath: join(d, 'lib', 'modified-attributes.conf'),
    RunAsUser: 'root',
    RunAsGroup: 'root',
    NodeName: node,
    ZoneName: node,
  };
  return Object.entries(defs).flatMap(([k, v]) => ['-D', `${k}=${v}`]);
}

// ---- status.dat --------------------------------------------------------------------------------

function unescapeNagios(s: string): string {
  return s.replace(/\\n/g, '\n').replace(/\\\\/g, '\\');
}

/** Parse status.dat's `servicestatus { ... }` blocks. */
export function parseStatusDat(text: string): Map<string, Record<string, string>> {
  const out = new Map<string, Record<string, string>>();
  const re = /^servicestatus \{\n([\s\S]*?)\n\t\}/gm;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    const rec: Record<string, string> = {};
    for (const line of m[1].split('\n')) {
      const t = line.replace(/^\t/, '');
      const eq = t.indexOf('=');
      if (eq > 0) rec[t.slice(0, eq)] = t.slice(eq + 1);
    }
    out.set(`${rec.host_name}!${rec.service_description}`, rec);
  }
  return out;
}

/** The `servicestatus` block of status.dat for host!service, verbatim (for fixtures). */
export function statusDatBlock(m: MonitoringLab, host: string, service: string): string | undefined {
  const text = readFileSync(m.nagios.statusFile, 'utf8');
  const re = /^servicestatus \{\n[\s\S]*?\n\t\}\n/gm;
  for (let r = re.exec(text); r; r = re.exec(text)) {
    if (r[0].includes(`\n\thost_name=${host}\n`) && r[0].includes(`\n\tservice_description=${service}\n`)) return r[0];
  }
  return undefined;
}

export function nagiosServiceState(m: MonitoringLab, host: string, service: string): ServiceState | undefined {
  let text: string;
  try {
    text = readFileSync(m.nagios.statusFile, 'utf8');
  } catch {
    return undefined;
  }
  const rec = parseStatusDat(text).get(`${host}!${service}`);
  if (!rec) return undefined;
  const long = rec.long_plugin_output ? `\n${unescapeNagios(rec.long_plugin_output)}` : '';
  return {
    state: Number(rec.current_state),
    output: unescapeNagios(rec.plugin_output ?? '') + long,
    perfdata: rec.performance_data ?? '',
    lastCheck: Number(rec.last_check ?? 0),
  };
}

/** Write one PROCESS_SERVICE_CHECK_RESULT to nagios's external command file (what nsca does too). */
export function nagiosSubmit(m: MonitoringLab, host: string, service: string, state: number, output: string): void {
  const now = Math.floor(Date.now() / 1000);
  const line = `[${now}] PROCESS_SERVICE_CHECK_RESULT;${host};${service};${state};${output.replace(/\n/g, '\\n')}\n`;
  // The command file is a FIFO that nagios keeps open for reading: an O_WRONLY open does not block.
  const fd = openSync(m.nagios.commandFile, 'w');
  try {
    writeFileSync(fd, line);
  } finally {
    closeSync(fd);
  }
}

/** Wait until status.dat shows a check of host!service newer than `since` (unix s); undefined on timeout. */
export function waitNagiosResult(m: MonitoringLab, host: string, service: string, since: number, timeoutMs = 10_000): ServiceState | undefined {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const s = nagiosServiceState(m, host, service);
    if (s && s.lastCheck >= since) return s;
    if (Date.now() > end) return undefined;
    sleep(100);
  }
}

// ---- send_nsca ---------------------------------------------------------------------------------

/** The peer whose host is `host` (results for a node are sent from its namespace); else the first. */
export function peerOf(m: MonitoringLab, host: string): MonitoringPeer {
  return m.peers.find((p) => p.host === host) ?? m.peers[0];
}

/**
 * send_nsca from the namespace of the result's host: one service result. `password` overrides the configured one
 * (via a second, throw-away config), to show that a wrong password is not an error for send_nsca.
 */
export function sendNsca(
  m: MonitoringLab,
  result: { host: string; service: string; state: number; output: string },
  opts: { password?: string } = {},
): { status: number | null; stdout: string; stderr: string; argv: string[] } {
  let cfg = m.nsca.configFile;
  if (opts.password !== undefined && opts.password !== m.nsca.password) {
    cfg = join(m.dir, 'nsca', 'send_nsca.wrong.cfg');
    writeFileSync(cfg, sendNscaCfg(opts.password), { mode: 0o600 });
  }
  const argv = ['ip', 'netns', 'exec', peerOf(m, result.host).ns, 'send_nsca', '-H', m.addr, '-p', String(m.nsca.port), '-c', cfg, '-to', '5'];
  const input = `${result.host}\t${result.service}\t${result.state}\t${result.output}\n`;
  const r = run(argv[0], argv.slice(1), { input, timeout: 15_000 });
  return { ...r, argv };
}

// ---- icinga2 API -------------------------------------------------------------------------------

/** One icinga2 API call with curl from a peer namespace (default the first); the parsed JSON answer and HTTP code. */
export function icingaApi(m: MonitoringLab, method: 'GET' | 'POST', path: string, body?: unknown, from: MonitoringPeer = m.peers[0]): { code: number; json: unknown; raw: string } {
  const url = `https://${m.icinga.tlsName}:${ICINGA_PORT}${path}`;
  const args = [
    'netns', 'exec', from.ns, 'curl', '-sS', '--max-time', '10',
    '--resolve', `${m.icinga.tlsName}:${ICINGA_PORT}:${m.addr}`,
    ...(m.icinga.caFile ? ['--cacert', m.icinga.caFile] : ['-k']),
    '-u', `${m.icinga.user}:${m.icinga.password}`,
    '-H', 'Accept: application/json',
    '-X', method,
    '-w', '\n%{http_code}',
  ];
  if (body !== undefined) args.push('-H', 'Content-Type: application/json', '--data-binary', '@-');
  args.push(url);
  const r = run('ip', args, { input: body === undefined ? undefined : JSON.stringify(body), timeout: 20_000 });
  if (r.status !== 0) throw new Error(`curl ${method} ${path} exited ${r.status}: ${r.stderr.trim()}`);
  const nl = r.stdout.lastIndexOf('\n');
  const raw = r.stdout.slice(0, nl);
  const code = Number(r.stdout.slice(nl + 1));
  let json: unknown = null;
  try {
    json = JSON.parse(raw);
  } catch {
    /* not JSON (e.g. 401's HTML) */
  }
  return { code, json, raw };
}

/** POST /v1/actions/process-check-result for host!service, from host's namespace. */
export function icingaSubmit(
  m: MonitoringLab,
  host: string,
  service: string,
  result: { state: number; output: string; perfdata?: string[] },
): { code: number; json: unknown; raw: string } {
  return icingaApi(m, 'POST', '/v1/actions/process-check-result', {
    type: 'Service',
    filter: 'host.name==host_name && service.name==service_name',
    filter_vars: { host_name: host, service_name: service },
    exit_status: result.state,
    plugin_output: result.output,
    performance_data: result.perfdata ?? [],
  }, peerOf(m, host));
}

interface IcingaServiceAttrs {
  state: number;
  last_check: number;
  last_check_result: { output: string; performance_data: (string | Record<string, unknown>)[] | null; execution_end: number } | null;
}

/** GET /v1/objects/services/<host>!<service> from host's namespace. */
export function icingaServiceState(m: MonitoringLab, host: string, service: string): ServiceState | undefined {
  const name = encodeURIComponent(`${host}!${service}`);
  const r = icingaApi(m, 'GET', `/v1/objects/services/${name}?attrs=state&attrs=last_check&attrs=last_check_result`, undefined, peerOf(m, host));
  if (r.code === 404) return undefined;
  if (r.code !== 200) throw new Error(`icinga2 API GET service ${host}!${service}: HTTP ${r.code}: ${r.raw.slice(0, 300)}`);
  const attrs = (r.json as { results: { attrs: IcingaServiceAttrs }[] }).results[0]?.attrs;
  if (!attrs) return undefined;
  const cr = attrs.last_check_result;
  const perf = (cr?.performance_data ?? []).map((p) => (typeof p === 'string' ? p : JSON.stringify(p))).join(' ');
  return { state: Number(attrs.state), output: cr?.output ?? '', perfdata: perf, lastCheck: Math.floor(Number(attrs.last_check ?? 0)) };
}

/**
 * A client certificate for the API user `certUser` (CN `clientCn`), in `<mon dir>/clients/<name>`:
 * signed by the lab CA (icinga2 pki sign-csr), or, `signed: false`, self-signed with the same CN
 * (what the API must refuse). The key is private (0600). RSA 2048 keeps it under a second.
 */
export function icingaClientCert(m: MonitoringLab, name: string, opts: { signed: boolean }): { cert: string; key: string } {
  const d = join(m.dir, 'clients');
  mkdirSync(d, { recursive: true, mode: 0o700 });
  const [key, csr, cert] = ['key', 'csr', 'crt'].map((ext) => join(d, `${name}.${ext}`));
  const subj = `/CN=${m.icinga.clientCn ?? ICINGA_CLIENT_CN}`;
  if (opts.signed) {
    mustRun('openssl', ['req', '-new', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-subj', subj, '-out', csr]);
    mustRun('icinga2', ['pki', 'sign-csr', ...icingaDefines(join(m.dir, 'icinga2'), m.icinga.tlsName), '--csr', csr, '--cert', cert]);
  } else {
    mustRun('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-subj', subj, '-days', '2', '-out', cert]);
  }
  chmodSync(key, 0o600);
  return { cert, key };
}

// ---- up / down ---------------------------------------------------------------------------------

/** <lab dir>/mon/monitoring.json, through a temp file so a reader (labDown in another process) never sees half of it. */
function record(m: MonitoringLab): void {
  writeFileSync(join(m.dir, 'monitoring.json.tmp'), JSON.stringify(m, null, 2) + '\n');
  renameSync(join(m.dir, 'monitoring.json.tmp'), join(m.dir, 'monitoring.json'));
}

/** Bring it up in `<prefix>-mon`, files in `<dir>/mon`, with one veth per peer (`host` defaults to `ns`). */
export function monitoringUp(opts: { prefix: string; dir: string; peers: { ns: string; host?: string }[] }): MonitoringLab {
  const reason = monitoringUnavailableReason();
  if (reason) throw new Error(reason);
  if (opts.peers.length < 1 || opts.peers.length > MAX_PEERS) throw new Error(`1..${MAX_PEERS} peers, got ${opts.peers.length}`);
  const missing = opts.peers.filter((p) => !listNamespaces().includes(p.ns));
  if (missing.length) throw new Error(`peer namespace ${missing.map((p) => p.ns).join(', ')} does not exist`);
  const t0 = Date.now();
  const dir = join(opts.dir, 'mon');
  const ns = `${opts.prefix}-mon`;
  const node = `${opts.prefix}-mon`;
  const m: MonitoringLab = {
    prefix: opts.prefix,
    ns,
    addr: MON_ADDR,
    peers: opts.peers.map((p, k) => ({
      host: p.host ?? p.ns, ns: p.ns, iface: PEER_IFACE, addr: `198.18.254.${2 * k}`, monIface: `to-node${k + 1}`, monAddr: `198.18.254.${2 * k + 1}`,
    })),
    dir,
    services: [...MONITORING_SERVICES],
    nagios: { commandFile: join(dir, 'nagios', 'nagios.cmd'), statusFile: join(dir, 'nagios', 'status.dat'), pid: 0, version: '' },
    nsca: { port: NSCA_PORT, password: randomBytes(9).toString('base64url'), configFile: join(dir, 'nsca', 'send_nsca.cfg'), pid: 0, version: '' },
    icinga: {
      apiUrl: `https://${MON_ADDR}:${ICINGA_PORT}`,
      user: ICINGA_USER,
      password: randomBytes(12).toString('base64url'),
      caFile: join(dir, 'icinga2', 'lib', 'certs', 'ca.crt'),
      certUser: ICINGA_CERT_USER,
      clientCn: ICINGA_CLIENT_CN,
      tlsName: node,
      pid: 0,
      version: '',
    },
    timings: { certsMs: 0, nagiosMs: 0, nscaMs: 0, icingaMs: 0, totalMs: 0 },
  };
  const exitKey = `${opts.prefix}-mon`;
  teardownOnExit(exitKey, () => monitoringDown(m)); // before anything exists: a crash half-way still cleans up
  try {
    build(m, node);
    m.timings.totalMs = Date.now() - t0;
    record(m);
    return m;
  } catch (err) {
    monitoringDown(m);
    throw err;
  }
}

function build(m: MonitoringLab, node: string): void {
  const nd = join(m.dir, 'nagios');
  const sd = join(m.dir, 'nsca');
  const id = join(m.dir, 'icinga2');
  for (const d of [join(nd, 'tmp'), join(nd, 'checkresults'), sd, join(id, 'etc', 'zones.d'), join(id, 'lib', 'certs'), join(id, 'lib', 'ca'), join(id, 'log'), join(id, 'cache'), join(id, 'spool'), join(id, 'run')]) {
    mkdirSync(d, { recursive: true, mode: 0o700 });
  }

  record(m); // from now on labDown finds it, also after a crash (it reads this file back)

  // Network: the mon namespace and a veth to each peer; nothing in the root namespace. The mon
  // namespace does not forward (ip_forward 0), so the peers cannot reach each other through it.
  ipBatch([`netns add ${m.ns}`]);
  ipBatch(['link set lo up', `addr add ${MON_ADDR}/32 dev lo`, ...m.peers.flatMap((p) => [
    `link add ${p.monIface} type veth peer name ${p.iface} netns ${p.ns}`,
    `link set ${p.monIface} addrgenmode none`, // no IPv6 chatter, as everywhere in the lab
    `addr add ${p.monAddr}/31 dev ${p.monIface}`,
    `link set ${p.monIface} up`,
  ])], m.ns);
  for (const p of m.peers) {
    ipBatch([`link set ${p.iface} addrgenmode none`, `addr add ${p.addr}/31 dev ${p.iface}`, `link set ${p.iface} up`, `route add ${MON_ADDR}/32 via ${p.monAddr} dev ${p.iface}`], p.ns);
  }

  // icinga2 certificates first, in the background: the CA and the 4096-bit node key take seconds.
  const defs = icingaDefines(id, node);
  const tc = Date.now();
  const certs = join(id, 'lib', 'certs');
  const pki = spawn(
    'sh',
    [
      '-c',
      'icinga2 pki new-ca "$@" >"$LMP_LOG.ca" 2>&1 & ca=$!; icinga2 pki new-cert "$@" --cn "$LMP_CN" --key "$LMP_CERTS/$LMP_CN.key" --csr "$LMP_CERTS/$LMP_CN.csr" >"$LMP_LOG.cert" 2>&1; c=$?; wait $ca || c=1; echo $c >"$LMP_LOG.rc"',
      'sh',
      ...defs,
    ],
    { env: { ...process.env, LMP_LOG: join(id, 'log', 'pki'), LMP_CN: node, LMP_CERTS: certs }, stdio: 'ignore', detached: true },
  );
  pki.on('error', () => {});
  pki.unref();
  // The event loop is blocked by the synchronous polls below, so the shell reports through a file.
  const pkiRc = join(id, 'log', 'pki.rc');
  try {
    startNagiosNsca(m);
    poll('icinga2 pki new-ca/new-cert', 60_000, () => {
      if (!existsSync(pkiRc)) return undefined;
      const rc = readFileSync(pkiRc, 'utf8').trim();
      if (rc === '') return undefined;
      if (rc !== '0') throw new Error(`icinga2 pki failed:\n${tail(join(id, 'log', 'pki.ca'))}\n${tail(join(id, 'log', 'pki.cert'))}`);
      return true;
    });
  } catch (err) {
    if (pki.pid) stopPgroup(pki.pid);
    throw err;
  }
  startIcinga(m, node, defs, tc);
}

function stopPgroup(pgid: number): void {
  try {
    process.kill(-pgid, 'SIGKILL');
  } catch {
    /* gone */
  }
  const end = Date.now() + 2_000;
  while (groupAlive(pgid) && Date.now() < end) sleep(25);
}

function startNagiosNsca(m: MonitoringLab): void {
  const nd = join(m.dir, 'nagios');
  const sd = join(m.dir, 'nsca');

  // nagios4
  writeFileSync(join(nd, 'nagios.cfg'), nagiosCfg(nd));
  writeFileSync(join(nd, 'objects.cfg'), nagiosObjects(m.peers, m.services));
  m.nagios.version = versionOf(NAGIOS_BIN, ['--version'], /Nagios Core (\S+)/, 'Nagios Core');
  mustRun(NAGIOS_BIN, ['-v', join(nd, 'nagios.cfg')]);
  const tn = Date.now();
  m.nagios.pid = startDaemon(m.ns, join(nd, 'stdout.log'), NAGIOS_BIN, [join(nd, 'nagios.cfg')]);
  record(m);
  poll(
    'nagios4 status.dat and command file',
    NAGIOS_TIMEOUT_MS,
    () => {
      if (!pidAlive(m.nagios.pid)) throw new Error(`nagios4 exited:\n${tail(join(nd, 'stdout.log'))}\n${tail(join(nd, 'nagios.log'))}`);
      const complete = m.peers.every((p) => m.services.every((s) => nagiosServiceState(m, p.host, s)));
      return existsSync(m.nagios.statusFile) && existsSync(m.nagios.commandFile) && complete ? true : undefined;
    },
    () => tail(join(nd, 'nagios.log')),
  );
  m.timings.nagiosMs = Date.now() - tn;

  // nsca
  writeFileSync(join(sd, 'nsca.cfg'), nscaCfg(sd, m.nagios.commandFile, m.nsca.password), { mode: 0o600 });
  writeFileSync(m.nsca.configFile, sendNscaCfg(m.nsca.password), { mode: 0o600 });
  m.nsca.version = versionOf('nsca', ['--help'], /Version: (\S+)/, 'NSCA');
  const ts = Date.now();
  m.nsca.pid = startDaemon(m.ns, join(sd, 'stdout.log'), 'nsca', ['-f', '-c', join(sd, 'nsca.cfg'), '--single']);
  record(m);
  poll('nsca listening', 10_000, () => {
    if (!pidAlive(m.nsca.pid)) throw new Error(`nsca exited:\n${tail(join(sd, 'stdout.log'))}`);
    return listening(m.ns, NSCA_PORT) ? true : undefined;
  });
  m.timings.nscaMs = Date.now() - ts;
}

/** icinga2: sign the node certificate with the lab CA, then start. */
function startIcinga(m: MonitoringLab, node: string, defs: string[], tc: number): void {
  const id = join(m.dir, 'icinga2');
  const certs = join(id, 'lib', 'certs');
  mustRun('icinga2', ['pki', 'sign-csr', ...defs, '--csr', join(certs, `${node}.csr`), '--cert', join(certs, `${node}.crt`)]);
  writeFileSync(join(certs, 'ca.crt'), readFileSync(join(id, 'lib', 'ca', 'ca.crt')));
  m.timings.certsMs = Date.now() - tc;
  const conf = join(id, 'etc', 'icinga2.conf');
  writeFileSync(conf, icingaConf({ ...m, user: m.icinga.user, password: m.icinga.password, log: join(id, 'log', 'icinga2.log') }), { mode: 0o600 });
  m.icinga.version = versionOf('icinga2', ['--version'], /version: (\S+)\)/, 'icinga2');
  const ti = Date.now();
  m.icinga.pid = startDaemon(m.ns, join(id, 'log', 'stdout.log'), 'icinga2', ['daemon', '-c', conf, ...defs]);
  record(m);
  poll(
    'icinga2 API answering',
    ICINGA_TIMEOUT_MS,
    () => {
      if (!pidAlive(m.icinga.pid)) throw new Error(`icinga2 exited:\n${tail(join(id, 'log', 'stdout.log'))}`);
      if (!listening(m.ns, ICINGA_PORT)) return undefined;
      sleep(200);
      try {
        return icingaServiceState(m, m.peers[0].host, m.services[0]) ? true : undefined;
      } catch {
        return undefined;
      }
    },
    () => tail(join(id, 'log', 'stdout.log')),
  );
  m.timings.icingaMs = Date.now() - ti;
}

function listening(ns: string, port: number): boolean {
  const r = spawnSync('ip', ['netns', 'exec', ns, 'ss', '-Htln', `sport = :${port}`], { encoding: 'utf8', timeout: 10_000 });
  return r.status === 0 && r.stdout.trim().length > 0;
}

/**
 * Live processes whose command line names this lab's private dir: the daemons and their helpers
 * (nagios4's --worker processes, which start their own process groups; icinga2's children).
 */
export function monitoringProcesses(m: MonitoringLab): number[] {
  const found: number[] = [];
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e) || Number(e) === process.pid) continue;
    try {
      const cmd = readFileSync(`/proc/${e}/cmdline`, 'utf8').split('\0');
      if (cmd.some((a) => a === m.dir || a.startsWith(`${m.dir}/`) || a.includes(`=${m.dir}/`)) && pidAlive(Number(e))) found.push(Number(e));
    } catch {
      /* gone */
    }
  }
  return found;
}

/** Stop the daemons by PID, remove the namespace (the peers' veth ends go with it) and the private dir. Idempotent. */
export function monitoringDown(m: MonitoringLab): void {
  for (const pid of [m.icinga.pid, m.nsca.pid, m.nagios.pid]) stopPid(pid, ours, { group: true });
  // Stragglers (none expected: nagios4's workers exit when the core closes their socket).
  for (const pid of monitoringProcesses(m)) if (OUR_COMMS.has(comm(pid) ?? '')) stopPid(pid, ours, { group: true, timeoutMs: 1_000 });
  deleteNamespaces([m.ns]); // deleting the namespace deletes the veth pair, so the peer end goes too
  rmSync(m.dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 });
  releaseOnExit(`${m.prefix}-mon`);
}

/** Read the record monitoringUp wrote (for a CLI or a sweep); null if none. */
export function readMonitoringRecord(labDir: string): MonitoringLab | null {
  try {
    return JSON.parse(readFileSync(join(labDir, 'mon', 'monitoring.json'), 'utf8')) as MonitoringLab;
  } catch {
    return null;
  }
}

// ---- the lab's `monitoring` option (labUp, clusterUp, the CLI) ----------------------------------

/** What of a lab node (lab.ts's LabEnv) this needs. */
export interface MonitoredNode {
  prefix: string;
  dir: string;
  nodeNs: string;
  host?: string;
  monitoring?: MonitoringLab | null;
}

/** <node dir>/monitoring.env: shell variables saying where this node's results go. */
export const monitoringEnvFile = (node: MonitoredNode): string => join(node.dir, 'monitoring.env');

function envText(m: MonitoringLab, p: MonitoringPeer): string {
  const vars: Record<string, string> = {
    LMP_MON_HOST: p.host,
    LMP_MON_NETNS: p.ns,
    LMP_MON_ADDR: m.addr,
    LMP_NSCA_PORT: String(m.nsca.port),
    LMP_NSCA_CONFIG: m.nsca.configFile,
    LMP_ICINGA_URL: `https://${m.icinga.tlsName}:${ICINGA_PORT}`,
    LMP_ICINGA_TLS_NAME: m.icinga.tlsName,
    LMP_ICINGA_USER: m.icinga.user,
    LMP_ICINGA_PASSWORD: m.icinga.password,
    LMP_ICINGA_CA: m.icinga.caFile ?? '',
    LMP_NAGIOS_STATUS: m.nagios.statusFile,
    LMP_NAGIOS_COMMAND_FILE: m.nagios.commandFile,
  };
  const head = `# lm-probe lab: where ${p.host}'s passive check results go (test/lab/MONITORING.md).
# Send from LMP_MON_NETNS (ip netns exec) to LMP_MON_ADDR; icinga2's certificate names LMP_ICINGA_TLS_NAME
# (curl --resolve "$LMP_ICINGA_TLS_NAME:5665:$LMP_MON_ADDR").
`;
  return head + Object.entries(vars).map(([k, v]) => `${k}='${v}'\n`).join('');
}

/**
 * labUp's / clusterUp's `monitoring`: ONE monitoring namespace for all `nodes`, each sending from
 * its node namespace as its config.yaml host. The first node owns it (`<prefix>-mon`, files in its
 * dir, stopped by its labDown); every node gets it as `monitoring` (for lab.json: the caller saves)
 * and a monitoring.env.
 */
export function labMonitoringUp(nodes: MonitoredNode[]): MonitoringLab {
  const [owner] = nodes;
  // The host name files.ts writes into config.yaml.
  const peers = nodes.map((n) => ({ ns: n.nodeNs, host: n.host ?? `${n.prefix}-node1` }));
  const m = monitoringUp({ prefix: owner.prefix, dir: owner.dir, peers });
  // The owner's labDown stops it from now on (also from another process, via mon/monitoring.json).
  releaseOnExit(`${owner.prefix}-mon`);
  nodes.forEach((n, k) => {
    n.monitoring = m;
    writeFileSync(monitoringEnvFile(n), envText(m, m.peers[k]), { mode: 0o600 });
  });
  return m;
}

/**
 * labDown's part: stop the monitoring namespace if the lab `prefix` owns it (`rec`, else the
 * record in its dir). A node that only sends to another lab's does nothing. Never throws.
 */
export function labMonitoringDown(prefix: string, dir: string, rec?: MonitoringLab | null): void {
  const m = rec ?? readMonitoringRecord(dir);
  if (!m || m.prefix !== prefix) return;
  try {
    monitoringDown(m);
  } catch (err) {
    process.stderr.write(`lab ${prefix}: monitoring teardown failed: ${(err as Error).message}\n`);
  }
}

/** `lab status` lines: the receivers, and how this node reaches them. */
export function monitoringStatusLines(node: MonitoredNode): string[] {
  const m = node.monitoring;
  if (!m) return ['monitoring: none (up --monitoring)'];
  const pid = (n: number): string => `pid ${n}${pidAlive(n) ? '' : ' (NOT RUNNING)'}`;
  const p = m.peers.find((x) => x.ns === node.nodeNs);
  return [
    `monitoring: ${m.ns} (one for ${m.peers.map((x) => x.host).join(', ')}; lab ${m.prefix}'s), receivers on ${m.addr}:`,
    `  nsca ${m.addr}:${m.nsca.port} (${m.nsca.version}, ${pid(m.nsca.pid)}), send_nsca -c ${m.nsca.configFile}`,
    `  icinga2 API ${m.icinga.apiUrl} (${m.icinga.version}, ${pid(m.icinga.pid)}), user ${m.icinga.user}, TLS name ${m.icinga.tlsName}, CA ${m.icinga.caFile}`,
    `  nagios4 (${m.nagios.version}, ${pid(m.nagios.pid)}): status.dat ${m.nagios.statusFile}, command file ${m.nagios.commandFile}`,
    p
      ? `  this node: host ${p.host} sends from ${p.ns} ${p.iface} ${p.addr}/31 (route ${m.addr} via ${p.monAddr}); ${monitoringEnvFile(node)}`
      : `  this node is not one of its peers`,
  ];
}
