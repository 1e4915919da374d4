/**
 * The verdict of ovs-ports, as pure functions of one OVSDB read, one `ip -j link` and the
 * inventory: is every hosted port wired (Interface, ofport, local VLAN, kernel devices), and
 * is anything plugged for an instance that is not here?
 */
import type { Link } from '../../src/host/iplink.js';
import { DEAD_VLAN, type OvsInterface, type OvsSnapshot } from '../../src/host/ovs.js';
import { deviceSuffix, portLabel, type HostedPort, type OvsHosting } from '../../src/inventory/ovs.js';
import type { Departed } from '../../src/presence.js';
import { Status, worst, type Finding as InstanceFinding, type ProbeOutcome } from '../../src/result.js';

export type FindingKind = 'missing' | 'error' | 'orphan' | 'bridge' | 'namespace';

export interface Finding {
  kind: FindingKind;
  status: Status;
  line: string;
  /** For `lm-probe instance`: the stable key, and the instance it concerns (none: every instance here). */
  key?: string;
  instance?: string;
}

export interface PortsInput {
  hosting: OvsHosting;
  snapshot: OvsSnapshot;
  /** The kernel's devices (where vswitchd runs). */
  links: Map<string, Link>;
  integrationBridge: string;
  bridges: string[];
  /** "" = any. */
  failMode: string;
  missingNamespaces: string[];
  orphansCritical: boolean;
  /** Seconds of grace left for a hosted instance that arrived recently. */
  graceLeftS(uuid: string): number;
  /** The instance that had this port id / MAC and left within the grace window. */
  leftRecently(key: string): Departed | undefined;
  /** The same, as long as the presence record remembers it (default: leftRecently). */
  formerOwner?(key: string): Departed | undefined;
}

const vmOf = (i: OvsInterface) => i.externalIds['vm-uuid'] ?? i.externalIds['vm-id'];
const deviceWords = (name: string, l: Link | undefined) => (!l ? `device ${name} missing` : l.up ? '' : `device ${name} down (${l.state})`);

/** The kernel devices of a port, following how it is plugged: hybrid (qvo on OVS) or direct (tap on OVS). */
export function deviceProblems(ovsName: string, links: Map<string, Link>): string[] {
  if (!ovsName.startsWith('qvo')) {
    const w = deviceWords(ovsName, links.get(ovsName));
    return w ? [w] : [];
  }
  const id = ovsName.slice(3);
  const [qvo, qvb, qbr, tap] = ['qvo', 'qvb', 'qbr', 'tap'].map((k) => `${k}${id}`);
  const problems = [qvo, qvb, qbr, tap].map((n) => deviceWords(n, links.get(n))).filter(Boolean);
  const l = (n: string) => links.get(n);
  if (l(qvo) && l(qvb) && l(qvo)!.peer && l(qvo)!.peer !== qvb) problems.push(`${qvo}'s veth peer is ${l(qvo)!.peer}, not ${qvb}`);
  for (const member of [qvb, tap]) {
    if (l(member) && l(qbr) && l(member)!.master !== qbr) problems.push(`${member} not in bridge ${qbr}${l(member)!.master ? ` (in ${l(member)!.master})` : ''}`);
  }
  return problems;
}

/** Everything wrong with one hosted port's wiring ([] = wired). */
export function portProblems(hp: HostedPort, links: Map<string, Link>, integrationBridge: string): { kind: 'missing' | 'error'; problems: string[] } {
  const i = hp.iface;
  if (!i) {
    const tap = hp.port.tap ? links.get(hp.port.tap) : undefined;
    const device = tap ? `; device ${tap.name} exists (${tap.up ? 'up' : tap.state}) but is not plugged into OVS` : '';
    return { kind: 'missing', problems: [`no OVS interface with iface-id ${hp.port.id || '?'}${device}`] };
  }
  const p: string[] = [];
  if (i.bridge !== integrationBridge) p.push(`on ${i.bridge ? `bridge ${i.bridge}` : 'no bridge'}, not ${integrationBridge}`);
  if (i.ofport === undefined || i.ofport <= 0) p.push(`ofport ${i.ofport ?? 'unassigned'}`);
  if (i.error) p.push(`error "${i.error}"`);
  if (i.linkState !== 'up') p.push(`link_state ${i.linkState ?? 'empty'}`);
  if (i.tag === undefined) p.push('no local VLAN tag (not wired by the agent)');
  else if (i.tag === DEAD_VLAN) p.push(`dead VLAN (tag ${DEAD_VLAN}: the agent could not wire it)`);
  const ids = i.externalIds;
  if (hp.port.mac && ids['attached-mac']?.toLowerCase() !== hp.port.mac.toLowerCase()) p.push(`attached-mac ${ids['attached-mac'] ?? 'unset'}, expected ${hp.port.mac}`);
  if (vmOf(i)?.toLowerCase() !== hp.instance.uuid) p.push(`vm-uuid ${vmOf(i) ?? 'unset'}, expected ${hp.instance.uuid}`);
  if (ids['iface-status'] !== 'active') p.push(`iface-status ${ids['iface-status'] ?? 'unset'}`);
  if (!i.error) p.push(...deviceProblems(i.name, links));
  return { kind: 'error', problems: p };
}

