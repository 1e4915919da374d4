/**
 * `ovs-ofctl dump-flows` output, parsed once into flows with the keys the OVS probes judge by
 * (in_port, reg5, MACs, IPs, output ports). Pure: what real ovs-ofctl prints for OpenFlow 1.0
 * (NXST_FLOW) and 1.3+ (OFPST_FLOW), with or without --no-stats:
 *
 *   OFPST_FLOW reply (OF1.3) (xid=0x2):
 *    cookie=0x6c6d70a9e47c3b21, duration=3.249s, table=0, n_packets=9, n_bytes=546, reset_counts, importance=5, priority=0 actions=goto_table:60
 *    cookie=0x6c6d70a9e47c3b21, table=71, priority=65,ip,reg5=0x2,in_port=2,dl_src=fa:16:3e:1f:00:01,nw_src=198.18.1.2 actions=ct(table=72,zone=NXM_NX_REG6[0..15])
 *
 * Fields before the match are ", "-separated (a bare flag is followed by a space only); the match
 * itself is ","-separated (no spaces), and
 * the actions are ","-separated at parenthesis depth 0 (learn(...), ct(...), conjunction(...)
 * nest commas).
 */
import { ProbeError, oneLine } from '../errors.js';

export interface Flow {
  cookie: string;
  table: number;
  priority: number;
  /** Match fields in order; a bare protocol word (arp, ip) has the value "". */
  match: Map<string, string>;
  /** Top-level actions, e.g. ["set_field:0x2->reg5", "resubmit(,71)"]; ["drop"] for actions=drop. */
  actions: string[];
  /** Keys the probes judge by, taken from the match and actions. */
  inPort?: number;
  reg5?: number;
  macs: string[];
  ips: string[];
  /** Ofports named by output:N actions (top-level only: a learn() template is not an output). */
  outputs: number[];
  /** The flow as printed, without counters (for long output and --debug). */
  text: string;
}

/** Fields ovs-ofctl prints before the match (flags print bare). */
const META = new Set([
  'cookie', 'duration', 'table', 'n_packets', 'n_bytes', 'idle_timeout', 'hard_timeout', 'idle_age', 'hard_age',
  'importance', 'reset_counts', 'send_flow_rem', 'check_overlap', 'no_packet_counts', 'no_byte_counts', 'out_port', 'out_group',
]);
/** Counters and ages: dropped from Flow.text so one flow reads the same in every dump. */
const VOLATILE = new Set(['duration', 'n_packets', 'n_bytes', 'idle_age', 'hard_age']);
const HEADER = /^(OFPST|NXST)_FLOW reply\b/;
const MAC_FIELDS = ['dl_src', 'dl_dst', 'eth_src', 'eth_dst'];
const IP_FIELDS = ['arp_spa', 'arp_tpa', 'nw_src', 'nw_dst', 'ipv6_src', 'ipv6_dst'];
const DEFAULT_PRIORITY = 32768;

class Unparseable extends Error {}

/** A number as ovs-ofctl prints it: decimal, or 0x hex (registers in OF1.3). */
const INTEGER = /^(0x[0-9a-fA-F]+|\d+)$/;
function integer(v: string | undefined): number | undefined {
  return v !== undefined && INTEGER.test(v) ? Number(v) : undefined;
}

/** Split at commas outside parentheses. */
export function splitTopLevel(s: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 40 /* ( */) depth++;
    else if (c === 41 /* ) */) depth--;
    else if (c === 44 /* , */ && depth === 0) {
      out.push(s.slice(start, i));
      start = i + 1;
    }
  }
  out.push(s.slice(start));
  return out.filter((a) => a !== '');
}

/** An exact address (a mask other than a host one means a range: not one port's address). */
function exactAddress(v: string): string | undefined {
  const [addr, mask] = v.split('/');
  if (mask === undefined || mask === '32' || mask === '128' || mask === '255.255.255.255' || mask === 'ff:ff:ff:ff:ff:ff') return addr.toLowerCase();
  return undefined;
}

