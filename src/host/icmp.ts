/**
 * ICMP echo scan of many addresses through ONE net-ping session per address family.
 * net-ping alone is not safe for this: it matches replies by identifier and sequence only,
 * its session can be garbage-collected before it sends, and a burst of replies overflows
 * the default receive buffer. Each of those is handled below. Inside a network namespace
 * the scan runs in one worker process (icmp-worker.ts): Node cannot setns itself.
 */
import { randomInt } from 'node:crypto';
import { existsSync } from 'node:fs';
import { isIP } from 'node:net';
import { endianness } from 'node:os';
import { fileURLToPath } from 'node:url';
import type ping from 'net-ping';
import { ProbeError, oneLine } from '../errors.js';
import { onAbort, run } from './exec.js';
import { fpingScan } from './fping.js';
import { acceptReply, parseIcmp } from './icmp-packet.js';
import { assertIp } from './validate.js';

export interface IcmpOptions {
  /** Per echo attempt. */
  timeoutMs: number;
  /** Extra attempts after the first. */
  retries: number;
  /** Pings outstanding at once (default: every one, as many as the granted receive buffer holds replies for). */
  maxInFlight?: number;
  /** ICMP identifier; default random in 1..65534. */
  identifier?: number;
  /** Scan from this network namespace ("" / undefined: the current one). */
  namespace?: string;
  /** Default 'raw'; 'auto' = raw, falling back to fping when raw sockets are not permitted. */
  backend?: 'raw' | 'fping' | 'auto';
  /** Probe deadline. */
  signal?: AbortSignal;
}

export interface IcmpReply {
  ip: string;
  alive: boolean;
  rttMs?: number;
  /** "timed out", "destination unreachable (from 198.18.0.1)", ... */
  error?: string;
}

/** What a scan saw besides its answers (the worker reports it; tests and benchmarks read it). */
export interface ScanStats {
  backend: 'raw' | 'fping';
  /** Packets net-ping would have taken as an answer (identifier and sequence match) but that came from elsewhere. */
  rejected: number;
  /** Receive buffer the kernel granted, in bytes (it reports double what was asked). */
  rcvbuf?: number;
  /** Echoes that were in flight at once. */
  inFlight?: number;
}

export const NOT_PERMITTED = 'raw ICMP socket not permitted (needs root or CAP_NET_RAW)';

const RCVBUF_BYTES = 4 * 1024 * 1024;
/** What one queued reply costs the receive buffer (skb truesize, generously): 4 MiB holds ~4,096. */
const REPLY_BYTES = 2048;
/** At most this many echoes in flight at once: every one, for any node (the 4 MiB buffer holds their replies). */
export const MAX_IN_FLIGHT = 4096;
/** The fewest in flight, whatever the buffer (the kernel's default 208 KiB still holds ~200 replies). */
const MIN_IN_FLIGHT = 64;

/**
 * All echoes go out at once, so the whole scan shares one timeout window (retries + 1 timeouts,
 * however many targets); only a receive buffer smaller than asked (refused) splits it in waves.
 */
export function inFlightFor(rcvbuf: number | undefined): number {
  if (rcvbuf === undefined) return MIN_IN_FLIGHT;
  return Math.max(MIN_IN_FLIGHT, Math.min(MAX_IN_FLIGHT, Math.floor(rcvbuf / REPLY_BYTES)));
}

/** The scan's own story for the --debug trace: backend, buffer (said when refused), strays rejected. */
export function describeScanStats(s: ScanStats): string[] {
  if (s.backend === 'fping') return ['icmp: fping backend (one process for every target)'];
  const lines = [`icmp: raw sockets, ${s.inFlight ?? '?'} echoes in flight at once, receive buffer ${s.rcvbuf ?? '?'} bytes, ${s.rejected} stray replies rejected (another pinger's, same identifier and sequence)`];
  // The kernel reports double what it grants; less than asked means net.core.rmem_max capped it (no CAP_NET_ADMIN for FORCE).
  if (s.rcvbuf !== undefined && s.rcvbuf < 2 * RCVBUF_BYTES) {
    lines.push(`icmp: receive buffer refused: asked ${RCVBUF_BYTES} bytes, granted ${s.rcvbuf / 2} (net.core.rmem_max); echoes go in waves of ${s.inFlight ?? '?'}`);
  }
  return lines;
}
// Linux values. raw-socket exports the first two, not SO_RCVBUFFORCE (which passes net.core.rmem_max).
const SOL_SOCKET = 1;
const SO_RCVBUF = 8;
const SO_RCVBUFFORCE = 33;

