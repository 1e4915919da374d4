/**
 * A lab node's real libvirtd (QEMU driver, KVM), for `up --libvirt kvm`: the instances are real
 * KVM guests and `migrate` is a real live migration between two nodes' libvirtd. Each libvirtd
 * runs in its node namespace (the hypervisor), inside its own UTS namespace (its hostname: the
 * node's host name) and mount namespace (its own /etc/libvirt, /run, /var/lib, /var/log,
 * /var/cache, all bind-mounted from <lab dir>/libvirtd), with its own host_uuid:
 *
 *   <prefix>-node   libvirtd -f <lab dir>/libvirtd/libvirtd.conf, socket <lab dir>/libvirtd/sock/libvirt-sock
 *                   qemu-system-x86_64 per running guest (diskless, 128 MiB, no NIC)
 *                   mig 198.18.253.0/31 ── veth ── mig 198.18.253.1/31 in <prefix>n2-node (cluster.ts)
 *
 * virsh and lm-probe (in the root namespace) reach it through its private socket
 * (qemu+unix:///system?socket=...). The migration stream goes over the `mig` veth. The host's
 * own libvirt (/etc/libvirt, /run/libvirt, services) is never used: libvirtd's privileged paths
 * are fixed at build time, so the mount namespace is what makes them private. Everything is
 * stopped by recorded PID. See KVM.md.
 */
import { spawn, spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { closeSync, cpSync, existsSync, mkdirSync, openSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { findTool } from './netns.js';
import { pidAlive, sleep, stopPid, tail } from './procs.js';

/** One node's libvirtd, as lab.json (and <dir>/libvirtd.json, written at once) record it. */
export interface KvmNode {
  /** The node namespace it runs in. */
  ns: string;
  /** Its hostname (UTS namespace): the node's `host`. */
  hostname: string;
  /** qemu+unix:///system?socket=<dir>/sock/libvirt-sock */
  uri: string;
  /** libvirtd's PID (ip netns exec → unshare → sh all exec, so it is libvirtd's own). */
  pid: number;
  /** <lab dir>/libvirtd */
  dir: string;
  hostUuid: string;
  /** The address migrations to this node are sent to (set by cluster.ts once the link exists). */
  migrationAddr?: string;
}

const QEMU_BIN = '/usr/bin/qemu-system-x86_64';
const LIBVIRTD_BIN = '/usr/sbin/libvirtd';
const QEMU_DRIVER = '/usr/lib/x86_64-linux-gnu/libvirt/connection-driver/libvirt_driver_qemu.so';
const START_TIMEOUT_MS = 15_000;
/** Where libvirtd caches its qemu capabilities probe (~8 s), relative to the node dir. */
const CAPS_CACHE = join('cache', 'libvirt', 'qemu', 'capabilities');

// ---- small helpers -----------------------------------------------------------------------------

function run(cmd: string, args: string[], timeout = 60_000): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout, env: { ...process.env, LC_ALL: 'C' } });
  if (r.error) throw new Error(`${cmd} ${args.join(' ')}: ${r.error.message}`);
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** virsh -c <uri> ..., throwing with stderr on failure. */
export function virsh(uri: string, args: string[], timeout = 60_000): string {
  const r = run('virsh', ['-c', uri, ...args], timeout);
  if (r.status !== 0) throw new Error(`virsh -c ${uri} ${args.join(' ')} exited ${r.status}: ${(r.stderr || r.stdout).trim()}`);
  return r.stdout;
}

