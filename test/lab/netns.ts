/**
 * Small, synchronous primitives the lab and the tests use to build network namespaces.
 * Test-side code: it may spawn processes directly (the product code may not; see src/host/).
 * Every name made here starts with "lmp" so a sweep can find and remove leftovers.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

export const LAB_PREFIX = 'lmp';

/** A short unique prefix such as "lmp3fa9", so parallel test files never collide. */
export function uniquePrefix(): string {
  return `${LAB_PREFIX}${randomBytes(2).toString('hex')}`;
}

/** Run a command, throw with its stderr on failure, return stdout. */
export function sh(cmd: string, args: string[], input?: string): string {
  return shOut(cmd, args, { input }).stdout;
}

/** Like sh(), with an environment, returning both streams (some tools warn on stderr and exit 0). */
export function shOut(cmd: string, args: string[], opts: { input?: string; env?: NodeJS.ProcessEnv } = {}): { stdout: string; stderr: string } {
  const r = spawnSync(cmd, args, { input: opts.input, env: opts.env, encoding: 'utf8', timeout: 60_000 });
  if (r.error) throw new Error(`${cmd} ${args.join(' ')}: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}: ${r.stderr.trim()}`);
  return { stdout: r.stdout, stderr: r.stderr };
}

/** Like sh() but never throws; for teardown. */
export function shQuiet(cmd: string, args: string[]): void {
  spawnSync(cmd, args, { stdio: 'ignore', timeout: 30_000 });
}

/** Apply many `ip` commands in one process (`ip -batch`), optionally inside a namespace. */
export function ipBatch(lines: string[], namespace?: string): void {
  if (lines.length === 0) return;
  const args = namespace ? ['-n', namespace, '-batch', '-'] : ['-batch', '-'];
  sh('ip', args, lines.join('\n') + '\n');
}

export function listNamespaces(): string[] {
  const out = spawnSync('ip', ['-j', 'netns', 'list'], { encoding: 'utf8' }).stdout.trim();
  if (!out) return [];
  return (JSON.parse(out) as { name: string }[]).map((n) => n.name);
}

/** Run a command inside a namespace. */
export function nsExec(namespace: string, cmd: string, args: string[], input?: string): string {
  return sh('ip', ['netns', 'exec', namespace, cmd, ...args], input);
}

/** Delete namespaces in one process; `-force` keeps going past ones already gone. */
export function deleteNamespaces(names: string[]): void {
  if (names.length === 0) return;
  spawnSync('ip', ['-force', '-batch', '-'], {
    input: names.map((n) => `netns del ${n}`).join('\n') + '\n',
    stdio: ['pipe', 'ignore', 'ignore'],
    timeout: 60_000,
  });
}

/** Set a per-namespace sysctl (net.* sysctls are per netns, so this never touches the host's). */
export function nsSysctl(namespace: string, key: string, value: string | number): void {
  nsExec(namespace, 'sysctl', ['-q', '-w', `${key}=${value}`]);
}

/** Absolute path of an executable, or null. Also looks in sbin dirs, where ip and arping live. */
export function findTool(name: string): string | null {
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/sbin', '/sbin', '/usr/bin', '/bin'];
  for (const d of dirs) {
    if (!d) continue;
    try {
      accessSync(join(d, name), constants.X_OK);
      return join(d, name);
    } catch {
      /* try the next dir */
    }
  }
  return null;
}

/**
 * Which arping is installed. Debian's `arping` package is Thomas Habets' (interface flag -i;
 * it also accepts an undocumented -I); iputils' arping (package iputils-arping) uses -I.
 */
let flavour: 'habets' | 'iputils' | null | undefined;
export function arpingFlavour(): 'habets' | 'iputils' | null {
  if (flavour !== undefined) return flavour;
  if (!findTool('arping')) return (flavour = null);
  const r = spawnSync('arping', ['--help'], { encoding: 'utf8', timeout: 5_000 });
  return (flavour = /Habets/i.test(`${r.stdout}${r.stderr}`) ? 'habets' : 'iputils');
}

/** One ICMP echo from inside a namespace; true if answered within timeoutSec. */
export function nsPing(namespace: string, ip: string, timeoutSec = 1): boolean {
  const r = spawnSync('ip', ['netns', 'exec', namespace, 'ping', '-n', '-q', '-c1', `-W${timeoutSec}`, ip], { stdio: 'ignore', timeout: 30_000 });
  return r.status === 0;
}

/**
 * One ARP request out of `iface` inside a namespace; true if answered. The interface must be
 * named: every lab tap carries the same 198.18.0.1/32, so arping's own guess picks the wrong one.
 */
export function nsArping(namespace: string, iface: string, ip: string, timeoutSec = 1): boolean {
  const ifFlag = arpingFlavour() === 'habets' ? '-i' : '-I';
  const r = spawnSync('ip', ['netns', 'exec', namespace, 'arping', '-q', '-c1', '-w', String(timeoutSec), ifFlag, iface, ip], {
    stdio: 'ignore',
    timeout: 30_000,
  });
  return r.status === 0;
}

let namespacesWork: string | null | undefined;

/** Why the lab cannot run here, or null when it can (root, the tools, namespaces that really work). */
export function labUnavailableReason(): string | null {
  if (process.getuid?.() !== 0) return 'lab tests need root (network namespaces)';
  try {
    execFileSync('ip', ['-V'], { stdio: 'ignore' });
  } catch {
    return 'iproute2 (ip) not installed';
  }
  if (!findTool('ping')) return 'ping not installed (apt-get install iputils-ping)';
  if (!findTool('arping')) return 'arping not installed (apt-get install arping)';
  if (!findTool('sysctl')) return 'sysctl not installed (apt-get install procps)';
  for (const tool of ['ovsdb-tool', 'ovsdb-server', 'ovs-vswitchd', 'ovs-vsctl']) {
    if (!findTool(tool)) return `${tool} not installed (apt-get install openvswitch-switch)`;
  }
  // Root is not enough inside some containers: try a real namespace once per process.
  if (namespacesWork === undefined) {
    const probe = `${uniquePrefix()}-check`;
    const r = spawnSync('ip', ['netns', 'add', probe], { encoding: 'utf8' });
    namespacesWork = r.status === 0 ? null : `cannot create network namespaces: ${r.stderr.trim()}`;
    deleteNamespaces([probe]);
  }
  return namespacesWork;
}
