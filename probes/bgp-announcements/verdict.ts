/**
 * The verdict of bgp-announcements, as pure functions of what the inventory expects and what
 * the daemon says each peer receives. Missing: an expected IP not announced to an Established
 * peer that carries its family. Orphaned: a host route (/32, /128) in scope announced to some
 * peer that no running instance here owns.
 */
import { isIP } from 'node:net';
import { sortPrefixes, type BgpSession } from '../../src/host/bgp/index.js';
import type { Instance } from '../../src/inventory/types.js';
import { KEEP_DEPARTED_S, type Presence } from '../../src/presence.js';
import { checkThresholds, Status, worst, type Finding, type Perf, type ProbeOutcome } from '../../src/result.js';

export interface ExpectedIp {
  ip: string;
  uuid: string;
  name?: string;
  /** Seconds of grace left (the instance arrived recently); 0 when none. */
  graceLeftS: number;
}

/** Who, if anyone, had an orphaned IP: an instance that left, or one shut off here. */
export interface FormerOwner {
  uuid: string;
  name?: string;
  /** "left this node 40s ago", "is shutoff here". */
  what: string;
  /** Seconds of grace left (it left less than grace ago); 0 when none. */
  graceLeftS: number;
}

function ago(s: number): string {
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.round(s / 60)}m`;
  return s < 172_800 ? `${Math.round(s / 3600)}h` : `${Math.round(s / 86_400)}d`;
}

/**
 * Who had an IP no running instance here owns: one shut off here (and where Nova has it, when
 * the OpenStack source said), or one that left this node — named even after its grace, as long
 * as the presence record remembers it.
 */
export function formerOwner(ip: string, known: { shutOff: Map<string, Instance>; presence: Presence; graceS: number; host?: string }): FormerOwner | undefined {
  const off = known.shutOff.get(ip);
  if (off) {
    const elsewhere = off.novaHost && off.novaHost !== known.host ? `; Nova has it on ${off.novaHost}` : '';
    return { uuid: off.uuid, name: off.name, what: `is ${off.state} here${elsewhere} (its IP should be withdrawn)`, graceLeftS: 0 };
  }
  const d = known.presence.leftRecently(ip, KEEP_DEPARTED_S);
  if (!d) return undefined;
  const since = Math.max(0, known.presence.nowS - d.left);
  return { uuid: d.uuid, name: d.name, what: `left this node ${ago(since)} ago`, graceLeftS: Math.max(0, known.graceS - since) };
}

export interface Missing extends ExpectedIp {
  peers: string[];
}

export interface Orphan {
  prefix: string;
  peers: string[];
  owner?: FormerOwner;
}

export interface VerdictInput {
  expected: ExpectedIp[];
  instances: number;
  sessions: BgpSession[];
  /** True for an announced prefix the probe judges: a host route within `prefixes`, not in `ignore`. */
  inScope: (prefix: string) => boolean;
  formerOwner: (ip: string) => FormerOwner | undefined;
  warning: string;
  critical: string;
}

export const hostPrefix = (ip: string): string => `${ip}/${isIP(ip) === 6 ? 128 : 32}`;
const familyOf = (ip: string) => (isIP(ip) === 6 ? 'ipv6' : 'ipv4');
const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;
const peerName = (s: BgpSession) => (s.name && s.name !== s.peer ? `${s.peer} (${s.name})` : s.peer);
const who = (x: { ip: string; uuid: string; name?: string }) => [x.ip, x.name, `(${x.uuid})`].filter(Boolean).join(' ');
const list = (xs: string[]) => xs.slice(0, 5).join(', ') + (xs.length > 5 ? ', ...' : '');

export function missingIps(expected: ExpectedIp[], established: BgpSession[]): Missing[] {
  const sets = established.map((s) => ({ s, set: new Set(s.announced ?? []) }));
  return expected
    .map((e) => ({ ...e, peers: sets.filter(({ s, set }) => s.families.includes(familyOf(e.ip)) && !set.has(hostPrefix(e.ip))).map(({ s }) => s.peer) }))
    .filter((m) => m.peers.length > 0);
}

export function orphanedPrefixes(v: Pick<VerdictInput, 'expected' | 'inScope' | 'formerOwner'>, established: BgpSession[]): Orphan[] {
  const ours = new Set(v.expected.map((e) => hostPrefix(e.ip)));
  const orphans = new Map<string, Orphan>();
  for (const s of established) {
    for (const prefix of s.announced ?? []) {
      if (ours.has(prefix) || !v.inScope(prefix)) continue;
      const o = orphans.get(prefix) ?? { prefix, peers: [], owner: v.formerOwner(prefix.split('/')[0]) };
      o.peers.push(s.peer);
      orphans.set(prefix, o);
    }
  }
  const order = sortPrefixes(orphans.keys());
  return order.map((p) => orphans.get(p)!);
}

const graceWords = (kind: string, s: number) => (s > 0 ? ` [${kind} recently: warning only for ${s}s more]` : '');

export function describeSession(s: BgpSession): string {
  const since = s.since ? ` ${s.since}` : '';
  const info = s.info && s.info !== s.state ? ` (${s.info})` : '';
  return `peer ${peerName(s)}: ${s.state}${since}${info}: nothing is announced to it`;
}

export function describeMissing(m: Missing): string {
  return `${who(m)}: not announced to ${m.peers.join(', ')}${graceWords('arrived', m.graceLeftS)}`;
}

export function describeOrphan(o: Orphan): string {
  const owner = o.owner ? `instance ${[o.owner.name, `(${o.owner.uuid})`].filter(Boolean).join(' ')} ${o.owner.what}` : 'no instance here owns it';
  return `${o.prefix}: announced to ${o.peers.join(', ')}, ${owner}${graceWords('left', o.owner?.graceLeftS ?? 0)}`;
}

export function verdict(v: VerdictInput): ProbeOutcome & { missing: Missing[]; orphans: Orphan[] } {
  const established = v.sessions.filter((s) => s.established);
  const down = v.sessions.filter((s) => !s.established);
  const missing = established.length ? missingIps(v.expected, established) : [];
  const orphans = established.length ? orphanedPrefixes(v, established) : [];
  const arriving = missing.filter((m) => m.graceLeftS > 0).length;
  const leaving = orphans.filter((o) => (o.owner?.graceLeftS ?? 0) > 0).length;
  const settled = missing.length + orphans.length - arriving - leaving;

  const status = worst(
    checkThresholds(settled, v.warning, v.critical),
    arriving + leaving > 0 ? Status.WARNING : Status.OK,
    down.length > 0 || established.length === 0 ? Status.CRITICAL : Status.OK,
  );

  const parts: string[] = [];
  if (established.length === 0) parts.push(v.sessions.length ? 'no BGP session established' : 'no BGP session established (no BGP peer found)');
  if (down.length && established.length) parts.push(`${plural(down.length, 'peer')} not Established: ${list(down.map((s) => `${s.peer} ${s.state}`))}`);
  if (missing.length) parts.push(`${missing.length} of ${plural(v.expected.length, 'IP')} not announced: ${list(missing.map((m) => m.ip))}${arriving ? ` (${arriving} arrived recently)` : ''}`);
  if (orphans.length) parts.push(`${plural(orphans.length, 'orphaned announcement')}: ${list(orphans.map((o) => o.prefix))}${leaving ? ` (${leaving} left recently)` : ''}`);
  if (parts.length === 0) parts.push(`${plural(v.expected.length, 'IP')} of ${plural(v.instances, 'instance')} announced to ${plural(established.length, 'peer')}, nothing else`);

  const inGrace = (x: Missing | Orphan) => ('graceLeftS' in x ? x.graceLeftS : x.owner?.graceLeftS ?? 0) > 0;
  const findings = [...missing, ...orphans];
  // For `lm-probe instance`: a missing or orphaned announcement is its instance's (the orphan's
  // former owner's) outage, CRITICAL out of grace; a session down concerns every instance here.
  const structured: Finding[] = [
    ...down.map((s): Finding => ({ key: `peer-down ${s.peer}`, status: Status.CRITICAL, text: describeSession(s) })),
    ...(v.sessions.length ? [] : [{ key: 'no-bgp-session', status: Status.CRITICAL, text: parts[0] }]),
    ...[...findings.filter((x) => !inGrace(x)), ...findings.filter(inGrace)].flatMap((x): Finding[] => {
      const status = inGrace(x) ? Status.WARNING : Status.CRITICAL;
      if ('ip' in x) return [{ instance: x.uuid, key: `not-announced ${x.ip}`, status, text: describeMissing(x) }];
      return [{ ...(x.owner ? { instance: x.owner.uuid } : {}), key: `orphan-announced ${x.prefix}`, status, text: describeOrphan(x) }];
    }),
  ];
  const details = structured.filter((f) => f.key !== 'no-bgp-session').map((f) => f.text);
  const tied = structured.filter((f) => f.instance !== undefined || !f.key.startsWith('orphan-'));
  const announced = new Set(established.flatMap((s) => s.announced ?? []));
  const perfdata: Perf[] = [
    { label: 'expected', value: v.expected.length, min: 0 },
    { label: 'announced', value: announced.size, min: 0 },
    { label: 'missing', value: missing.length, warn: v.warning, crit: v.critical, min: 0 },
    { label: 'orphaned', value: orphans.length, warn: v.warning, crit: v.critical, min: 0 },
    { label: 'sessions_established', value: established.length, min: 0 },
    { label: 'sessions', value: v.sessions.length, min: 0 },
  ];
  return { status, summary: parts.join('; '), details, findings: tied, perfdata, missing, orphans };
}