/** Why a KVM lab node cannot run here, or null. */
export function kvmUnavailableReason(): string | null {
  if (process.getuid?.() !== 0) return 'the KVM lab needs root';
  if (!existsSync('/dev/kvm')) return 'no /dev/kvm';
  try {
    closeSync(openSync('/dev/kvm', 'r+'));
  } catch (err) {
    return `/dev/kvm not usable: ${(err as Error).message}`;
  }
  if (!existsSync(LIBVIRTD_BIN)) return 'libvirtd not installed (apt-get install --no-install-recommends libvirt-daemon)';
  if (!existsSync(QEMU_DRIVER)) return 'libvirt QEMU driver not installed (apt-get install --no-install-recommends libvirt-daemon-driver-qemu)';
  if (!existsSync(QEMU_BIN)) return 'qemu-system-x86_64 not installed (apt-get install --no-install-recommends qemu-system-x86)';
  for (const t of ['virsh', 'unshare', 'ip', 'mount']) if (!findTool(t)) return `${t} not installed`;
  // Debian's libvirtd resolves its built-in qemu user before reading qemu.conf, so it must exist
  // even though qemu.conf says user = "root" (libvirt-daemon-system would create it).
  if (run('getent', ['passwd', 'libvirt-qemu']).status !== 0) {
    return 'user libvirt-qemu missing (groupadd --system libvirt-qemu && useradd --system -g libvirt-qemu -d /nonexistent -M -s /usr/sbin/nologin libvirt-qemu)';
  }
  return null;
}

// ---- configs -----------------------------------------------------------------------------------

function libvirtdConf(d: string, hostUuid: string): string {
  return `# lm-probe KVM lab: private libvirtd config (never /etc/libvirt/libvirtd.conf)
unix_sock_dir = "${d}/sock"
unix_sock_group = "root"
unix_sock_ro_perms = "0700"
unix_sock_rw_perms = "0700"
unix_sock_admin_perms = "0700"
auth_unix_ro = "none"
auth_unix_rw = "none"
host_uuid = "${hostUuid}"
log_outputs = "3:stderr"
`;
}

/** Seen as /etc/libvirt/qemu.conf inside the node's mount namespace. */
function qemuConf(): string {
  return `# lm-probe KVM lab: private qemu.conf (bind-mounted over /etc/libvirt in libvirtd's mount namespace)
stdio_handler = "file"
user = "root"
group = "root"
dynamic_ownership = 0
remember_owner = 0
security_driver = "none"
namespaces = []
cgroup_controllers = []
vnc_listen = "127.0.0.1"
spice_listen = "127.0.0.1"
vnc_auto_unix_socket = 0
migration_port_min = 49152
migration_port_max = 49215
`;
}

/**
 * A lab instance as a KVM guest: diskless, 128 MiB, no NIC (the instance's network is its own
 * namespace, whose veth peer is the tap on br-int), idling in SeaBIOS. `metadata` is the
 * nova:instance element (libvirt.ts), which is what lm-probe reads.
 */
export function guestXml(name: string, uuid: string, metadata: string): string {
  return `<domain type='kvm'>
  <name>${name}</name>
  <uuid>${uuid}</uuid>
  <metadata>
${metadata}  </metadata>
  <memory unit='MiB'>128</memory>
  <currentMemory unit='MiB'>128</currentMemory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
  </os>
  <features><acpi/></features>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>restart</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
    <emulator>${QEMU_BIN}</emulator>
    <controller type='usb' model='none'/>
    <memballoon model='none'/>
  </devices>
</domain>
`;
}

// ---- the daemon --------------------------------------------------------------------------------

const recordFile = (dir: string): string => join(dir, 'libvirtd.json');

/**
 * Start libvirtd in namespace `ns` with everything under `dir`. `capsFrom`: another node's
 * libvirtd dir whose qemu capabilities cache is copied first (same host, same qemu: libvirt
 * validates it against both binaries and takes it, saving the ~8 s probe).
 */
