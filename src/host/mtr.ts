/** MTR re-check of one address: where does the path stop? */
import { ProbeError, oneLine } from '../errors.js';
import { run } from './exec.js';
import { assertIp } from './validate.js';

export interface MtrHop {
  hop: number;
  host: string; // "???" when that hop never answered
  lossPct: number;
}

export interface MtrTrace {
  target: string;
  hops: MtrHop[];
  /** The target itself answered at least once. */
  reached: boolean;
  /** The last hop that answered, if any. */
  lastAnswering?: MtrHop;
}

/** Parse `mtr --report --json` (mtr 0.9x). Anything else is "unparseable", never a crash. */
export function parseMtrJson(target: string, text: string): MtrTrace {
  let doc: { report?: { hubs?: unknown } };
  try {
    doc = JSON.parse(text);
  } catch {
    throw new ProbeError(`mtr: unparseable output: ${oneLine(text, 80) || 'empty'}`);
  }
  const hubs = doc?.report?.hubs;
  if (!Array.isArray(hubs)) throw new ProbeError(`mtr: unexpected output (no report.hubs): ${oneLine(text, 80)}`);
  const hops: MtrHop[] = hubs.map((h: Record<string, unknown>, i) => {
    const loss = Number(h['Loss%']);
    if (typeof h.host !== 'string' || !Number.isFinite(loss)) {
      throw new ProbeError(`mtr: unexpected hop entry: ${oneLine(JSON.stringify(h), 80)}`);
    }
    return { hop: Number(h.count) || i + 1, host: h.host, lossPct: loss };
  });
  const answering = hops.filter((h) => h.host !== '???' && h.lossPct < 100);
  const lastAnswering = answering[answering.length - 1];
  return { target, hops, reached: answering.some((h) => h.host === target), lastAnswering };
}

/** Where the path stops, in words for the probe's details. */
export function describeStop(trace: MtrTrace): string {
  if (trace.reached) return `the path reaches ${trace.target}`;
  if (!trace.lastAnswering) return 'no hop on the path answers';
  return `the path stops at ${trace.lastAnswering.host} (hop ${trace.lastAnswering.hop})`;
}

export interface MtrOptions {
  namespace?: string;
  count: number;
  timeoutMs: number;
  signal?: AbortSignal;
}

export async function mtrTrace(ip: string, opts: MtrOptions): Promise<MtrTrace> {
  assertIp(ip);
  // -n: no DNS (nothing leaves the node but the probes); -i 0.2 needs root, which we are;
  // -G 1: wait at most 1 s for late replies after the last probe.
  const args = ['--report', '--json', '--no-dns', '-c', String(opts.count), '-i', '0.2', '-G', '1', ip];
  const { stdout } = await run('mtr', args, { namespace: opts.namespace, timeoutMs: opts.timeoutMs, signal: opts.signal });
  return parseMtrJson(ip, stdout);
}