const DEVICE = /^(tap|qvo|qvb|qbr)([0-9a-f]{8}-[0-9a-f]{2})$/;

const leftWords = (d: Departed | undefined) => (d ? `; left with ${d.name ?? d.uuid} (${d.uuid}) within the grace window` : '');

/** Interfaces and kernel devices of no port hosted here. */
export function orphans(v: PortsInput): { line: string; recent: boolean; key?: string; owner?: string }[] {
  const used = new Set(v.hosting.ports.map((hp) => hp.iface?.uuid).filter(Boolean));
  const hostedSuffixes = new Set([...v.hosting.portIds].map(deviceSuffix));
  const out: { line: string; recent: boolean; key?: string; owner?: string }[] = [];
  const formerOwner = v.formerOwner ?? v.leftRecently;
  const named = new Set<string>();
  for (const i of v.snapshot.interfaces) {
    if (used.has(i.uuid)) continue;
    const ifaceId = i.externalIds['iface-id'];
    const vm = vmOf(i)?.toLowerCase();
    const foreign = (ifaceId !== undefined && !v.hosting.portIds.has(ifaceId)) || (vm !== undefined && !v.hosting.instanceUuids.has(vm));
    const broken = i.error !== undefined || i.ofport === -1;
    if (!foreign && !broken) continue;
    const left = (ifaceId && v.leftRecently(ifaceId)) || (i.externalIds['attached-mac'] && v.leftRecently(i.externalIds['attached-mac'].toLowerCase())) || undefined;
    const facts = [ifaceId && `iface-id ${ifaceId}`, vm && `vm-uuid ${vm}`, i.externalIds['attached-mac'] && `MAC ${i.externalIds['attached-mac']}`, `ofport ${i.ofport ?? 'unassigned'}`, i.error && `error "${i.error}"`].filter(Boolean).join(', ');
    const why = foreign ? 'no instance hosted here has it' : 'its device is gone';
    const device = v.links.get(i.name);
    // Its owner: the vm-uuid it carries, else whoever the presence record says had its port or MAC.
    const owner = vm ?? (ifaceId && formerOwner(ifaceId)?.uuid) ?? (i.externalIds['attached-mac'] && formerOwner(i.externalIds['attached-mac'].toLowerCase())?.uuid) ?? undefined;
    out.push({
      line: `orphan: Interface ${i.name} on ${i.bridge ?? 'no bridge'} (${facts}): ${why}${device ? `; device ${i.name} still exists` : ''}${leftWords(left)}`,
      recent: Boolean(left),
      key: `port-left ${ifaceId ?? i.name}`,
      ...(owner ? { owner } : {}),
    });
    const m = DEVICE.exec(i.name);
    if (m) named.add(m[2]);
  }
  const bySuffix = new Map<string, string[]>();
  for (const name of v.links.keys()) {
    const m = DEVICE.exec(name);
    if (!m || hostedSuffixes.has(m[2]) || named.has(m[2])) continue;
    bySuffix.set(m[2], [...(bySuffix.get(m[2]) ?? []), name]);
  }
  for (const [suffix, names] of bySuffix) {
    out.push({ line: `orphan: device${names.length > 1 ? 's' : ''} ${names.join(', ')} of no port hosted here (port ${suffix}...)`, recent: false });
  }
  return out;
}

