/** Routes of a network namespace, read once with `ip -j route show table all`. */
import { isIP } from 'node:net';
import { ProbeError, oneLine } from '../errors.js';
import { run } from './exec.js';
import { assertNamespace, canonicalIp } from './validate.js';

export interface HostRoute {
  /** The address the route is for (canonical form). */
  ip: string;
  dev?: string;
  gateway?: string;
  table: string;
}

interface RawRoute { type?: string; dst?: string; dev?: string; gateway?: string; table?: string }

/**
 * Host routes (/32, /128) from `ip -j route show table all` output, keyed by address.
 * Only unicast routes count: local, broadcast, unreachable and friends route nothing to an instance.
 * `ip -j` prints a host route's dst without its prefix length ("198.18.1.2", not "/32").
 */
export function parseHostRoutes(json: string): Map<string, HostRoute> {
  let rows: unknown;
  try {
    rows = JSON.parse(json || '[]');
  } catch {
    throw new ProbeError(`ip route: unparseable output: ${oneLine(json, 80)}`);
  }
  if (!Array.isArray(rows)) throw new ProbeError(`ip route: unexpected output: ${oneLine(json, 80)}`);
  const routes = new Map<string, HostRoute>();
  for (const r of rows as RawRoute[]) {
    if (!r || typeof r.dst !== 'string') continue;
    if ((r.type ?? 'unicast') !== 'unicast') continue;
    const [addr, len] = r.dst.split('/');
    const family = isIP(addr);
    if (family === 0) continue;
    if (len !== undefined && Number(len) !== (family === 4 ? 32 : 128)) continue;
    const ip = canonicalIp(addr);
    if (!routes.has(ip)) routes.set(ip, { ip, dev: r.dev, gateway: r.gateway, table: r.table ?? 'main' });
  }
  return routes;
}

/** `ip -j <args>` in a namespace ("" = this one); a missing namespace is said as such. */
export async function ipJson(namespace: string, args: string[], opts: { timeoutMs: number; signal?: AbortSignal }): Promise<string> {
  if (namespace) assertNamespace(namespace); // from the config: never an option ("-foo") or a path for `ip -n`
  // `ip -n NS` avoids the extra `ip netns exec` hop and fails clearly on a missing namespace.
  const { stdout } = await run('ip', namespace ? ['-n', namespace, '-j', ...args] : ['-j', ...args], {
    timeoutMs: opts.timeoutMs,
    signal: opts.signal,
  }).catch((err: Error) => {
    if (/Cannot open network namespace|No such file/.test(err.message)) {
      throw new ProbeError(`network namespace "${namespace}" not found`);
    }
    throw err;
  });
  return stdout;
}

/** Every host route of a namespace, IPv4 and IPv6, in one `ip` process. */
export async function readHostRoutes(namespace: string, opts: { timeoutMs: number; signal?: AbortSignal }): Promise<Map<string, HostRoute>> {
  return parseHostRoutes(await ipJson(namespace, ['route', 'show', 'table', 'all'], opts));
}
