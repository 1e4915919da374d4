/**
 * instance-routed: every instance IP hosted here answers ICMP; for those that do not, is the
 * static /32 (/128) in the link namespace, does the port's own MAC answer ARP / neighbour
 * solicitation (alive but filtering ICMP) or another MAC (duplicate IP, proxy ARP), and for those
 * that answer neither, where does an MTR re-check stop?
 *
 * Cost grows with failures, never with healthy instances: one ICMP session (one worker process
 * when scanning from a namespace), one `ip route` read, one arp-scan per interface for every IPv4
 * that did not answer, one ndisc6 per such IPv6 (at most NDP_MAX), and MTR for at most
 * recheck_max IPs that answered neither.
 */
import { defineProbe, type ProbeContext } from '../../src/probe.js';
import { describeScanStats, icmpScan, type ScanStats } from '../../src/host/icmp.js';
import { readHostRoutes } from '../../src/host/iproute.js';
import { describeStop, mtrTrace } from '../../src/host/mtr.js';
import { neighbourSweep } from '../../src/host/neighbours.js';
import { ProbeError, oneLine } from '../../src/errors.js';
import { requireInstances } from '../../src/inventory/index.js';
import type { Instance } from '../../src/inventory/types.js';
import type { Infer, ObjectField } from '../../src/schema.js';
import { bool, num, oneOf, range, str } from '../../src/schema.js';
import { Status } from '../../src/result.js';
import { foreignMacs, nothingToCheck, verdict, type IpObservation, type Skipped } from './verdict.js';
import { withinDeadline } from '../../src/host/exec.js';

const options = {
  ping_namespace: str('ns-link', 'network namespace ICMP, MTR, arp-scan and ndisc6 run in ("" = the root namespace)'),
  link_namespace: str('ns-link', 'network namespace where the static /32 (/128) instance routes must be'),
  arp_interface: str('', 'interface for ARP / neighbour solicitation of an IP that has no route ("" = the port\'s tap device)'),
  timeout: num(1000, 'ms to wait for each echo reply (and each ARP / neighbour solicitation attempt, at most 1000)', { min: 10, integer: true }),
  retries: num(1, 'echo requests re-sent to an IP that did not answer', { min: 0, max: 10, integer: true }),
  icmp: oneOf(['raw', 'fping', 'auto'] as const, 'raw', 'raw: one raw-socket session (needs root or CAP_NET_RAW); fping: the system fping; auto: raw, else fping'),
  icmp_identifier: num(0, 'ICMP echo identifier (0 = random per run); fix it only to recognise lm-probe\'s echoes', { min: 0, max: 65534, integer: true }),
  warning: range('0', 'Nagios range on the number of unrouted IPs (-w)'),
  critical: range('1', 'Nagios range on the number of unrouted IPs (-c)'),
  grace: num(120, 's after an instance first appears on this node during which it warns at most', { min: 0 }),
  mtr: bool(true, 'MTR re-check of the IPs that answer neither ICMP nor ARP'),
  mtr_count: num(2, 'MTR probes per hop', { min: 1, max: 10, integer: true }),
  recheck_max: num(10, 'at most this many IPs that answer neither ICMP nor ARP get the MTR re-check; the others are "not re-checked" (WARNING)', { min: 0, max: 100, integer: true }),
};

type Options = Infer<ObjectField<typeof options>>;
type Owner = IpObservation['instance'];

/** Per-command limit: never beyond the probe's deadline. */
const limit = (ctx: ProbeContext<Options>, ms: number) => withinDeadline(ms, ctx.remainingMs());

/** Longest wait per ARP / neighbour solicitation attempt. */
const L2_WAIT_MS = 1000;

/** Which instances are scanned: running ones, and those whose state no source gave (OVS alone knows them). */
const scannable = (i: Instance) => i.state === 'running' || i.state === 'unknown';

