/**
 * The verdict of openflow-rules, as pure functions of one flow dump, one OVSDB read and the
 * inventory: does every hosted port have the flows its firewall driver installs (which part is
 * missing), and which flows name an ofport, MAC, IP or cookie that nothing here has?
 */
import { nextTables, type Flow } from '../../src/host/ovs-flows.js';
import { DEAD_VLAN, type OvsSnapshot } from '../../src/host/ovs.js';
import { portLabel, type HostedPort, type OvsHosting } from '../../src/inventory/ovs.js';
import type { Departed } from '../../src/presence.js';
import { Status, worst, type Finding, type ProbeOutcome } from '../../src/result.js';

export type Driver = 'iptables_hybrid' | 'openvswitch' | 'noop';

/** Neutron's openvswitch firewall tables (71 egress ... 82 ingress rules). */
const OVSFW_TABLES = new Set([71, 72, 73, 81, 82]);
/** Security-group rule tables: their addresses are remote peers, not this node's ports. */
const SG_RULE_TABLES = new Set([72, 82]);
/** OpenFlow's reserved ports (LOCAL = 65534, and OFPP_* from 0xfffffff8) exist on every bridge. */
const isReservedPort = (n: number) => n === 65534 || n >= 0xfff0 && n <= 0xffff || n >= 0xffffff00;

/** auto: the openvswitch firewall populates tables 71-82; otherwise the hybrid driver is assumed. */
export function detectDriver(flows: Flow[]): Exclude<Driver, 'noop'> {
  return flows.some((f) => OVSFW_TABLES.has(f.table)) ? 'openvswitch' : 'iptables_hybrid';
}

/** Flows indexed by what a port's flows are keyed on, so 500 ports cost one pass over the dump. */
class FlowIndex {
  private by = new Map<string, Flow[]>();
  constructor(flows: Flow[]) {
    for (const f of flows) {
      if (f.inPort !== undefined) this.add(`${f.table}/in/${f.inPort}`, f);
      if (f.reg5 !== undefined) this.add(`${f.table}/r5/${f.reg5}`, f);
      for (const m of f.macs) this.add(`${f.table}/mac/${m}`, f);
    }
  }
  private add(k: string, f: Flow) {
    const l = this.by.get(k);
    if (l) l.push(f);
    else this.by.set(k, [f]);
  }
  get(table: number, kind: 'in' | 'r5' | 'mac', key: number | string): Flow[] {
    return this.by.get(`${table}/${kind}/${key}`) ?? [];
  }
}

const has = (flows: Flow[], test: (f: Flow) => boolean) => flows.some(test);

/** The parts of a port's expected flows that are absent ([] = complete). */
export function missingParts(driver: Driver, idx: FlowIndex, ofport: number, mac: string | undefined, ips: string[], tag: number | undefined): string[] {
  const missing: string[] = [];
  const need = (ok: boolean, part: string) => ok || missing.push(part);
  const v4 = ips.filter((ip) => ip.includes('.'));
  if (driver === 'iptables_hybrid') {
    const t0 = idx.get(0, 'in', ofport);
    need(has(t0, (f) => f.match.has('arp') && nextTables(f).includes(24)), `table 0 in_port=${ofport} arp -> 24`);
    need(has(t0, (f) => !f.match.has('arp') && nextTables(f).includes(25)), `table 0 in_port=${ofport} -> 25`);
    const t24 = idx.get(24, 'in', ofport);
    for (const ip of v4) need(has(t24, (f) => f.match.get('arp_spa') === ip), `table 24 arp_spa=${ip}`);
    if (mac) need(has(idx.get(25, 'in', ofport), (f) => f.macs.includes(mac)), `table 25 dl_src=${mac}`);
  } else if (driver === 'openvswitch') {
    need(idx.get(60, 'in', ofport).length > 0, `table 60 in_port=${ofport}`);
    if (mac) need(has(idx.get(60, 'mac', mac), (f) => tag === undefined || Number(f.match.get('dl_vlan')) === tag), `table 60 dl_vlan=${tag ?? '*'},dl_dst=${mac}`);
    const t71 = idx.get(71, 'r5', ofport);
    if (mac) need(has(t71, (f) => f.macs.includes(mac)), `table 71 reg5=${ofport},dl_src=${mac}`);
    for (const ip of ips) need(has(t71, (f) => f.ips.includes(ip)), `table 71 reg5=${ofport} ${ip}`);
    for (const t of [73, 81, 82]) need(idx.get(t, 'r5', ofport).length > 0, `table ${t} reg5=${ofport}`);
  }
  return missing;
}