/**
 * The scan's backstop (net-ping's own timers end every request earlier): every wave of
 * maxInFlight pings timing out on every attempt, as much again for a loop too busy to read
 * replies on time (thousands of echoes sent at once), plus a second.
 */
export function scanBoundMs(count: number, opts: IcmpOptions): number {
  const waves = Math.ceil(count / (opts.maxInFlight ?? MAX_IN_FLIGHT));
  return 2 * waves * (opts.retries + 1) * opts.timeoutMs + 1000;
}

/** The worker's stdout: {replies, stats} or {error}. */
export function parseWorkerOutput(stdout: string, count: number): { replies: IcmpReply[]; stats?: ScanStats } {
  let msg: { replies?: unknown; error?: unknown; stats?: ScanStats } | undefined;
  try {
    msg = JSON.parse(stdout);
  } catch {
    // reported below
  }
  if (typeof msg?.error === 'string') throw new ProbeError(msg.error);
  if (Array.isArray(msg?.replies) && msg.replies.length === count) {
    return { replies: msg.replies as IcmpReply[], ...(msg.stats && typeof msg.stats === 'object' ? { stats: msg.stats } : {}) };
  }
  throw new ProbeError(`icmp worker: unparseable output: ${oneLine(stdout.split('\n')[0] || '(none)')}`);
}

// ---------------------------------------------------------------------------------------------
// Entry points

function validate(ips: unknown, opts: IcmpOptions): asserts ips is string[] {
  if (!Array.isArray(ips)) throw new ProbeError('icmp: IP list is not an array');
  for (const ip of ips) assertIp(ip);
  const int = (v: unknown, min: number, max = Number.MAX_SAFE_INTEGER) => Number.isInteger(v) && (v as number) >= min && (v as number) <= max;
  const { timeoutMs, retries, maxInFlight, identifier, backend } = opts ?? {};
  if (!int(timeoutMs, 1) || !int(retries, 0, 100) || (maxInFlight !== undefined && !int(maxInFlight, 1, 65534))
    || (identifier !== undefined && !int(identifier, 1, 65534))
    || (backend !== undefined && !['raw', 'fping', 'auto'].includes(backend))) {
    throw new ProbeError(`invalid icmp options: ${oneLine(JSON.stringify({ timeoutMs, retries, maxInFlight, identifier, backend }))}`);
  }
}

/** Ping every address; one reply per input address, same order. `stats` (optional) is filled in. */
export async function icmpScan(ips: string[], opts: IcmpOptions, stats: ScanStats = { backend: 'raw', rejected: 0 }): Promise<IcmpReply[]> {
  validate(ips, opts);
  if (ips.length === 0) return [];
  if (!opts.namespace) return scanHere(ips, opts, stats);
  if (opts.backend === 'fping') {
    stats.backend = 'fping';
    return fpingScan(ips, opts); // run() enters the namespace itself
  }
  return scanInWorker(ips, opts, stats);
}

/** The scan in this process's own namespace (the worker calls this too). */
export async function scanHere(ips: string[], opts: IcmpOptions, stats: ScanStats = { backend: 'raw', rejected: 0 }): Promise<IcmpReply[]> {
  validate(ips, opts);
  const here = { ...opts, namespace: undefined };
  if (opts.backend === 'fping') {
    stats.backend = 'fping';
    return fpingScan(ips, here);
  }
  try {
    return await scanRaw(ips, here, stats);
  } catch (e) {
    if (opts.backend !== 'auto' || !(e instanceof ProbeError) || e.message !== NOT_PERMITTED) throw e;
    stats.backend = 'fping';
    return fpingScan(ips, here);
  }
}

// ---------------------------------------------------------------------------------------------
// Namespace: one worker process

/** tsc output: next to this file; esbuild bundle: this code is in dist/main.js or dist/chunk-*.js, the worker in dist/host/. */
function workerPath(): string {
  for (const rel of ['./icmp-worker.js', './host/icmp-worker.js']) {
    const path = fileURLToPath(new URL(rel, import.meta.url));
    if (existsSync(path)) return path;
  }
  throw new ProbeError(`icmp worker not found near ${fileURLToPath(import.meta.url)}`);
}

