/**
 * The verdict of instance-routed, as pure functions of what was observed for each IP.
 * An IP is fine when it answered ICMP, or when its static route exists and its own port's MAC
 * answers ARP / neighbour solicitation (alive, its security groups drop ICMP). Another MAC
 * answering is a finding of its own (duplicate IP, proxy ARP). An IP that answers neither gets an
 * MTR re-check (at most recheck_max of them); beyond that bound it is "not re-checked", a
 * warning, never counted as unrouted.
 */
import type { L2Answer } from '../../src/host/neighbours.js';
import type { HostRoute } from '../../src/host/iproute.js';
import { describeStop, type MtrTrace } from '../../src/host/mtr.js';
import { checkThresholds, Status, worst, type Finding, type Perf, type ProbeOutcome } from '../../src/result.js';

export interface IpObservation {
  ip: string;
  /** The instance and the port that own the IP (mac: the port's, when the inventory knows it). */
  instance: { uuid: string; name?: string; tap?: string; mac?: string };
  replied: boolean;
  route?: HostRoute;
  /** The layer-2 sweep's answer (IPs that did not reply to ICMP). */
  l2?: L2Answer;
  /** The MTR re-check of an IP that answered neither ICMP nor layer 2: its trace, its failure, or why it did not run. */
  mtr?: { trace?: MtrTrace; error?: string; skipped?: 'recheck_max' | 'deadline' };
  /** Seconds of grace left (instance arrived recently); 0 when none. */
  graceLeftS: number;
}

export type IpVerdict = 'replied' | 'recovered' | 'filtered' | 'foreign-mac' | 'unchecked' | 'unrouted';

/** MACs that answered for the IP but are not its port's (none when the port's MAC is unknown). */
export function foreignMacs(o: IpObservation): string[] {
  const own = o.instance.mac?.toLowerCase();
  return own ? (o.l2?.macs ?? []).filter((m) => m !== own) : [];
}

const l2Answered = (o: IpObservation) => (o.l2?.macs.length ?? 0) > 0;

export function classify(o: IpObservation): IpVerdict {
  if (o.replied) return 'replied';
  if (o.mtr?.trace?.reached) return 'recovered';
  if (!o.route) return 'unrouted'; // whoever answers ARP, nothing routes to it
  if (foreignMacs(o).length > 0) return 'foreign-mac';
  if (l2Answered(o)) return 'filtered';
  if (o.mtr?.skipped === 'recheck_max') return 'unchecked';
  return 'unrouted';
}

const who = (o: IpObservation) => [o.ip, o.instance.name, `(${o.instance.uuid})`].filter(Boolean).join(' ');
const L2_NAME = { arp: 'ARP', ndp: 'neighbour solicitation' } as const;

/** What the layer-2 sweep said about the IP, as "; ..." words. */
function l2Words(o: IpObservation): string {
  const a = o.l2;
  if (!a) return '';
  if (a.skipped) return `; ${L2_NAME[a.protocol]} not asked: ${a.skipped}`;
  if (a.error) return `; ${L2_NAME[a.protocol]} on ${a.iface}: ${a.error}`;
  if (a.macs.length === 0) return `; no ${L2_NAME[a.protocol]} reply on ${a.iface}`;
  return `; answers ${L2_NAME[a.protocol]} on ${a.iface} from ${a.macs.join(', ')}`;
}

function mtrWords(o: IpObservation): string {
  if (o.mtr?.trace) return `, ${describeStop(o.mtr.trace)}`;
  if (o.mtr?.error) return `, MTR re-check failed: ${o.mtr.error}`;
  if (o.mtr?.skipped === 'deadline') return ', MTR re-check cut by the deadline';
  return '';
}

export interface DescribeContext {
  linkNamespace: string;
  recheckMax: number;
}

/** One long-output line for an IP that is not fine, or that is fine but worth saying. */
export function describe(o: IpObservation, c: DescribeContext): string {
  const grace = o.graceLeftS > 0 ? ` [arrived recently: warning only for ${o.graceLeftS}s more]` : '';
  switch (classify(o)) {
    case 'filtered':
      return `${who(o)}: alive, filters ICMP (route via ${o.route?.dev ?? o.route?.gateway}${l2Words(o)})`;
    case 'recovered':
      return `${who(o)}: no echo reply in the scan, but answered the MTR re-check`;
    case 'replied':
      return `${who(o)}: answers ICMP`;
    case 'foreign-mac': {
      const own = o.l2!.macs.includes(o.instance.mac!.toLowerCase()) ? '; the port answers too' : '';
      return `${who(o)}: no echo reply; answered by ${foreignMacs(o).join(', ')} which is not this port's MAC (${o.instance.mac}) on ${o.l2!.iface}: duplicate IP or proxy ARP${own}${grace}`;
    }
    case 'unchecked':
      return `${who(o)}: no echo reply${l2Words(o)} (not re-checked: recheck_max ${c.recheckMax} reached)${grace}`;
    case 'unrouted': {
      if (!o.route) {
        const alive = l2Answered(o) && foreignMacs(o).length === 0 ? ' (the instance is alive: its route was lost)' : '';
        return `${who(o)}: no static route in ${c.linkNamespace}${mtrWords(o)}${l2Words(o)}${alive}${grace}`;
      }
      return `${who(o)}: route via ${o.route.dev ?? o.route.gateway} present${mtrWords(o)}${l2Words(o)}${grace}`;
    }
  }
}