/** br-tun's unicast table (l2pop): dl_dst=<remote MAC> -> the tunnel to the node that has it. */
export const UCAST_TO_TUN = 20;

export interface RulesInput {
  bridge: string;
  flows: Flow[];
  /** The tunnel bridge's name and flows, when it is audited and present. */
  tunnel?: { bridge: string; flows: Flow[] };
  driver: Driver;
  hosting: OvsHosting;
  snapshot: OvsSnapshot;
  /** The agent's current cookies; [] = not checked. */
  cookies: string[];
  graceLeftS(uuid: string): number;
  leftRecently(key: string): Departed | undefined;
  /** The same, as long as the presence record remembers it (default: leftRecently). */
  formerOwner?(key: string): Departed | undefined;
  parseSeconds: number;
}

interface OrphanGroup {
  reason: string;
  /** The stale ofport the group is about (its MAC/IP-only flows join it: one line per gone port). */
  ofport?: number;
  flows: Flow[];
  tables: Set<number>;
  macs: Set<string>;
  ips: Set<string>;
  blackHole: number;
}

const isMulticastMac = (m: string) => (parseInt(m.slice(0, 2), 16) & 1) === 1;
const isSpecialIp = (ip: string) => ip === '0.0.0.0' || ip === '255.255.255.255' || /^fe[89ab]/.test(ip) || /^ff/.test(ip) || /^2(2[4-9]|3\d)\./.test(ip);

/**
 * Flows that name what nothing here has, grouped by what they name: a stale ofport first (with
 * every flow that carries one of its MACs or IPs), then a MAC, an IP, a cookie.
 */
export function orphanGroups(v: RulesInput): OrphanGroup[] {
  const ofports = new Set(v.snapshot.interfaces.filter((i) => i.bridge === v.bridge && i.ofport !== undefined && i.ofport > 0).map((i) => i.ofport!));
  // Network ports (DHCP, router: an iface-id, no VM) keep their addresses' flows too.
  const known = new Set(v.hosting.owners.keys());
  for (const i of v.snapshot.interfaces) {
    const mac = i.externalIds['attached-mac'];
    if (mac && i.externalIds['iface-id'] && !i.externalIds['vm-uuid'] && !i.externalIds['vm-id']) known.add(mac.toLowerCase());
  }
  const cookies = new Set(v.cookies.map((c) => c.toLowerCase()));
  const live = (n: number) => ofports.has(n) || isReservedPort(n);
  const groups = new Map<string, OrphanGroup>();
  const add = (reason: string, f: Flow, ofport?: number) => {
    const g = groups.get(reason) ?? { reason, flows: [], tables: new Set(), macs: new Set(), ips: new Set(), blackHole: 0, ...(ofport !== undefined ? { ofport } : {}) };
    groups.set(reason, g);
    g.flows.push(f);
    g.tables.add(f.table);
    for (const m of f.macs) g.macs.add(m);
    for (const ip of f.ips) g.ips.add(ip);
    if (f.outputs.some((n) => !live(n))) g.blackHole++;
  };
  const byAddress: { f: Flow; mac?: string; ip?: string }[] = [];
  for (const f of v.flows) {
    const stale = [f.inPort, f.reg5, ...f.outputs].find((n) => n !== undefined && !live(n));
    if (stale !== undefined) {
      add(`ofport ${stale} (no Interface on ${v.bridge})`, f, stale);
      continue;
    }
    const addressesMatter = !SG_RULE_TABLES.has(f.table) && !f.actions.some((a) => a.startsWith('conjunction('));
    const mac = addressesMatter ? f.macs.find((m) => !known.has(m) && !isMulticastMac(m)) : undefined;
    const ip = addressesMatter ? f.ips.find((a) => !known.has(a) && !isSpecialIp(a)) : undefined;
    if (mac || ip) byAddress.push({ f, mac, ip });
    else if (cookies.size && !cookies.has(f.cookie)) add(`cookie ${f.cookie} (not the agent's)`, f);
  }
  const staleGroups = [...groups.values()].filter((g) => g.ofport !== undefined);
  for (const { f, mac, ip } of byAddress) {
    const home = staleGroups.find((g) => (mac && g.macs.has(mac)) || (ip && g.ips.has(ip)));
    if (home) add(home.reason, f);
    else add(mac ? `MAC ${mac} (no port hosted here)` : `IP ${ip} (no port hosted here)`, f);
  }
  return [...groups.values()];
}

