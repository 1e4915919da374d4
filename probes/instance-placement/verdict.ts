/**
 * The verdict of instance-placement, as pure functions of the merged inventory and the few
 * facts the probe looked up. Every case names the instance, what each side says, and what
 * operators do about it.
 */
import type { Instance } from '../../src/inventory/types.js';
import { Status, worst, type Finding as InstanceFinding, type Perf, type ProbeOutcome } from '../../src/result.js';

/** What Nova says of a server it does not place here (GET /servers/{id}); absent: not looked up. */
export interface NovaElsewhere {
  /** OS-EXT-SRV-ATTR:host; undefined when Nova has no such server (404). */
  host?: string;
  status?: string;
  taskState?: string | null;
}

/** A Neutron port binding (GET /v2.0/ports/{id}/bindings). */
export interface Binding {
  host: string;
  status: string;
}

export interface PlacementInput {
  host: string;
  instances: Instance[];
  /** libvirt answered (its states can be judged). */
  libvirt: boolean;
  /** libvirt and Nova/Neutron both answered: placement is compared. */
  compared: boolean;
  /** Why placement is not compared, when it is not. */
  notCompared?: string;
  /** Looked-up servers that run here but Nova does not place here, by UUID. */
  elsewhere: Map<string, NovaElsewhere>;
  /** Ports of hosted instances Neutron does not bind here: the host they are bound to ("" = no such port), when looked up. */
  portHosts: Map<string, string>;
  /** Bindings of the ports whose bindings were checked, by port id. */
  bindings: Map<string, Binding[]>;
  /** Since when (epoch s) each instance has been in its migration leftover state. */
  leftoverSince: Record<string, number>;
  /** Seconds of grace left for an instance that arrived here recently (presence). */
  graceLeftS: (uuid: string) => number;
  grace: number;
  nowS: number;
}

export type Case = 'elsewhere' | 'missing' | 'arriving' | 'leftover' | 'port';

export interface Finding {
  kind: Case;
  status: Status;
  line: string;
  /** The instance, and a key that holds across runs and nodes (`lm-probe instance`). */
  uuid: string;
  key: string;
}

/** Nova task states of an instance on its way to this node. */
const ARRIVING_TASKS = new Set(['migrating', 'resize_prep', 'resize_migrating', 'resize_migrated', 'resize_finish', 'spawning', 'scheduling', 'block_device_mapping', 'networking', 'rebuilding', 'rebuild_spawning', 'unshelving', 'rebuild_block_device_mapping']);

/** libvirt's states a migration leaves behind, as `<state>/<reason>` (virsh domstate --reason). */
const LEFTOVER: Record<string, string> = {
  'shutoff/migrated': 'shut off (migrated): the source copy of a finished migration',
  'paused/migrating': 'paused (migrating) by a migration',
  'paused/post-copy': 'paused (post-copy) by a post-copy migration',
  'paused/post-copy failed': 'paused (post-copy failed): the post-copy migration failed',
  'running/post-copy failed': 'running (post-copy failed): the post-copy migration failed',
};

/** Nova places it on `host` (said by Nova this run, not by the cache). */
export const novaPlaces = (i: Instance, host: string): boolean => i.origin.novaHost === 'openstack' && i.novaHost === host;

/** A domain active here (running, paused, idle). */
export const activeDomain = (i: Instance): boolean => i.sources.includes('libvirt') && ['running', 'paused', 'blocked'].includes(i.state);

/** Active here while Nova does not place it here; a domain paused by an incoming migration is expected. */
export const runsUnplaced = (i: Instance, host: string): boolean => activeDomain(i) && !novaPlaces(i, host) && !(i.state === 'paused' && i.stateReason === 'migrating');

/** The leftover condition of an instance, or undefined. An incoming migration is no leftover. */
export function leftoverOf(i: Instance): string | undefined {
  if (!i.sources.includes('libvirt')) return undefined;
  return LEFTOVER[`${i.state}/${i.stateReason ?? ''}`];
}

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;
const who = (i: Pick<Instance, 'uuid' | 'name' | 'displayName'>) => [i.name, i.displayName && `"${i.displayName}"`, `(${i.uuid})`].filter(Boolean).join(' ');
const ago = (s: number) => (s >= 3600 ? `${Math.round(s / 360) / 10} h` : s >= 60 ? `${Math.round(s / 60)} min` : `${Math.round(s)} s`);