export function startLibvirtd(opts: { ns: string; hostname: string; dir: string; capsFrom?: string }): KvmNode {
  const d = opts.dir;
  for (const sub of ['etc', 'run', 'lib', 'log', 'cache', 'sock']) mkdirSync(join(d, sub), { recursive: true, mode: 0o700 });
  if (opts.capsFrom && existsSync(join(opts.capsFrom, CAPS_CACHE))) cpSync(join(opts.capsFrom, CAPS_CACHE), join(d, CAPS_CACHE), { recursive: true });
  const hostUuid = randomUUID();
  writeFileSync(join(d, 'libvirtd.conf'), libvirtdConf(d, hostUuid));
  writeFileSync(join(d, 'etc', 'qemu.conf'), qemuConf());
  // Bind mounts only inside the new mount namespace (propagation private): the host sees nothing.
  const script = [
    `hostname ${opts.hostname}`,
    `mount --bind ${d}/etc /etc/libvirt`,
    `mount --bind ${d}/run /run`,
    `mount --bind ${d}/lib /var/lib`,
    `mount --bind ${d}/log /var/log`,
    `mount --bind ${d}/cache /var/cache`,
    `exec ${LIBVIRTD_BIN} -f ${d}/libvirtd.conf -p ${d}/libvirtd.pid`,
  ].join(' && ');
  const fd = openSync(join(d, 'libvirtd.log'), 'a');
  let pid: number;
  try {
    const child = spawn('ip', ['netns', 'exec', opts.ns, 'unshare', '--uts', '--mount', '--propagation', 'private', 'sh', '-c', script], {
      detached: true,
      stdio: ['ignore', fd, fd],
      env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', LC_ALL: 'C', HOME: d },
    });
    child.on('error', () => {});
    child.unref();
    if (child.pid === undefined) throw new Error(`could not start libvirtd in ${opts.ns}`);
    pid = child.pid;
  } finally {
    closeSync(fd);
  }
  const node: KvmNode = { ns: opts.ns, hostname: opts.hostname, uri: `qemu+unix:///system?socket=${d}/sock/libvirt-sock`, pid, dir: d, hostUuid };
  writeFileSync(recordFile(d), JSON.stringify(node, null, 2) + '\n'); // teardown finds it even before lab.json has it
  return node;
}

/**
 * Wait until libvirtd answers, and has its qemu capabilities (libvirt probes them on the first
 * call that needs them: pay it here, not in the first define or migration Prepare).
 */
export function waitLibvirtd(n: KvmNode): void {
  const end = Date.now() + START_TIMEOUT_MS;
  for (;;) {
    if (existsSync(join(n.dir, 'sock', 'libvirt-sock')) && run('virsh', ['-c', n.uri, 'hostname'], 10_000).status === 0) break;
    if (!pidAlive(n.pid)) throw new Error(`libvirtd in ${n.ns} exited:\n${tail(join(n.dir, 'libvirtd.log'))}`);
    if (Date.now() > end) throw new Error(`libvirtd in ${n.ns} not ready after ${START_TIMEOUT_MS} ms:\n${tail(join(n.dir, 'libvirtd.log'))}`);
    sleep(50);
  }
  const r = run('virsh', ['-c', n.uri, 'version'], 60_000);
  if (r.status !== 0) throw new Error(`virsh version failed (${r.status}): ${r.stderr}\n${tail(join(n.dir, 'libvirtd.log'))}`);
}

export function readLibvirtdRecord(dir: string): KvmNode | null {
  try {
    return JSON.parse(readFileSync(recordFile(dir), 'utf8')) as KvmNode;
  } catch {
    return null;
  }
}

/** The guests' qemu PIDs libvirt recorded (<dir>/run/libvirt/qemu/<name>.pid, not driver.pid). */
export function qemuPids(n: Pick<KvmNode, 'dir'>): number[] {
  const qdir = join(n.dir, 'run', 'libvirt', 'qemu');
  let files: string[] = [];
  try {
    files = readdirSync(qdir).filter((f) => f.endsWith('.pid') && f !== 'driver.pid');
  } catch {
    return [];
  }
  return files.flatMap((f) => {
    try {
      const p = Number(readFileSync(join(qdir, f), 'utf8').trim());
      return Number.isInteger(p) && p > 0 ? [p] : [];
    } catch {
      return [];
    }
  });
}

/** The libvirtd and its guests' qemu, those still running. */
export function kvmProcesses(n: KvmNode): number[] {
  return [n.pid, ...qemuPids(n)].filter((p) => pidAlive(p));
}

/**
 * Stop the guests, then libvirtd (which leaves its guests running when it stops), by PID with
 * comm checked. Its state dirs go with the lab, so there is nothing to let libvirt clean up
 * (a `virsh destroy` each would only be slower). Never throws.
 */
