/**
 * A real KVM live migration for the lab: two libvirtd (QEMU driver), each in its own network
 * namespace, UTS namespace (its own hostname) and mount namespace (its own /etc/libvirt, /run,
 * /var/lib, /var/log, /var/cache, all bind-mounted from private dirs), with distinct host_uuid,
 * connected by a veth /31 that carries the migration stream:
 *
 *   <prefix>-ksrc  k-src 198.18.253.0/31  ── veth ──  <prefix>-kdst  k-dst 198.18.253.1/31
 *     libvirtd -f <dir>/src/libvirtd.conf               libvirtd -f <dir>/dst/libvirtd.conf
 *     socket <dir>/src/sock/libvirt-sock                socket <dir>/dst/sock/libvirt-sock
 *
 * virsh (in the root namespace) talks to both through their private sockets
 * (qemu+unix:///system?socket=...), and drives a managed, non-p2p migration whose data goes
 * over tcp://198.18.253.1 (dst qemu -incoming on the lab address only). The host's own libvirt
 * (/etc/libvirt, /run/libvirt, /var/lib/libvirt, services) is never used: libvirtd's privileged
 * paths are fixed at build time, so the mount namespace is what makes them private.
 * Guests: diskless, 128 MiB, no NIC, no display. Everything is stopped by recorded PID. See KVM.md.
 */