async function scanInWorker(ips: string[], opts: IcmpOptions, stats: ScanStats): Promise<IcmpReply[]> {
  const { namespace, signal, ...rest } = opts;
  let stdout: string;
  try {
    ({ stdout } = await run(process.execPath, [workerPath()], {
      namespace,
      signal,
      input: JSON.stringify({ ips, opts: rest }),
      // The worst case (a refused buffer: the fewest in flight) + node start-up; the deadline's signal cuts it earlier.
      timeoutMs: scanBoundMs(ips.length, { ...opts, maxInFlight: opts.maxInFlight ?? MIN_IN_FLIGHT }) + 5000,
    }));
  } catch (e) {
    const keep = !(e instanceof ProbeError) || e.message.startsWith('network namespace');
    throw keep ? e : new ProbeError(`icmp worker: ${e.message}`);
  }
  let out;
  try {
    out = parseWorkerOutput(stdout, ips.length);
  } catch (e) {
    // Garbage here may come from `ip` as well as from the worker: name the chain.
    if (!/unparseable/.test((e as Error).message)) throw e;
    throw new ProbeError(`${(e as Error).message} (from ip netns exec ${namespace} node)`);
  }
  if (out.stats) Object.assign(stats, out.stats);
  return out.replies;
}

// ---------------------------------------------------------------------------------------------
// Raw sockets through net-ping

type NetPing = typeof ping;
type Session = ping.Session;
type Request = ping.Request & { sentAt?: number };

/** Sessions of running scans: an unreferenced session can be collected before it ever sends. */
const active = new Set<Session>();

/** The reply being handed to net-ping right now: its handler calls our callback synchronously. */
let delivering: { req: Request; rttMs: number } | undefined;

const ERROR_TEXT: Record<string, string> = {
  RequestTimedOutError: 'timed out',
  DestinationUnreachableError: 'destination unreachable',
  PacketTooBigError: 'packet too big',
  ParameterProblemError: 'parameter problem',
  RedirectReceivedError: 'redirect received',
  SourceQuenchError: 'source quench',
  TimeExceededError: 'time exceeded',
};

function describe(err: Error & { source?: string }): string {
  const text = ERROR_TEXT[err.name];
  if (!text) return oneLine(err.message, 120); // e.g. "Network is unreachable" from send()
  return err.source ? `${text} (from ${err.source})` : text;
}

function openSession(np: NetPing, family: 4 | 6, opts: IcmpOptions, identifier: number, stats: ScanStats): Session {
  let session: Session;
  try {
    session = np.createSession({
      networkProtocol: family === 4 ? np.NetworkProtocol.IPv4 : np.NetworkProtocol.IPv6,
      retries: opts.retries,
      timeout: opts.timeoutMs,
      sessionId: identifier,
    });
  } catch (e) {
    const msg = oneLine(e);
    if (/not permitted|EPERM|EACCES|permission denied/i.test(msg)) throw new ProbeError(NOT_PERMITTED);
    throw new ProbeError(`raw ICMP${family === 6 ? 'v6' : ''} socket: ${msg}`);
  }
  // 2,000 replies at once overflow the default 208 KiB. FORCE needs CAP_NET_ADMIN; plain is capped by rmem_max.
  const socket = session.socket;
  try {
    socket.setOption(SOL_SOCKET, SO_RCVBUFFORCE, RCVBUF_BYTES);
  } catch {
    socket.setOption(SOL_SOCKET, SO_RCVBUF, RCVBUF_BYTES);
  }
  const b = Buffer.alloc(4);
  socket.getOption(SOL_SOCKET, SO_RCVBUF, b, 4);
  const granted = endianness() === 'LE' ? b.readInt32LE(0) : b.readInt32BE(0);
  stats.rcvbuf = Math.min(stats.rcvbuf ?? granted, granted); // the smaller of the two families' buffers

  // net-ping bound its handler at construction: put the source check in front of it.
  const forward = socket.listeners('message') as ((buf: Buffer, source: string) => void)[];
  socket.removeAllListeners('message');
  socket.on('message', (buf: Buffer, source: string) => {
    const pkt = parseIcmp(buf, family);
    const req: Request | undefined = pkt?.sequence === undefined ? undefined : session.reqs[pkt.sequence];
    if (!pkt || !req || !acceptReply(pkt, source, identifier, req.target)) {
      if (req && pkt?.identifier === identifier && pkt.kind !== 'echo-request') stats.rejected++;
      return;
    }
    if (family === 6 && pkt.kind === 'error') {
      // net-ping looks for the identifier in the wrong place of ICMPv6 errors: complete it here.
      const E = [np.DestinationUnreachableError, np.PacketTooBigError, np.TimeExceededError, np.ParameterProblemError][pkt.type - 1];
      session.reqRemove(req.id);
      req.callback(new E(source), req.target, req.sent, new Date());
      return;
    }
    delivering = { req, rttMs: performance.now() - (req.sentAt ?? performance.now()) };
    try {
      for (const f of forward) f(buf, source);
    } finally {
      delivering = undefined;
    }
  });
  // Stamp each attempt (retries resend) right before it leaves: RTTs per attempt, sub-millisecond.
  const before = session.onBeforeSocketSend;
  session.onBeforeSocketSend = function (this: Session, r: Request) {
    r.sentAt = performance.now();
    before.call(this, r);
  };
  return session;
}

