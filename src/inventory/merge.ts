/**
 * Join what each source says into one inventory: instances on UUID, ports on Neutron port id
 * (else tap device, else MAC). Sources come in precedence order: for every field the first
 * source that knows it wins, and `origin` remembers which one that was. Where sources
 * disagree, a finding says so; the merge never decides who is right.
 */
import type { Instance, InstanceField, Port, PortField, SourceInstance, SourceName, SourcePort } from './types.js';

export interface SourceFacts {
  source: SourceName;
  instances: SourceInstance[];
}

const INSTANCE_FIELDS: InstanceField[] = ['name', 'displayName', 'state', 'stateReason', 'novaHost', 'novaStatus', 'vmState', 'taskState', 'novaUpdated', 'flavor', 'project', 'disks'];
const PORT_FIELDS: PortField[] = ['mac', 'tap', 'ips', 'ofport', 'bridge', 'ovsError', 'linkState', 'ifaceStatus', 'status', 'vifType', 'migratingTo'];

/** A fact a source actually gave: an empty list (no IPs known) does not count. */
const known = (v: unknown) => v !== undefined && !(Array.isArray(v) && v.length === 0);

function samePort(a: Port, b: SourcePort): boolean {
  if (a.id && b.id) return a.id === b.id;
  if (a.tap && b.tap) return a.tap === b.tap;
  return Boolean(a.mac && b.mac && a.mac.toLowerCase() === b.mac.toLowerCase());
}

function mergePort(into: Port, from: SourcePort, source: SourceName): void {
  if (!into.id && from.id) into.id = from.id;
  for (const f of PORT_FIELDS) {
    const v = from[f];
    if (into.origin[f] === undefined && known(v)) {
      (into as unknown as Record<string, unknown>)[f] = Array.isArray(v) ? [...v] : v;
      into.origin[f] = source;
    }
  }
  if (!into.sources.includes(source)) into.sources.push(source);
}

function mergeInstance(into: Instance, from: SourceInstance, source: SourceName): void {
  for (const f of INSTANCE_FIELDS) {
    const v = from[f];
    if (into.origin[f] === undefined && known(v)) {
      (into as unknown as Record<string, unknown>)[f] = Array.isArray(v) ? [...v] : v;
      into.origin[f] = source;
    }
  }
  for (const p of from.ports) {
    let port = into.ports.find((q) => samePort(q, p));
    if (!port) {
      port = { id: '', ips: [], sources: [], origin: {} };
      into.ports.push(port);
    }
    mergePort(port, p, source);
  }
  if (!into.sources.includes(source)) into.sources.push(source);
}

export function mergeSources(facts: SourceFacts[]): Instance[] {
  const byUuid = new Map<string, Instance>();
  for (const { source, instances } of facts) {
    for (const si of instances) {
      const uuid = si.uuid.toLowerCase();
      let inst = byUuid.get(uuid);
      if (!inst) {
        inst = { uuid, state: 'unknown', ports: [], sources: [], origin: {} };
        byUuid.set(uuid, inst);
      }
      mergeInstance(inst, si, source);
    }
  }
  return [...byUuid.values()];
}

const label = (i: { uuid: string; name?: string }) => (i.name ? `${i.name} (${i.uuid})` : i.uuid);

/**
 * Disagreements between sources that answered. `answered` lists the sources that worked this
 * run: a source that failed cannot disagree (its silence is reported as degraded instead).
 */
export function findDisagreements(facts: SourceFacts[], merged: Instance[], host: string): string[] {
  const answered = new Set(facts.map((f) => f.source));
  const findings: string[] = [];
  const inSource = (s: SourceName) => new Map((facts.find((f) => f.source === s)?.instances ?? []).map((i) => [i.uuid.toLowerCase(), i]));
  const libvirt = inSource('libvirt');
  const nova = inSource('openstack');
  const ovs = inSource('ovs');

  for (const inst of merged) {
    const n = nova.get(inst.uuid);
    const l = libvirt.get(inst.uuid);
    if (answered.has('libvirt') && answered.has('openstack')) {
      if (n && n.novaHost !== undefined && !l) findings.push(`${label(inst)}: Nova places it on ${host}, but libvirt has no such domain`);
      if (l && !n && l.state === 'running') findings.push(`${label(inst)}: libvirt runs it here, but Nova does not place it on ${host}`);
    }
    if (answered.has('ovs') && answered.has('openstack') && n) {
      for (const p of n.ports) {
        const plugged = ovs.get(inst.uuid)?.ports.some((q) => q.id === p.id);
        if (p.id && !plugged) findings.push(`port ${p.id} of ${label(inst)}: bound to ${host} in Neutron, but no OVS interface`);
      }
    }
    if (answered.has('ovs') && answered.has('libvirt') && ovs.has(inst.uuid) && !l) {
      const taps = ovs.get(inst.uuid)!.ports.map((p) => p.tap).filter(Boolean).join(', ');
      findings.push(`${label(inst)}: OVS has its interface ${taps}, but libvirt has no such domain`);
    }
    for (const port of inst.ports) {
      const winner = port.origin.ips;
      if (!winner) continue;
      const mine = [...port.ips].sort().join(',');
      for (const f of facts) {
        if (f.source === winner) continue;
        const other = f.instances.find((i) => i.uuid.toLowerCase() === inst.uuid)?.ports.find((p) => samePort(port, p));
        if (other?.ips?.length && [...other.ips].sort().join(',') !== mine) {
          findings.push(`port ${port.id || port.tap} of ${label(inst)}: ${winner} says IPs ${port.ips.join(', ')}, ${f.source} says ${other.ips.join(', ')}`);
        }
      }
    }
  }
  return findings;
}