import { spawn, spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { deleteNamespaces, findTool, ipBatch, uniquePrefix } from './netns.js';
import { releaseOnExit, teardownOnExit } from './cleanup.js';
import { pidAlive, sleep, stopPid, tail } from './procs.js';

export interface KvmNode {
  name: string;
  ns: string;
  /** qemu+unix:///system?socket=<dir>/sock/libvirt-sock */
  uri: string;
  /** libvirtd's PID (ip netns exec → unshare → sh all exec, so it is libvirtd's own). */
  pid: number;
  dir: string;
  hostUuid: string;
  addr: string;
}

export interface KvmPair {
  prefix: string;
  /** /tmp/<prefix>/kvm */
  dir: string;
  src: KvmNode;
  dst: KvmNode;
  /** Whether kvmUp created /tmp/<prefix> (then kvmDown removes it). */
  ownsRoot?: boolean;
  timings?: { upMs: number };
}

const SRC_ADDR = '198.18.253.0';
const DST_ADDR = '198.18.253.1';
const QEMU_BIN = '/usr/bin/qemu-system-x86_64';
const LIBVIRTD_BIN = '/usr/sbin/libvirtd';
const QEMU_DRIVER = '/usr/lib/x86_64-linux-gnu/libvirt/connection-driver/libvirt_driver_qemu.so';
export const NOVA_NS_11 = 'http://openstack.org/xmlns/libvirt/nova/1.1';
const START_TIMEOUT_MS = 15_000;

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

/** Why a KVM pair cannot run here, or null. */
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

export function guestXml(name: string, uuid: string, displayName = `lab-kvm-${name}`): string {
  const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
  return `<domain type='kvm'>
  <name>${esc(name)}</name>
  <uuid>${esc(uuid)}</uuid>
  <metadata>
    <nova:instance xmlns:nova="${NOVA_NS_11}">
      <nova:package version="27.1.0"/>
      <nova:name>${esc(displayName)}</nova:name>
      <nova:creationTime>2026-01-01 00:00:00</nova:creationTime>
      <nova:flavor name="m1.nano">
        <nova:memory>128</nova:memory>
        <nova:disk>0</nova:disk>
        <nova:swap>0</nova:swap>
        <nova:ephemeral>0</nova:ephemeral>
        <nova:vcpus>1</nova:vcpus>
      </nova:flavor>
      <nova:owner>
        <nova:user uuid="0c5e4b2a1f3d4e6a8b9c7d1e2f3a4b5c">lab</nova:user>
        <nova:project uuid="7a1b2c3d4e5f40718293a4b5c6d7e8f9">lab</nova:project>
      </nova:owner>
      <nova:ports/>
    </nova:instance>
  </metadata>
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

// ---- processes ---------------------------------------------------------------------------------

function startNode(prefix: string, root: string, name: string, addr: string): KvmNode {
  const d = join(root, name);
  for (const sub of ['etc', 'run', 'lib', 'log', 'cache', 'sock']) mkdirSync(join(d, sub), { recursive: true, mode: 0o700 });
  const hostUuid = randomUUID();
  writeFileSync(join(d, 'libvirtd.conf'), libvirtdConf(d, hostUuid));
  writeFileSync(join(d, 'etc', 'qemu.conf'), qemuConf());
  const ns = `${prefix}-k${name}`;
  const hostname = `${prefix}-${name}`;
  // Bind mounts only inside the new mount namespace (propagation private): the host sees nothing.
  const script = [
    `hostname ${hostname}`,
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
    const child = spawn('ip', ['netns', 'exec', ns, 'unshare', '--uts', '--mount', '--propagation', 'private', 'sh', '-c', script], {
      detached: true,
      stdio: ['ignore', fd, fd],
      env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', LC_ALL: 'C', HOME: d },
    });
    child.on('error', () => {});
    child.unref();
    if (child.pid === undefined) throw new Error(`could not start libvirtd in ${ns}`);
    pid = child.pid;
  } finally {
    closeSync(fd);
  }
  const uri = `qemu+unix:///system?socket=${d}/sock/libvirt-sock`;
  return { name, ns, uri, pid, dir: d, hostUuid, addr };
}

function waitReady(n: KvmNode): void {
  const end = Date.now() + START_TIMEOUT_MS;
  for (;;) {
    if (existsSync(join(n.dir, 'sock', 'libvirt-sock')) && run('virsh', ['-c', n.uri, 'hostname'], 10_000).status === 0) return;
    if (!pidAlive(n.pid)) throw new Error(`libvirtd (${n.name}) exited:\n${tail(join(n.dir, 'libvirtd.log'))}`);
    if (Date.now() > end) throw new Error(`libvirtd (${n.name}) not ready after ${START_TIMEOUT_MS} ms:\n${tail(join(n.dir, 'libvirtd.log'))}`);
    sleep(50);
  }
}

/**
 * Each libvirtd probes qemu's capabilities (a cache under its private /var/cache) on the first
 * call that needs them (~8 s here); do both at once instead of paying it at define and again at
 * the migration's Prepare.
 */
function warmCapabilities(pair: KvmPair): void {
  const r = spawnSync('sh', ['-c', 'virsh -c "$1" version & a=$!; virsh -c "$2" version; b=$?; wait $a && exit $b', 'sh', pair.src.uri, pair.dst.uri], {
    encoding: 'utf8',
    timeout: 60_000,
    env: { ...process.env, LC_ALL: 'C' },
  });
  if (r.status !== 0) {
    throw new Error(`virsh version failed (${r.status}): ${r.stderr}\nsrc:\n${tail(join(pair.src.dir, 'libvirtd.log'))}\ndst:\n${tail(join(pair.dst.dir, 'libvirtd.log'))}`);
  }
}

/** The guests' qemu PIDs libvirt recorded (<dir>/run/libvirt/qemu/<name>.pid, not driver.pid). */
export function qemuPids(n: KvmNode): number[] {
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

/** Every live process of the pair: the two libvirtd and the guests' qemu. */
export function kvmProcesses(pair: KvmPair): number[] {
  return [pair.src.pid, pair.dst.pid, ...recordedQemu(pair)].filter((p) => pidAlive(p));
}

const qemuSeen = new Map<string, Set<number>>();
function recordedQemu(pair: KvmPair): number[] {
  const s = qemuSeen.get(pair.prefix) ?? new Set<number>();
  for (const n of [pair.src, pair.dst]) for (const p of qemuPids(n)) s.add(p);
  qemuSeen.set(pair.prefix, s);
  return [...s];
}

// ---- API ---------------------------------------------------------------------------------------

export function kvmUp(opts: { prefix?: string } = {}): KvmPair {
  const t0 = Date.now();
  const prefix = opts.prefix ?? uniquePrefix();
  const rootDir = `/tmp/${prefix}`;
  const ownsRoot = !existsSync(rootDir);
  const dir = join(rootDir, 'kvm');
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  const srcNs = `${prefix}-ksrc`;
  const dstNs = `${prefix}-kdst`;
  const placeholder = (name: string, ns: string, addr: string): KvmNode => ({ name, ns, uri: '', pid: 0, dir: join(dir, name), hostUuid: '', addr });
  const pair: KvmPair = { prefix, dir, src: placeholder('src', srcNs, SRC_ADDR), dst: placeholder('dst', dstNs, DST_ADDR), ownsRoot };
  teardownOnExit(prefix, () => kvmDown(pair));
  try {
    ipBatch([`netns add ${srcNs}`, `netns add ${dstNs}`, `link add k-src netns ${srcNs} type veth peer name k-dst netns ${dstNs}`]);
    ipBatch(['link set lo up', `addr add ${SRC_ADDR}/31 dev k-src`, 'link set k-src up'], srcNs);
    ipBatch(['link set lo up', `addr add ${DST_ADDR}/31 dev k-dst`, 'link set k-dst up'], dstNs);
    pair.src = startNode(prefix, dir, 'src', SRC_ADDR);
    pair.dst = startNode(prefix, dir, 'dst', DST_ADDR);
    writeFileSync(join(dir, 'kvm.json'), JSON.stringify({ prefix, src: pair.src, dst: pair.dst }, null, 2) + '\n');
    waitReady(pair.src);
    waitReady(pair.dst);
    warmCapabilities(pair);
  } catch (err) {
    kvmDown(pair);
    throw err;
  }
  pair.timings = { upMs: Date.now() - t0 };
  return pair;
}

export function kvmDefineGuest(pair: KvmPair, name: string, uuid: string): void {
  const file = join(pair.dir, `${name}.xml`);
  writeFileSync(file, guestXml(name, uuid));
  virsh(pair.src.uri, ['define', file]);
  virsh(pair.src.uri, ['start', name]);
  recordedQemu(pair);
}

export function kvmMigrate(pair: KvmPair, name: string, opts: { undefineSource?: boolean } = {}): void {
  const args = ['migrate', '--live', '--persistent'];
  if (opts.undefineSource !== false) args.push('--undefinesource');
  args.push(name, pair.dst.uri, `tcp://${pair.dst.addr}`);
  recordedQemu(pair);
  virsh(pair.src.uri, args, 60_000);
  recordedQemu(pair);
}

export function kvmDown(pair: KvmPair): void {
  const guests = recordedQemu(pair);
  // Destroy the running guests through libvirt first (so it cleans its state), then make sure by PID.
  for (const n of [pair.src, pair.dst]) {
    if (!n.pid || !pidAlive(n.pid) || !n.uri) continue;
    const r = run('virsh', ['-c', n.uri, '-q', 'list', '--name', '--state-running', '--state-paused'], 10_000);
    for (const dom of r.status === 0 ? r.stdout.split('\n').map((s) => s.trim()).filter(Boolean) : []) {
      run('virsh', ['-c', n.uri, 'destroy', dom], 15_000);
    }
  }
  for (const p of guests) stopPid(p, (c) => c.startsWith('qemu-system'));
  for (const n of [pair.src, pair.dst]) stopPid(n.pid, (c) => ['ip', 'unshare', 'sh', 'libvirtd'].includes(c));
  deleteNamespaces([pair.src.ns, pair.dst.ns]);
  // The bind mounts lived only in the daemons' mount namespaces, gone with their last process.
  rmSync(pair.dir, { recursive: true, force: true });
  if (pair.ownsRoot) rmSync(`/tmp/${pair.prefix}`, { recursive: true, force: true });
  qemuSeen.delete(pair.prefix);
  releaseOnExit(pair.prefix);
}