/** Key and status of an IP's finding for one instance (`lm-probe instance`). An IP nothing routes
 *  to is that instance's outage: CRITICAL (WARNING in grace), whatever the node-wide count ranges say. */
const FINDING: Record<Exclude<IpVerdict, 'replied'>, { key: string; status: Status }> = {
  unrouted: { key: 'not-routed', status: Status.CRITICAL },
  'foreign-mac': { key: 'foreign-mac', status: Status.WARNING },
  unchecked: { key: 'not-rechecked', status: Status.WARNING },
  filtered: { key: 'filters-icmp', status: Status.OK },
  recovered: { key: 'answered-recheck', status: Status.OK },
};

export function finding(o: IpObservation, c: DescribeContext): Finding {
  const f = FINDING[classify(o) as Exclude<IpVerdict, 'replied'>];
  const status = f.status === Status.CRITICAL && o.graceLeftS > 0 ? Status.WARNING : f.status;
  return { instance: o.instance.uuid, key: `${f.key} ${o.ip}`, status, text: describe(o, c) };
}

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

/** Instances not checked, by reason ("paused", "with no known IP"), for the summary. */
export type Skipped = Record<string, number>;

export function describeSkipped(skipped: Skipped): string {
  const parts = Object.entries(skipped).filter(([, n]) => n > 0);
  const total = parts.reduce((sum, [, n]) => sum + n, 0);
  if (total === 0) return '';
  return `${plural(total, 'instance')} not checked (${parts.map(([why, n]) => `${n} ${why}`).join(', ')})`;
}

export interface VerdictInput {
  observations: IpObservation[];
  instances: number;
  warning: string;
  critical: string;
  linkNamespace: string;
  recheckMax: number;
  scanSeconds: number;
  skipped?: Skipped;
}

export function verdict(v: VerdictInput): ProbeOutcome & { unrouted: IpObservation[] } {
  const by = (k: IpVerdict) => v.observations.filter((o) => classify(o) === k);
  const unrouted = by('unrouted');
  const foreign = by('foreign-mac');
  const unchecked = by('unchecked');
  const filtered = by('filtered');
  const answered = by('replied').length + by('recovered').length;
  const settled = unrouted.filter((o) => o.graceLeftS === 0);
  const inGrace = unrouted.length - settled.length;

  // Unrouted IPs are held against the ranges, except those of instances still in grace (WARNING
  // at most). Another MAC answering, and IPs left without a re-check, are WARNING: worth a look,
  // not proven outages (the re-checked ones carry the CRITICAL of a mass failure).
  const status = worst(
    checkThresholds(settled.length, v.warning, v.critical),
    inGrace + foreign.length + unchecked.length > 0 ? Status.WARNING : Status.OK,
  );
  const total = v.observations.length;
  const parts: string[] = [];
  if (unrouted.length > 0) {
    const list = unrouted.slice(0, 5).map((o) => o.ip).join(', ') + (unrouted.length > 5 ? ', ...' : '');
    parts.push(`${unrouted.length} of ${total} IPs not routed: ${list}${inGrace ? ` (${inGrace} arrived recently)` : ''}`);
  } else if (foreign.length + unchecked.length > 0) {
    parts.push(`${answered + filtered.length} of ${total} IPs answer`);
  } else {
    parts.push(`${plural(total, 'IP')} of ${plural(v.instances, 'instance')} answer${total === 1 ? 's' : ''}`);
  }
  if (foreign.length > 0) parts.push(`${foreign.length} answered by another MAC (duplicate IP or proxy ARP)`);
  if (unchecked.length > 0) parts.push(`${unchecked.length} answer neither ICMP nor ARP, not re-checked (recheck_max ${v.recheckMax})`);
  if (filtered.length > 0) parts.push(`${filtered.length} alive but filtering ICMP`);
  const skipped = describeSkipped(v.skipped ?? {});
  if (skipped) parts.push(skipped);

  const c = { linkNamespace: v.linkNamespace, recheckMax: v.recheckMax };
  const findings = [...unrouted, ...foreign, ...unchecked, ...filtered, ...by('recovered')].map((o) => finding(o, c));
  const perfdata: Perf[] = [
    { label: 'ips', value: total, min: 0 },
    { label: 'replied', value: answered, min: 0 },
    { label: 'filtered', value: filtered.length, min: 0 },
    { label: 'unrouted', value: unrouted.length, warn: v.warning, crit: v.critical, min: 0 },
    { label: 'scan_time', value: v.scanSeconds, uom: 's', min: 0 },
    { label: 'foreign_mac', value: foreign.length, min: 0 },
    { label: 'unchecked', value: unchecked.length, min: 0 },
  ];
  return { status, summary: parts.join('; '), details: findings.map((f) => f.text), findings, perfdata, unrouted };
}

/**
 * No IP to scan. OK only when the inventory is whole: with a source failed, instances may be
 * hidden, and a probe never says OK about what it could not see (the runner adds the
 * "inventory degraded" lines).
 */
export function nothingToCheck(v: { instances: number; skipped: Skipped; degraded: boolean }): ProbeOutcome {
  const skipped = describeSkipped(v.skipped);
  const what = v.instances === 0 ? 'no instances' : `no IPs to check: ${skipped || plural(v.instances, 'instance')}`;
  const perfdata: Perf[] = [{ label: 'ips', value: 0, min: 0 }];
  if (v.degraded) return { status: Status.UNKNOWN, summary: `nothing checked while the inventory is degraded: ${what}`, details: [], perfdata };
  return { status: Status.OK, summary: what, details: [], perfdata };
}
