/**
 * instance-routed: every instance IP hosted here answers ICMP; for those that do not, is the
 * static /32 in the link namespace, where does an MTR re-check stop, and does the instance
 * answer ARP (alive but filtering ICMP) or not (not routed)?
 *
 * Cost is constant whatever the number of instances: one ICMP session (one worker process when
 * scanning from a namespace), one `ip route` read; MTR and arping only for at most recheck_max
 * failing IPs.
 */
import { defineProbe, type ProbeContext } from '../../src/probe.js';
import { arping } from '../../src/host/arping.js';
import { icmpScan } from '../../src/host/icmp.js';
import { readHostRoutes } from '../../src/host/iproute.js';
import { describeStop, mtrTrace } from '../../src/host/mtr.js';
import { requireInstances } from '../../src/inventory/index.js';
import type { Infer, ObjectField } from '../../src/schema.js';
import { bool, num, oneOf, range, str } from '../../src/schema.js';
import { Status } from '../../src/result.js';
import { verdict, type IpObservation } from './verdict.js';

const options = {
  ping_namespace: str('ns-link', 'network namespace ICMP, MTR and arping run in ("" = the root namespace)'),
  link_namespace: str('ns-link', 'network namespace where the static /32 (/128) instance routes must be'),
  arp_interface: str('', 'arping interface for an IP that has no route ("" = the port\'s tap device)'),
  timeout: num(1000, 'ms to wait for each echo reply', { min: 10, integer: true }),
  retries: num(1, 'echo requests re-sent to an IP that did not answer', { min: 0, max: 10, integer: true }),
  icmp: oneOf(['raw', 'fping', 'auto'] as const, 'raw', 'raw: one raw-socket session (needs root or CAP_NET_RAW); fping: the system fping; auto: raw, else fping'),
  warning: range('0', 'Nagios range on the number of unrouted IPs (-w)'),
  critical: range('1', 'Nagios range on the number of unrouted IPs (-c)'),
  grace: num(120, 's after an instance first appears on this node during which it warns at most', { min: 0 }),
  mtr: bool(true, 'MTR re-check of the IPs that did not answer'),
  mtr_count: num(2, 'MTR probes per hop', { min: 1, max: 10, integer: true }),
  recheck_max: num(10, 'at most this many failing IPs get the MTR and arping re-check', { min: 0, max: 100, integer: true }),
};

type Options = Infer<ObjectField<typeof options>>;

/** Per-command limit: never beyond the probe's deadline. */
const limit = (ctx: ProbeContext<Options>, ms: number) => Math.max(100, Math.min(ms, ctx.remainingMs() - 200));

export default defineProbe({
  name: 'instance-routed',
  summary: 'every instance IP hosted here answers ICMP, or has its static route and answers ARP',
  options,
  tools: ['ip', 'mtr', 'arping', 'fping'],
  async run(ctx) {
    const o = ctx.options;
    const log = ctx.log;
    const inventory = await ctx.inventory();
    const all = requireInstances(inventory);
    for (const f of inventory.findings) log.debug(`inventory: ${f}`);
    const running = all.filter((i) => i.state === 'running');
    if (running.length < all.length) log.debug(`${all.length - running.length} instances not running, not scanned`);

    const presence = await ctx.presence();

    // One entry per IP; the first instance that claims an IP owns it.
    const owners = new Map<string, { uuid: string; name?: string; tap?: string }>();
    for (const inst of running) {
      for (const port of inst.ports) {
        for (const ip of port.ips) if (!owners.has(ip)) owners.set(ip, { uuid: inst.uuid, name: inst.name, tap: port.tap });
      }
    }
    const ips = [...owners.keys()];
    if (ips.length === 0) {
      return { status: Status.OK, summary: running.length ? `no IPs on ${running.length} running instances` : 'no instances', details: [], perfdata: [{ label: 'ips', value: 0, min: 0 }] };
    }

    log.debug(`Scanning (icmp) following ${ips.length} ips:`);
    log.debug(ips.join(' '));
    const started = Date.now();
    const replies = await icmpScan(ips, {
      timeoutMs: o.timeout,
      retries: o.retries,
      namespace: o.ping_namespace,
      backend: o.icmp,
      signal: ctx.signal,
    });
    const scanSeconds = (Date.now() - started) / 1000;
    const replied = new Set(replies.filter((r) => r.alive).map((r) => r.ip));
    const failed = ips.filter((ip) => !replied.has(ip));

    const observations: IpObservation[] = ips.map((ip) => ({
      ip,
      instance: owners.get(ip)!,
      replied: replied.has(ip),
      rechecked: false,
      graceLeftS: presence.graceLeftS(owners.get(ip)!.uuid, o.grace),
    }));

    if (failed.length > 0) {
      log.debug(`${failed.length} ips did not reply:`);
      log.debug(failed.join(' '));
      const routes = await readHostRoutes(o.link_namespace, { timeoutMs: limit(ctx, 5000), signal: ctx.signal });
      const pending = observations.filter((x) => !x.replied);
      for (const x of pending) {
        x.route = routes.get(x.ip);
        if (!x.route) log.debug(`${x.ip} does not have static route in ${o.link_namespace}!!`);
      }
      const toRecheck = pending.slice(0, o.recheck_max);
      if (pending.length > toRecheck.length) log.debug(`${pending.length - toRecheck.length} ips beyond recheck_max (${o.recheck_max}) are not re-checked`);
      if (o.mtr && toRecheck.length) log.debug('Trying again MTR check:');
      await Promise.all(toRecheck.map((x) => recheck(ctx, x, o)));
    }

    const v = verdict({ observations, instances: running.length, warning: o.warning, critical: o.critical, linkNamespace: o.link_namespace, scanSeconds });
    if (v.unrouted.length > 0) {
      log.info(`${v.unrouted.length} ips are not correctly routed:`);
      for (const line of v.details.slice(0, v.unrouted.length)) log.debug(line);
    } else {
      log.debug(`all ${ips.length} ips are correctly routed`);
    }
    const { unrouted: _unrouted, ...outcome } = v;
    return outcome;
  },
});

/** MTR and arping (side by side) for one failing IP; fills in the observation and traces it. */
async function recheck(ctx: ProbeContext<Options>, x: IpObservation, o: Options): Promise<void> {
  const log = ctx.log;
  x.rechecked = true;
  const iface = x.route?.dev || o.arp_interface || x.instance.tap;
  const [trace, answer] = await Promise.all([
    o.mtr ? mtrTrace(x.ip, { namespace: o.ping_namespace, count: o.mtr_count, timeoutMs: limit(ctx, 15_000), signal: ctx.signal }) : undefined,
    iface ? arping(x.ip, iface, { namespace: o.ping_namespace, count: 2, timeoutMs: limit(ctx, 3000), signal: ctx.signal }) : undefined,
  ]);
  if (trace) {
    x.mtr = trace;
    if (trace.reached) log.debug(`${x.ip} answered the MTR re-check`);
    else if (!x.route) log.debug(`${x.ip} does not have static route in ${o.link_namespace}!!`);
    else log.debug(`${x.ip} has a static route via ${x.route.dev ?? x.route.gateway} but ${describeStop(trace)}`);
  }
  if (answer && iface) {
    x.arp = { ...answer, iface };
    log.debug(`${x.ip} ${answer.answered ? `answers ARP on ${iface} (${answer.mac})` : `does not answer ARP on ${iface}${answer.error ? `: ${answer.error}` : ''}`}`);
  }
}
