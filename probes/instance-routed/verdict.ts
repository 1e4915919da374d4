/**
 * The verdict of instance-routed, as pure functions of what was observed for each IP.
 * An IP is fine when it answered ICMP, or when its static route exists and it answers ARP
 * (alive, its security groups drop ICMP). Every other IP is "not correctly routed".
 */
import type { ArpAnswer } from '../../src/host/arping.js';
import type { HostRoute } from '../../src/host/iproute.js';
import { describeStop, type MtrTrace } from '../../src/host/mtr.js';
import { checkThresholds, Status, worst, type Perf, type ProbeOutcome } from '../../src/result.js';

export interface IpObservation {
  ip: string;
  instance: { uuid: string; name?: string; tap?: string };
  replied: boolean;
  route?: HostRoute;
  /** Set when the MTR re-check ran. */
  mtr?: MtrTrace;
  /** Set when arping ran; iface is where it ran. */
  arp?: ArpAnswer & { iface: string };
  /** False when more IPs failed than recheck_max allows re-checking. */
  rechecked: boolean;
  /** Seconds of grace left (instance arrived recently); 0 when none. */
  graceLeftS: number;
}

export type IpVerdict = 'replied' | 'recovered' | 'filtered' | 'unrouted';

export function classify(o: IpObservation): IpVerdict {
  if (o.replied) return 'replied';
  if (o.mtr?.reached) return 'recovered';
  if (o.route && o.arp?.answered) return 'filtered';
  return 'unrouted';
}

const who = (o: IpObservation) => [o.ip, o.instance.name, `(${o.instance.uuid})`].filter(Boolean).join(' ');

function arpWords(o: IpObservation): string {
  if (!o.arp) return '';
  if (o.arp.error) return `; arping on ${o.arp.iface}: ${o.arp.error}`;
  return o.arp.answered ? `; answers ARP on ${o.arp.iface} from ${o.arp.mac}` : `; no ARP reply on ${o.arp.iface}`;
}

/** One long-output line for an IP that is not fine, or that is fine but worth saying. */
export function describe(o: IpObservation, linkNamespace: string): string {
  const grace = o.graceLeftS > 0 ? ` [arrived recently: warning only for ${o.graceLeftS}s more]` : '';
  switch (classify(o)) {
    case 'filtered':
      return `${who(o)}: alive, filters ICMP (route via ${o.route?.dev ?? o.route?.gateway}${arpWords(o)})`;
    case 'recovered':
      return `${who(o)}: no echo reply in the scan, but answered the MTR re-check`;
    case 'replied':
      return `${who(o)}: answers ICMP`;
    case 'unrouted': {
      if (!o.rechecked) {
        return `${who(o)}: no echo reply${o.route ? '' : `, no static route in ${linkNamespace}`} (not re-checked: recheck_max reached)${grace}`;
      }
      if (!o.route) {
        const alive = o.arp?.answered ? ' (the instance is alive: its route was lost)' : '';
        return `${who(o)}: no static route in ${linkNamespace}${arpWords(o)}${alive}${grace}`;
      }
      const stop = o.mtr ? `, ${describeStop(o.mtr)}` : '';
      return `${who(o)}: route via ${o.route.dev ?? o.route.gateway} present${stop}${arpWords(o)}${grace}`;
    }
  }
}

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

export interface VerdictInput {
  observations: IpObservation[];
  instances: number;
  warning: string;
  critical: string;
  linkNamespace: string;
  scanSeconds: number;
}

export function verdict(v: VerdictInput): ProbeOutcome & { unrouted: IpObservation[] } {
  const by = (k: IpVerdict) => v.observations.filter((o) => classify(o) === k);
  const unrouted = by('unrouted');
  const filtered = by('filtered');
  const answered = by('replied').length + by('recovered').length;
  const settled = unrouted.filter((o) => o.graceLeftS === 0);
  const inGrace = unrouted.length - settled.length;

  // Instances still in grace count as WARNING at most; the rest are held against the ranges.
  const status = worst(checkThresholds(settled.length, v.warning, v.critical), inGrace > 0 ? Status.WARNING : Status.OK);
  const total = v.observations.length;
  let summary: string;
  if (unrouted.length > 0) {
    const list = unrouted.slice(0, 5).map((o) => o.ip).join(', ') + (unrouted.length > 5 ? ', ...' : '');
    summary = `${unrouted.length} of ${total} IPs not routed: ${list}${inGrace ? ` (${inGrace} arrived recently)` : ''}`;
  } else {
    summary = `${plural(total, 'IP')} of ${plural(v.instances, 'instance')} answer${total === 1 ? 's' : ''}`;
  }
  if (filtered.length > 0) summary += `; ${filtered.length} alive but filtering ICMP`;

  const details = [...unrouted, ...filtered, ...by('recovered')].map((o) => describe(o, v.linkNamespace));
  const perfdata: Perf[] = [
    { label: 'ips', value: total, min: 0 },
    { label: 'replied', value: answered, min: 0 },
    { label: 'filtered', value: filtered.length, min: 0 },
    { label: 'unrouted', value: unrouted.length, warn: v.warning, crit: v.critical, min: 0 },
    { label: 'scan_time', value: v.scanSeconds, uom: 's', min: 0 },
  ];
  return { status, summary, details, perfdata, unrouted };
}