export function parseFlowLine(line: string): Flow {
  const at = line.indexOf(' actions=');
  const rawActions = at >= 0 ? line.slice(at + 9).trim() : '';
  if (at < 0 || !rawActions) throw new Unparseable(line);
  let head = line.slice(0, at).trim();
  if (head.endsWith(',')) head = head.slice(0, -1);
  let cookie = '0x0';
  let tableText = '0';
  let volatile = false;
  let matchText = '';
  // Fields are ", "-separated, except after a bare flag ("reset_counts importance=7"); none holds a space.
  for (const part of head.split(/,? /)) {
    const eq = part.indexOf('=');
    const key = eq < 0 ? part : part.slice(0, eq);
    if (META.has(key)) {
      if (key === 'cookie') cookie = part.slice(eq + 1).toLowerCase();
      else if (key === 'table') tableText = part.slice(eq + 1);
      else if (VOLATILE.has(key)) volatile = true;
      continue;
    }
    if (matchText) throw new Unparseable(line); // the match is one piece, and the last
    matchText = part;
  }
  const match = new Map<string, string>();
  if (matchText) {
    for (const m of matchText.split(',')) {
      const eq = m.indexOf('=');
      match.set(eq < 0 ? m : m.slice(0, eq), eq < 0 ? '' : m.slice(eq + 1));
    }
  }
  const table = integer(tableText);
  const priority = match.has('priority') ? integer(match.get('priority')) : DEFAULT_PRIORITY;
  if (table === undefined || priority === undefined) throw new Unparseable(line);
  match.delete('priority');

  const actions = rawActions.includes('(') ? splitTopLevel(rawActions) : rawActions.split(',');
  const outputs: number[] = [];
  for (const a of actions) {
    const n = a.startsWith('output:') ? integer(a.slice(7)) : undefined;
    if (n !== undefined) outputs.push(n);
  }
  const flow: Flow = { cookie, table, priority, match, actions, macs: addresses(match, MAC_FIELDS), ips: addresses(match, IP_FIELDS), outputs, text: volatile ? withoutCounters(line, at) : line.trim() };
  const inPort = integer(match.get('in_port'));
  const reg5 = integer(match.get('reg5'));
  if (inPort !== undefined) flow.inPort = inPort;
  if (reg5 !== undefined) flow.reg5 = reg5;
  return flow;
}

function addresses(match: Map<string, string>, fields: string[]): string[] {
  const out: string[] = [];
  for (const f of fields) {
    const v = match.get(f);
    const a = v === undefined ? undefined : exactAddress(v);
    if (a) out.push(a);
  }
  return out;
}

/** The flow as printed minus its counters and ages (only dumps without --no-stats have them). */
function withoutCounters(line: string, actionsAt: number): string {
  const parts = line.slice(0, actionsAt).trim().split(', ');
  const kept = parts.filter((p) => !VOLATILE.has(p.slice(0, p.indexOf('='))));
  return `${kept.join(', ')}${line.slice(actionsAt)}`.trim();
}

/** Every flow of a dump; header lines skipped. Anything else unparseable is a ProbeError naming the command. */
export function parseFlows(stdout: string): Flow[] {
  const flows: Flow[] = [];
  for (const line of stdout.split('\n')) {
    if (line.trim() === '' || HEADER.test(line)) continue;
    try {
      flows.push(parseFlowLine(line));
    } catch (err) {
      if (err instanceof Unparseable) throw new ProbeError(`ovs-ofctl: unparseable flow: ${oneLine(line, 120)}`);
      throw err;
    }
  }
  return flows;
}

/** The tables an action continues in (goto_table:N, resubmit(,N), resubmit(P,N)). */
export function nextTables(flow: Flow): number[] {
  const out: number[] = [];
  for (const a of flow.actions) {
    const m = /^goto_table:(\d+)$/.exec(a) ?? /^resubmit\([^,]*,(\d+)\)$/.exec(a);
    if (m) out.push(Number(m[1]));
  }
  return out;
}