export function bridgeFindings(v: PortsInput): Finding[] {
  const out: Finding[] = [];
  for (const name of v.bridges) {
    const b = v.snapshot.bridges.find((x) => x.name === name);
    if (!b) {
      out.push({ kind: 'bridge', status: Status.CRITICAL, line: `bridge ${name}: not in the OVSDB`, key: `bridge-missing ${name}` });
      continue;
    }
    for (const c of b.controllers) {
      if (!c.connected) out.push({ kind: 'bridge', status: Status.CRITICAL, line: `bridge ${name}: controller ${c.target} not connected`, key: `controller-down ${name}` });
    }
    if (v.failMode && (b.failMode ?? 'standalone') !== v.failMode) out.push({ kind: 'bridge', status: Status.WARNING, line: `bridge ${name}: fail_mode ${b.failMode ?? 'unset (standalone)'}, expected ${v.failMode}`, key: `fail-mode ${name}` });
  }
  for (const ns of v.missingNamespaces) out.push({ kind: 'namespace', status: Status.CRITICAL, line: `namespace ${ns}: missing`, key: `namespace-missing ${ns}` });
  return out;
}

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

export function verdict(v: PortsInput): ProbeOutcome & { debug: string[] } {
  const findings: Finding[] = [];
  const debug: string[] = [];
  for (const hp of v.hosting.ports) {
    const { kind, problems } = portProblems(hp, v.links, v.integrationBridge);
    const where = hp.iface ? `${hp.iface.name} ofport ${hp.iface.ofport ?? '?'} tag ${hp.iface.tag ?? 'none'}` : hp.port.tap ?? '';
    if (!problems.length) {
      debug.push(`${portLabel(hp)}: ${where}: wired`);
      continue;
    }
    const grace = v.graceLeftS(hp.instance.uuid);
    const line = `${portLabel(hp)} (${hp.port.mac ?? 'no MAC'}${hp.port.ips.length ? ` ${hp.port.ips.join(' ')}` : ''}) ${where}: ${problems.join('; ')}${grace ? ` [arrived recently: warning only for ${grace}s more]` : ''}`;
    const key = `${kind === 'missing' ? 'port-missing' : 'port-not-wired'} ${hp.port.id || hp.port.tap || hp.port.mac}`;
    findings.push({ kind, status: grace ? Status.WARNING : Status.CRITICAL, line, key, instance: hp.instance.uuid });
    debug.push(`${kind === 'missing' ? 'missing' : 'not wired'}: ${line}`);
  }
  const orphanStatus = v.orphansCritical ? Status.CRITICAL : Status.WARNING;
  for (const o of orphans(v)) {
    findings.push({ kind: 'orphan', status: o.recent ? Status.WARNING : orphanStatus, line: o.line, ...(o.key && o.owner ? { key: o.key, instance: o.owner } : {}) });
    debug.push(`orphaned: ${o.line.replace(/^orphan: /, '')}`);
  }
  const other = bridgeFindings(v);
  findings.push(...other);
  for (const f of other) debug.push(f.line);

  findings.sort((a, b) => rank(b.status) - rank(a.status));
  const count = (k: FindingKind) => findings.filter((f) => f.kind === k).length;
  const total = v.hosting.ports.length;
  const bad = count('missing') + count('error');
  const parts: string[] = [];
  if (bad) parts.push(`${bad} of ${plural(total, 'port')} not wired`);
  if (count('orphan')) parts.push(plural(count('orphan'), 'orphan'));
  if (count('bridge')) parts.push(`${plural(count('bridge'), 'bridge problem')}`);
  if (count('namespace')) parts.push(`${plural(count('namespace'), 'namespace')} missing`);
  const instances = new Set(v.hosting.ports.map((p) => p.instance.uuid)).size;
  const summary = parts.length
    ? parts.join(', ') + `: ${findings[0].line.replace(/ \[arrived.*$/, '')}${findings.length > 1 ? ' ...' : ''}`
    : `${plural(total, 'port')} of ${plural(instances, 'instance')} wired on ${v.integrationBridge}; bridges ${v.bridges.join(', ')} ok`;
  return {
    status: worst(...findings.map((f) => f.status)),
    summary,
    details: findings.map((f) => f.line),
    findings: findings.flatMap((f): InstanceFinding[] => (f.key ? [{ ...(f.instance ? { instance: f.instance } : {}), key: f.key, status: f.status, text: f.line }] : [])),
    perfdata: [
      { label: 'ports', value: total, min: 0 },
      { label: 'missing', value: count('missing'), min: 0 },
      { label: 'errors', value: count('error'), min: 0 },
      { label: 'orphans', value: count('orphan'), min: 0 },
      { label: 'bridges', value: v.bridges.length, min: 0 },
    ],
    debug,
  };
}

const rank = (s: Status) => (s === Status.UNKNOWN ? 1.5 : s);
