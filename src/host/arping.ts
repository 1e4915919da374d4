/**
 * Does an address answer ARP on an interface? Uses Debian's `arping` (Thomas Habets' arping 2.x):
 * `-r` prints only the replying MAC, `-C 1` stops at the first reply, exit 1 means no reply.
 */
import { ProbeError, oneLine } from '../errors.js';
import { run } from './exec.js';
import { assertInterface, assertIp, isMac } from './validate.js';

export interface ArpAnswer {
  answered: boolean;
  mac?: string;
  /** Why arping could not ask (the interface is not there); the probe reports it per IP. */
  error?: string;
}

export function parseArpingRaw(stdout: string): ArpAnswer {
  const lines = stdout.split('\n').map((l) => l.trim()).filter(Boolean);
  if (lines.length === 0) return { answered: false };
  const mac = lines[0].toLowerCase();
  if (!isMac(mac)) throw new ProbeError(`arping: unparseable output: ${oneLine(stdout, 80)}`);
  return { answered: true, mac };
}

export interface ArpingOptions {
  namespace?: string;
  count: number;
  timeoutMs: number;
  signal?: AbortSignal;
}

export async function arping(ip: string, iface: string, opts: ArpingOptions): Promise<ArpAnswer> {
  assertIp(ip);
  assertInterface(iface);
  const waitS = Math.max(1, Math.ceil(opts.timeoutMs / 1000) - 1);
  const args = ['-r', '-c', String(opts.count), '-C', '1', '-w', String(waitS), '-i', iface, ip];
  const r = await run('arping', args, { namespace: opts.namespace, timeoutMs: opts.timeoutMs, signal: opts.signal, okExitCodes: [1] });
  // Exit 1 is "no reply" only when arping said nothing on stderr; otherwise it failed (no such device...).
  if (r.exitCode === 1 && /No such device/i.test(r.stderr)) return { answered: false, error: `no interface ${iface}` };
  if (r.exitCode === 1 && r.stderr.trim()) throw new ProbeError(`arping on ${iface}: ${oneLine(r.stderr, 120)}`);
  return parseArpingRaw(r.stdout);
}
