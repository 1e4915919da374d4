/**
 * What no probe should be handed: an instance IP that cannot be an instance's (broadcast,
 * multicast, loopback, unspecified, IPv4-mapped, with a zone), one IP claimed by two instances,
 * one UUID listed twice by a source. Each is removed or kept as it should be and said as a
 * problem, which every probe that read the inventory reports (a silent drop once hid an
 * unrouted IP).
 */
import { isIP } from 'node:net';
import type { SourceFacts } from './merge.js';
import type { Instance } from './types.js';

/** Why this address cannot be an instance's, or undefined when it can. */
export function unusableIp(ip: string): string | undefined {
  if (ip.includes('%')) return 'has a zone';
  const family = isIP(ip);
  if (family === 0) return 'not an IP address';
  if (family === 4) {
    const [a, , , d] = ip.split('.').map(Number);
    if (ip === '255.255.255.255') return 'broadcast';
    if (ip === '0.0.0.0' || a === 0) return 'unspecified';
    if (a === 127) return 'loopback';
    if (a >= 224 && a <= 239) return 'multicast';
    if (a >= 240) return 'reserved';
    void d;
    return undefined;
  }
  const lower = ip.toLowerCase();
  if (lower === '::' ) return 'unspecified';
  if (lower === '::1') return 'loopback';
  if (lower.startsWith('ff')) return 'multicast';
  if (/^::ffff:/.test(lower)) return 'IPv4-mapped';
  return undefined;
}

const label = (i: Instance) => (i.name ? `${i.name} (${i.uuid})` : i.uuid);

/** Cleans the merged instances in place; returns one line per problem. */
export function sanitize(instances: Instance[], facts: SourceFacts[]): string[] {
  const problems: string[] = [];
  for (const f of facts) {
    const seen = new Set<string>();
    for (const i of f.instances) {
      const uuid = i.uuid.toLowerCase();
      if (seen.has(uuid)) problems.push(`${f.source} lists instance ${uuid} more than once: its entries were merged`);
      seen.add(uuid);
    }
  }
  const owners = new Map<string, Instance[]>();
  for (const inst of instances) {
    for (const port of inst.ports) {
      port.ips = port.ips.filter((ip) => {
        const why = unusableIp(ip);
        if (why) problems.push(`${label(inst)}: IP ${ip} refused (${why})`);
        return !why;
      });
      for (const ip of port.ips) owners.set(ip, [...(owners.get(ip) ?? []), inst]);
    }
  }
  for (const [ip, insts] of owners) {
    const distinct = [...new Set(insts)];
    if (distinct.length > 1) problems.push(`IP ${ip} is claimed by ${distinct.map(label).join(' and ')}: duplicate IP`);
  }
  return problems;
}
