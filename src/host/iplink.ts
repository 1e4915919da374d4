/**
 * The kernel's network devices of a namespace, from ONE `ip -j link` process: name, whether it
 * is up, its bridge (master) and its veth peer (link).
 */
import { ProbeError, oneLine } from '../errors.js';
import { ipJson } from './iproute.js';

export interface Link {
  name: string;
  /** Administratively up with a carrier (a tap's operstate is often UNKNOWN: flags decide). */
  up: boolean;
  /** operstate as the kernel says it (UP, DOWN, LOWERLAYERDOWN, UNKNOWN). */
  state: string;
  /** The bridge it is a port of. */
  master?: string;
  /** A veth's peer (when in the same namespace). */
  peer?: string;
}

export function parseLinks(json: string): Map<string, Link> {
  let doc: unknown;
  try {
    doc = JSON.parse(json);
  } catch {
    doc = undefined;
  }
  if (!Array.isArray(doc)) throw new ProbeError(`ip link: unparseable output: ${oneLine(json, 120) || 'empty'}`);
  const links = new Map<string, Link>();
  for (const d of doc as Record<string, unknown>[]) {
    if (typeof d?.ifname !== 'string' || !Array.isArray(d.flags)) throw new ProbeError(`ip link: unparseable entry: ${oneLine(JSON.stringify(d), 120)}`);
    const flags = d.flags as string[];
    const link: Link = {
      name: d.ifname,
      up: flags.includes('UP') && flags.includes('LOWER_UP') && !flags.includes('NO-CARRIER'),
      state: String(d.operstate ?? 'UNKNOWN'),
    };
    if (typeof d.master === 'string') link.master = d.master;
    if (typeof d.link === 'string') link.peer = d.link;
    links.set(link.name, link);
  }
  return links;
}

export async function readLinks(namespace: string, opts: { timeoutMs: number; signal?: AbortSignal }): Promise<Map<string, Link>> {
  return parseLinks(await ipJson(namespace, ['link'], opts));
}