export function stopLibvirtd(n: KvmNode): void {
  for (const p of qemuPids(n)) stopPid(p, (c) => c.startsWith('qemu-system'));
  stopPid(n.pid, (c) => ['ip', 'unshare', 'sh', 'libvirtd'].includes(c));
  // The bind mounts lived only in the daemon's mount namespace, gone with its last process.
}

/**
 * libvirtd restarted as a package upgrade does it: the daemon only, its guests keep running and
 * are found again by the new one (their state is under `dir`). Returns the new record: the
 * caller puts it in lab.json (saveLab), so teardown stops the new PID.
 */
export function restartLibvirtd(n: KvmNode): KvmNode {
  stopPid(n.pid, (c) => ['ip', 'unshare', 'sh', 'libvirtd'].includes(c));
  const next = startLibvirtd({ ns: n.ns, hostname: n.hostname, dir: n.dir });
  waitLibvirtd(next);
  return next;
}

// ---- domains -----------------------------------------------------------------------------------

/** Names of the domains libvirtd knows (running or not). */
export function domainNames(n: KvmNode): string[] {
  return virsh(n.uri, ['-q', 'list', '--all', '--name']).split('\n').map((s) => s.trim()).filter(Boolean);
}

/** [name, state] of every domain, as `virsh domstate --reason` says it, in one virsh process. */
export function domainStates(n: KvmNode): [string, string][] {
  const names = domainNames(n);
  if (names.length === 0) return [];
  const out = virsh(n.uri, [names.map((x) => `domstate --reason ${x}`).join(' ; ')]);
  const states = out.split('\n').map((s) => s.trim()).filter(Boolean);
  return names.map((x, k) => [x, states[k] ?? '?']);
}

/** Define and start guests (and define `stopped` ones only), in one virsh process (`define f; start n; ...`). */
export function defineAndStart(n: KvmNode, guests: { name: string; xml: string }[], stopped: { name: string; xml: string }[] = []): void {
  const cmds: string[] = [];
  for (const g of [...guests, ...stopped]) {
    const file = join(n.dir, `${g.name}.xml`);
    writeFileSync(file, g.xml);
    cmds.push(`define ${file}`);
    if (guests.includes(g)) cmds.push(`start ${g.name}`);
  }
  if (cmds.length) virsh(n.uri, [cmds.join(' ; ')], 30_000 + 5_000 * guests.length);
}

/**
 * A managed (not --p2p) live migration, driven by virsh in the root namespace; the data goes to
 * tcp://<dst migrationAddr>. Without --undefinesource the source keeps the domain, shut off
 * (migrated): the domain a forgotten clean-up leaves behind.
 */
export function liveMigrate(src: KvmNode, dst: KvmNode, name: string, opts: { undefineSource: boolean }): void {
  virsh(src.uri, migrateArgs(dst, name, opts), 60_000);
}

function migrateArgs(dst: KvmNode, name: string, opts: { undefineSource: boolean }): string[] {
  if (!dst.migrationAddr) throw new Error(`libvirtd in ${dst.ns} has no migration address`);
  return ['migrate', '--live', '--persistent', ...(opts.undefineSource ? ['--undefinesource'] : []), name, dst.uri, `tcp://${dst.migrationAddr}`];
}

/**
 * The same live migration, left running in the background (slow it first with
 * throttleMigration, cluster.ts) so a test sees the job in progress; `done` resolves when virsh
 * exits (after `virsh domjobabort` too). Ends only the virsh it started.
 */
export function startLiveMigration(src: KvmNode, dst: KvmNode, name: string): { pid: number; done: Promise<{ code: number | null; stderr: string }> } {
  const child = spawn('virsh', ['-c', src.uri, ...migrateArgs(dst, name, { undefineSource: true })], { env: { ...process.env, LC_ALL: 'C' }, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += d));
  const done = new Promise<{ code: number | null; stderr: string }>((resolve) => child.on('close', (code) => resolve({ code, stderr })));
  return { pid: child.pid!, done };
}