function placementFindings(v: PlacementInput): Finding[] {
  const out: Finding[] = [];
  for (const i of v.instances) {
    if (runsUnplaced(i, v.host)) {
      const n = v.elsewhere.get(i.uuid);
      const where = !n ? `Nova does not place it on ${v.host}` : n.host ? `Nova places it on ${n.host} (${n.status ?? '?'}${n.taskState ? `, task ${n.taskState}` : ''})` : 'Nova has no such server';
      const moving = n?.taskState === 'migrating' || v.graceLeftS(i.uuid) > 0;
      const advice = moving ? 'a live migration to here is finishing' : 'find which copy Nova runs before stopping one: two copies corrupt its disk';
      out.push({ kind: 'elsewhere', status: moving ? Status.WARNING : Status.CRITICAL, line: `${who(i)}: ${i.state} here, but ${where} (${advice})`, uuid: i.uuid, key: 'placement-elsewhere' });
    }
    if (novaPlaces(i, v.host) && !i.sources.includes('libvirt')) {
      const arriving = (i.taskState && ARRIVING_TASKS.has(i.taskState)) || i.vmState === 'building';
      const line = `${who(i)}: Nova places it on ${v.host} (${i.novaStatus ?? '?'}${i.taskState ? `, task ${i.taskState}` : ''}), but libvirt has no such domain`;
      const ids = { uuid: i.uuid, key: arriving ? 'placement-arriving' : 'placement-no-domain' };
      out.push(arriving ? { kind: 'arriving', status: Status.OK, line: `${line}: arriving`, ...ids } : { kind: 'missing', status: Status.CRITICAL, line: `${line} (nova reset-state or a rebuild; check the other node for the domain)`, ...ids });
    }
  }
  return out;
}

function leftoverFindings(v: PlacementInput): Finding[] {
  return v.instances.flatMap((i) => {
    const what = leftoverOf(i);
    if (!what) return [];
    const forS = v.nowS - (v.leftoverSince[i.uuid] ?? v.nowS);
    const left = v.grace - forS;
    const remedy = i.state === 'shutoff' ? 'virsh undefine it once the destination runs it' : 'check the migration (domjobinfo) on both nodes';
    const line = `${who(i)}: ${what}, for ${ago(forS)}${left > 0 ? ` [within grace: ${ago(left)} more]` : ''} (${remedy})`;
    return [{ kind: 'leftover' as const, status: left > 0 ? Status.OK : Status.WARNING, line, uuid: i.uuid, key: `domain-leftover ${i.state}/${i.stateReason ?? ''}` }];
  });
}

function portFindings(v: PlacementInput): Finding[] {
  const out: Finding[] = [];
  for (const i of v.instances) {
    if (!activeDomain(i) || !novaPlaces(i, v.host)) continue;
    for (const p of i.ports) {
      if (!p.id) continue;
      if (!p.sources.includes('openstack')) {
        const other = v.portHosts.get(p.id);
        const where = other === undefined ? `not bound to ${v.host} in Neutron` : other === '' ? 'unknown to Neutron' : `bound to ${other} in Neutron, not ${v.host}`;
        out.push({ kind: 'port', status: Status.WARNING, line: `port ${p.id} of ${who(i)}: ${where} (its traffic goes to the old host: nova's post-migration port update failed)`, uuid: i.uuid, key: `port-not-bound-here ${p.id}` });
      }
      const inactive = (v.bindings.get(p.id) ?? []).filter((b) => b.status !== 'ACTIVE');
      for (const b of inactive) {
        out.push({ kind: 'port', status: Status.WARNING, line: `port ${p.id} of ${who(i)}: a second binding to ${b.host} is left, ${b.status} (DELETE /v2.0/ports/${p.id}/bindings/${b.host})`, uuid: i.uuid, key: `port-binding-left ${p.id}` });
      }
    }
  }
  return out;
}

const rank = (f: Finding) => (f.status === Status.CRITICAL ? 0 : f.status === Status.WARNING ? 1 : 2);
const count = (fs: Finding[], kind: Case, atLeast: Status = Status.OK) => fs.filter((f) => f.kind === kind && f.status >= atLeast).length;

export function verdict(v: PlacementInput): ProbeOutcome {
  const findings = [...(v.compared ? [...placementFindings(v), ...portFindings(v)] : []), ...(v.libvirt ? leftoverFindings(v) : [])].sort((a, b) => rank(a) - rank(b));
  const status = worst(...findings.map((f) => f.status));
  const parts = [
    [count(findings, 'elsewhere'), 'running here but not placed here by Nova'],
    [count(findings, 'missing'), 'placed here by Nova without a domain'],
    [count(findings, 'leftover', Status.WARNING), 'left by a migration'],
    [count(findings, 'leftover') - count(findings, 'leftover', Status.WARNING), 'left by a migration, within grace'],
    [count(findings, 'port'), 'port binding problem'],
  ].filter(([n]) => Number(n) > 0).map(([n, what]) => (what === 'port binding problem' ? plural(Number(n), String(what)) : `${n} ${what}`));
  const domains = v.instances.filter((i) => i.sources.includes('libvirt')).length;
  let summary = parts.length ? parts.join(', ') : `${plural(domains, 'domain')}${v.compared ? ' where Nova places them' : ''}, none left by a migration`;
  if (!v.compared) summary += `; placement not compared (${v.notCompared ?? 'no OpenStack source'})`;
  const perfdata: Perf[] = [
    { label: 'domains', value: domains, min: 0 },
    { label: 'elsewhere', value: count(findings, 'elsewhere'), min: 0 },
    { label: 'missing', value: count(findings, 'missing'), min: 0 },
    { label: 'leftover', value: count(findings, 'leftover', Status.WARNING), min: 0 },
    { label: 'ports', value: count(findings, 'port'), min: 0 },
  ];
  const structured = findings.map((f): InstanceFinding => ({ instance: f.uuid, key: f.key, status: f.status, text: f.line }));
  return { status, summary, details: findings.map((f) => f.line), findings: structured, perfdata };
}