export default defineProbe({
  name: 'instance-routed',
  summary: 'every instance IP hosted here answers ICMP, or has its static route and its own port answers ARP',
  options,
  tools: ['ip', 'mtr', 'arp-scan', 'ndisc6', 'fping'],
  async run(ctx) {
    const o = ctx.options;
    const log = ctx.log;
    const inventory = await ctx.inventory();
    const all = requireInstances(inventory);
    for (const f of inventory.findings) log.debug(`inventory: ${f}`);
    const degraded = inventory.sources.some((s) => s.state === 'failed');

    // What is not scanned, and why: the summary says it (coverage lost must never look like OK).
    const skipped: Skipped = {};
    const scanned = all.filter(scannable);
    for (const i of all.filter((x) => !scannable(x))) skipped[i.state] = (skipped[i.state] ?? 0) + 1;
    if (scanned.length < all.length) log.debug(`${all.length - scanned.length} instances not running, not scanned: ${Object.entries(skipped).map(([s, n]) => `${n} ${s}`).join(', ')}`);
    const unknownState = scanned.filter((i) => i.state === 'unknown');
    if (unknownState.length) log.debug(`${unknownState.length} instances in state unknown (known only to ${[...new Set(unknownState.flatMap((i) => i.sources))].join(', ')}): scanned like running ones`);
    const noIp = scanned.filter((i) => !i.ports.some((p) => p.ips.length > 0));
    if (noIp.length) {
      skipped['with no known IP'] = noIp.length;
      log.debug(`${noIp.length} instances have no known IP, not scanned: ${noIp.map((i) => i.uuid).join(' ')}`);
    }

    // One entry per IP; the first instance that claims an IP owns it.
    const owners = new Map<string, Owner>();
    for (const inst of scanned) {
      for (const port of inst.ports) {
        for (const ip of port.ips) if (!owners.has(ip)) owners.set(ip, { uuid: inst.uuid, name: inst.name, tap: port.tap, mac: port.mac });
      }
    }
    const ips = [...owners.keys()];
    if (ips.length === 0) return nothingToCheck({ instances: all.length, skipped, degraded });
    const presence = await ctx.presence();

    log.debug(`Scanning (icmp) following ${ips.length} ips:`);
    log.debug(ips.join(' '));
    const started = Date.now();
    const stats: ScanStats = { backend: 'raw', rejected: 0 };
    const replies = await icmpScan(ips, {
      timeoutMs: o.timeout,
      retries: o.retries,
      namespace: o.ping_namespace,
      backend: o.icmp,
      ...(o.icmp_identifier ? { identifier: o.icmp_identifier } : {}),
      signal: ctx.signal,
    }, stats);
    const scanSeconds = (Date.now() - started) / 1000;
    for (const line of describeScanStats(stats)) log.debug(line);
    const replied = new Set(replies.filter((r) => r.alive).map((r) => r.ip));

    const observations: IpObservation[] = ips.map((ip) => ({
      ip,
      instance: owners.get(ip)!,
      replied: replied.has(ip),
      graceLeftS: presence.graceLeftS(owners.get(ip)!.uuid, o.grace),
    }));
    const judge = () => verdict({
      observations, instances: scanned.length - noIp.length, warning: o.warning, critical: o.critical,
      linkNamespace: o.link_namespace, recheckMax: o.recheck_max, scanSeconds, skipped,
    });

    const pending = observations.filter((x) => !x.replied);
    if (pending.length > 0) {
      log.debug(`${pending.length} ips did not reply:`);
      log.debug(pending.map((x) => x.ip).join(' '));
      const routes = await readHostRoutes(o.link_namespace, { timeoutMs: limit(ctx, 5000), signal: ctx.signal });
      for (const x of pending) {
        x.route = routes.get(x.ip);
        if (!x.route) log.debug(`${x.ip} does not have static route in ${o.link_namespace}!!`);
      }
      await askLayer2(ctx, pending);

      // Only IPs that answer neither ICMP nor layer 2 go on to MTR, at most recheck_max of them.
      const silent = pending.filter((x) => !x.l2?.macs.length);
      const toTrace = o.mtr ? silent.slice(0, o.recheck_max) : [];
      if (o.mtr) {
        for (const x of silent.slice(o.recheck_max)) x.mtr = { skipped: 'recheck_max' };
        if (silent.length > toTrace.length) log.debug(`${silent.length - toTrace.length} ips beyond recheck_max (${o.recheck_max}) are not re-checked`);
      }
      // If the deadline cuts the re-check, what was seen so far still counts (CRITICAL stays CRITICAL).
      for (const x of toTrace) x.mtr = { skipped: 'deadline' };
      ctx.partial(strip(judge()));
      if (toTrace.length) log.debug('Trying again MTR check:');
      await Promise.all(toTrace.map((x) => traceOne(ctx, x)));
    }

    const v = judge();
    if (v.unrouted.length > 0) {
      log.info(`${v.unrouted.length} ips are not correctly routed:`);
      for (const line of v.details.slice(0, v.unrouted.length)) log.debug(line);
    } else if (v.status === Status.OK) {
      log.debug(`all ${ips.length} ips are correctly routed`);
    } else {
      log.debug(`no ip is proven unrouted, but not all ${ips.length} are fine: see the findings`);
    }
    return strip(v);
  },
});