/** Unicast tunnel flows still sending a MAC that is now hosted here to another node. */
export function tunnelLeftovers(v: RulesInput): { line: string; hp: HostedPort }[] {
  if (!v.tunnel) return [];
  const out: { line: string; hp: HostedPort }[] = [];
  for (const f of v.tunnel.flows) {
    if (f.table !== UCAST_TO_TUN) continue;
    const hp = f.macs.map((m) => v.hosting.owners.get(m)).find(Boolean);
    if (hp) out.push({ hp, line: `orphaned: ${v.tunnel.bridge} table ${UCAST_TO_TUN} sends ${hp.port.mac} of ${portLabel(hp)}, hosted here, to a tunnel (${f.actions.filter((a) => a.startsWith('output:')).join(',') || f.actions.join(',')})` });
  }
  return out;
}

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;
const rank = (s: Status) => (s === Status.UNKNOWN ? 1.5 : s);

export function verdict(v: RulesInput): ProbeOutcome & { debug: string[] } {
  const idx = new FlowIndex(v.flows);
  const debug: string[] = [];
  // key and instance: for `lm-probe instance` (no ofport numbers in keys: they change on re-plug).
  const findings: { status: Status; line: string; kind: 'missing' | 'orphan'; key?: string; instance?: string }[] = [];
  const unchecked: Finding[] = [];
  const formerOwner = v.formerOwner ?? v.leftRecently;
  for (const hp of v.hosting.ports) {
    const i = hp.iface;
    // A port that is not wired has no flows to expect (the agent drops its traffic): ovs-ports says why.
    const notWired = !i ? 'no OVS interface'
      : i.ofport === undefined || i.ofport <= 0 ? `ofport ${i.ofport ?? 'unassigned'}`
      : i.bridge !== v.bridge ? `on ${i.bridge ?? 'no bridge'}`
      : i.tag === DEAD_VLAN ? `dead VLAN (tag ${DEAD_VLAN})` : '';
    if (!i || notWired) {
      unchecked.push({ instance: hp.instance.uuid, key: `flows-not-checked ${hp.port.id || hp.port.mac}`, status: Status.OK, text: `${portLabel(hp)}: flows not checked: ${notWired} (see ovs-ports)` });
      debug.push(unchecked[unchecked.length - 1].text);
      continue;
    }
    const parts = missingParts(v.driver, idx, i.ofport!, hp.port.mac, hp.port.ips, i.tag);
    const who = `${portLabel(hp)} ${i.name} ofport ${i.ofport} ${hp.port.mac ?? ''}${hp.port.ips.length ? ` ${hp.port.ips.join(' ')}` : ''}`;
    if (!parts.length) {
      debug.push(`${who}: all flows present`);
      continue;
    }
    const grace = v.graceLeftS(hp.instance.uuid);
    const line = `${who}: missing ${parts.join(', ')}${grace ? ` [arrived recently: warning only for ${grace}s more]` : ''}`;
    findings.push({ status: grace ? Status.WARNING : Status.CRITICAL, line, kind: 'missing', key: `flows-missing ${hp.port.id || hp.port.mac}`, instance: hp.instance.uuid });
    debug.push(line);
  }
  const groups = orphanGroups(v);
  for (const g of groups) {
    const addressList = g.reason.startsWith('cookie') ? [] : [...g.macs, ...g.ips];
    const left = addressList.map((a) => v.leftRecently(a)).find(Boolean);
    const owners = [...new Set(addressList.map((a) => v.hosting.owners.get(a)).filter((x): x is HostedPort => Boolean(x)).map(portLabel))];
    const shown = addressList.slice(0, 4).join(', ') + (addressList.length > 4 ? ', ...' : '');
    const addresses = addressList.length ? `; ${shown}${owners.length ? ` of ${owners.slice(0, 2).join(', ')}${owners.length > 2 ? ', ...' : ''}` : ''}` : '';
    const hole = g.blackHole ? `; ${plural(g.blackHole, 'flow')} output${g.blackHole === 1 ? 's' : ''} to a port that no longer exists: black-holes traffic` : '';
    const recent = left ? `; left with ${left.name ?? left.uuid} (${left.uuid}) within the grace window` : '';
    const tables = [...g.tables].sort((a, b) => a - b).join(',');
    const line = `orphaned: ${plural(g.flows.length, 'flow')} for ${g.reason} in table${g.tables.size > 1 ? 's' : ''} ${tables}${addresses}${hole}${recent}`;
    // Whose leftovers: a hosted port's (flows of its old ofport), else an instance that left.
    const owner = addressList.map((a) => v.hosting.owners.get(a)?.instance.uuid ?? formerOwner(a)?.uuid).find(Boolean);
    findings.push({ status: g.blackHole && !left ? Status.CRITICAL : Status.WARNING, line, kind: 'orphan', ...(owner ? { key: `flows-orphaned ${addressList[0]}`, instance: owner } : {}) });
    debug.push(line);
    for (const f of g.flows.slice(0, 3)) debug.push(`  ${f.text}`);
    if (g.flows.length > 3) debug.push(`  ... and ${g.flows.length - 3} more`);
  }
  const tunnelLines = tunnelLeftovers(v);
  for (const { line, hp } of tunnelLines) {
    findings.push({ status: Status.WARNING, line, kind: 'orphan', key: `tunnel-flow ${hp.port.mac}`, instance: hp.instance.uuid });
    debug.push(line);
  }
  findings.sort((a, b) => rank(b.status) - rank(a.status));
  const missing = findings.filter((f) => f.kind === 'missing').length;
  const orphaned = groups.reduce((n, g) => n + g.flows.length, tunnelLines.length);
  const total = v.hosting.ports.length;
  const parts: string[] = [];
  if (missing) parts.push(`${missing} of ${plural(total, 'port')} missing flows`);
  if (orphaned) parts.push(`${plural(orphaned, 'orphaned flow')}`);
  const driverWords = v.driver === 'noop' ? 'no firewall flows expected' : `${v.driver} flows`;
  const summary = parts.length
    ? `${parts.join(', ')}: ${findings[0].line.replace(/ \[arrived.*$/, '').replace(/^orphaned: /, '')}${findings.length > 1 ? ' ...' : ''}`
    : `${plural(total - unchecked.length, 'port')} with ${total - unchecked.length === 1 ? 'its' : 'their'} ${driverWords}, no orphans (${plural(v.flows.length, 'flow')} on ${v.bridge})`;
  return {
    status: worst(...findings.map((f) => f.status)),
    summary,
    details: [...findings.map((f) => f.line), ...unchecked.map((u) => u.text)],
    findings: [...findings.flatMap((f): Finding[] => (f.key && f.instance ? [{ instance: f.instance, key: f.key, status: f.status, text: f.line }] : [])), ...unchecked],
    perfdata: [
      { label: 'ports', value: total, min: 0 },
      { label: 'flows', value: v.flows.length, min: 0 },
      { label: 'missing', value: missing, min: 0 },
      { label: 'orphaned', value: orphaned, min: 0 },
      { label: 'parse_time', value: Math.round(v.parseSeconds * 10000) / 10000, uom: 's', min: 0 },
    ],
    debug,
  };
}