async function scanRaw(ips: string[], opts: IcmpOptions, stats: ScanStats): Promise<IcmpReply[]> {
  const mod = await import('net-ping'); // CommonJS, lazily: keeps CLI start-up cheap
  const np = ((mod as { default?: NetPing }).default ?? mod) as NetPing;
  const identifier = opts.identifier ?? randomInt(1, 65535);
  if (opts.signal?.aborted) throw new ProbeError('icmp scan cancelled: probe deadline reached');

  return new Promise<IcmpReply[]>((resolve, reject) => {
    const sessions = new Map<number, Session>(); // by address family
    const results: (IcmpReply | undefined)[] = new Array(ips.length);
    let next = 0;
    let pending = 0;
    let done = false;
    // A ref'd timer keeps the event loop alive while packets are out, and bounds the scan.
    let maxInFlight = opts.maxInFlight ?? MIN_IN_FLIGHT;
    let timer: NodeJS.Timeout | undefined;
    const forget = opts.signal ? onAbort(opts.signal, () => finish(new ProbeError('icmp scan cancelled: probe deadline reached'))) : undefined;

    function finish(error?: Error): void {
      if (done) return;
      done = true;
      clearTimeout(timer);
      forget?.();
      for (const s of sessions.values()) {
        s.close();
        active.delete(s);
      }
      if (error) reject(error);
      else resolve(ips.map((ip, i) => results[i] ?? { ip, alive: false, error: 'scan time limit reached' }));
    }

    function pump(): void {
      while (!done && pending < maxInFlight && next < ips.length) {
        const i = next++;
        const ip = ips[i];
        pending++;
        const callback: ping.PingCallback = (err) => {
          if (done) return;
          const rtt = !err && delivering?.req.callback === callback ? delivering.rttMs : undefined;
          results[i] = err ? { ip, alive: false, error: describe(err) } : { ip, alive: true, ...(rtt === undefined ? {} : { rttMs: Math.round(rtt * 1000) / 1000 }) };
          pending--;
          pump();
        };
        sessions.get(isIP(ip))!.pingHost(ip, callback);
      }
      if (!done && pending === 0 && next >= ips.length) finish();
    }

    try {
      // One session per family: a reply can only ever be matched against requests of its own family.
      for (const ip of ips) {
        const family = isIP(ip) as 4 | 6;
        if (sessions.has(family)) continue;
        const s = openSession(np, family, opts, identifier, stats);
        sessions.set(family, s);
        active.add(s);
        s.on('error', (e: Error) => finish(new ProbeError(`raw ICMP socket: ${oneLine(e)}`)));
      }
    } catch (e) {
      finish(e as Error);
      return;
    }
    // As many in flight as the granted buffer holds replies for (openSession recorded it).
    maxInFlight = opts.maxInFlight ?? inFlightFor(stats.rcvbuf);
    stats.inFlight = Math.min(maxInFlight, ips.length);
    // A ref'd timer keeps the event loop alive while packets are out, and bounds the scan.
    timer = setTimeout(() => finish(), scanBoundMs(ips.length, { ...opts, maxInFlight }));
    pump();
  });
}