const strip = ({ unrouted: _unrouted, ...outcome }: ReturnType<typeof verdict>) => outcome;

/**
 * One layer-2 sweep for every IP that did not answer ICMP, each on its route's device (else
 * arp_interface, else its tap). A failing sweep is each IP's detail, never the probe's verdict.
 */
async function askLayer2(ctx: ProbeContext<Options>, pending: IpObservation[]): Promise<void> {
  const o = ctx.options;
  const log = ctx.log;
  const targets: { ip: string; iface: string }[] = [];
  for (const x of pending) {
    const iface = x.route?.dev || o.arp_interface || x.instance.tap;
    if (iface) targets.push({ ip: x.ip, iface });
    else log.debug(`${x.ip}: no interface to ask ARP on (no route device, no arp_interface, no tap known)`);
  }
  if (!targets.length) return;
  const ifaces = [...new Set(targets.map((t) => t.iface))];
  log.debug(`Asking layer 2 (arp-scan / ndisc6) for ${targets.length} ips on ${ifaces.join(', ')}:`);
  // A neighbour answers within a millisecond on its segment: the echo timeout, capped at L2_WAIT_MS, is ample.
  const waitMs = Math.min(o.timeout, L2_WAIT_MS);
  const answers = await neighbourSweep(targets, { namespace: o.ping_namespace, waitMs, budgetMs: limit(ctx, 10_000), signal: ctx.signal });
  // The trace groups IPs by what they said (a list per outcome, not a line per IP: 800 at a time happen).
  const said = new Map<string, string[]>();
  for (const x of pending) {
    const a = answers.get(x.ip);
    if (!a) continue;
    x.l2 = a;
    const proto = a.protocol === 'arp' ? 'ARP' : 'neighbour solicitation';
    let what: string;
    if (a.skipped || a.error) what = `were not asked on ${a.iface}: ${a.skipped ?? a.error}`;
    else if (!a.macs.length) what = `do not answer ${proto} on ${a.iface}`;
    else if (foreignMacs(x).length) what = `answer ${proto} on ${a.iface} from another MAC than their port's`;
    else what = `answer ${proto} on ${a.iface} from their port's MAC`;
    said.set(what, [...(said.get(what) ?? []), foreignMacs(x).length ? `${x.ip} (${a.macs.join(', ')}; port ${x.instance.mac})` : x.ip]);
  }
  for (const [what, ips] of said) {
    log.debug(`${ips.length} ips ${what}:`);
    log.debug(ips.join(' '));
  }
}

/** The MTR re-check of one IP; a failing MTR is that IP's detail, never the probe's verdict. */
async function traceOne(ctx: ProbeContext<Options>, x: IpObservation): Promise<void> {
  const o = ctx.options;
  try {
    const trace = await mtrTrace(x.ip, { namespace: o.ping_namespace, count: o.mtr_count, timeoutMs: limit(ctx, 15_000), signal: ctx.signal });
    x.mtr = { trace };
    if (trace.reached) ctx.log.debug(`${x.ip} answered the MTR re-check`);
    else if (x.route) ctx.log.debug(`${x.ip} has a static route via ${x.route.dev ?? x.route.gateway} but ${describeStop(trace)}`);
  } catch (e) {
    if (ctx.signal.aborted) return; // the deadline: the partial outcome says it
    x.mtr = { error: e instanceof ProbeError ? e.message : oneLine(e) };
    ctx.log.debug(`${x.ip}: MTR re-check failed: ${x.mtr.error}`);
  }
}
