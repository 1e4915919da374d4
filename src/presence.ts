/**
 * One shared record of which instances are on this node and since when: first seen, last
 * seen, and when they left (with the IPs, MACs and ports they had), kept in
 * state_dir/presence.json and updated once per run from the inventory. Every probe's grace
 * window reads it: an instance that arrived less than `grace` s ago (a migration in progress)
 * warns at most, and so do leftovers of an instance that left less than `grace` s ago.
 *
 * The first run knows every instance from before (installing lm-probe on a busy node must not
 * put it all in grace). A corrupt record is said once and rebuilt with every instance counted as
 * just arrived: a lost grace window would turn a migration in progress into a CRITICAL.
 * A degraded inventory (a source failed) never records a departure: not seeing is not leaving.
 */
import type { Inventory } from './inventory/types.js';
import { isRecord, type StateStore } from './state.js';

export interface PresenceEntry {
  /** Epoch seconds when first seen here (0: before lm-probe watched). */
  first: number;
  /** Epoch seconds when last seen here. */
  last: number;
  /** Epoch seconds when it was first missing from a complete inventory; absent while here. */
  left?: number;
  name?: string;
  ips: string[];
  macs: string[];
  ports: string[];
}

export interface PresenceRecord {
  instances: Record<string, PresenceEntry>;
}

export interface Departed extends PresenceEntry {
  uuid: string;
  left: number;
}

/** Departed instances are remembered this long (leftovers are judged within their grace). */
export const KEEP_DEPARTED_S = 7 * 24 * 3600;
const NAME = 'presence';

const nums = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v) && v >= 0;
const strings = (v: unknown): v is string[] => Array.isArray(v) && v.every((x) => typeof x === 'string');

/** The record as read, or undefined when it is not one this code wrote. */
export function guardPresence(v: unknown): PresenceRecord | undefined {
  if (!isRecord(v) || !isRecord(v.instances)) return undefined;
  for (const e of Object.values(v.instances)) {
    if (!isRecord(e) || !nums(e.first) || !nums(e.last) || (e.left !== undefined && !nums(e.left))) return undefined;
    if (!strings(e.ips) || !strings(e.macs) || !strings(e.ports)) return undefined;
  }
  return v as unknown as PresenceRecord;
}

/** The record after this run's inventory: pure, so every rule above is unit-tested. */
export function updatePresence(previous: PresenceRecord | undefined, inv: Pick<Inventory, 'instances' | 'sources'>, nowS: number, corrupt = false): PresenceRecord {
  const complete = !inv.sources.some((s) => s.state === 'failed');
  const out: Record<string, PresenceEntry> = {};
  const before = previous?.instances ?? {};
  // Hosted means a domain (or Nova, or the inventory file) says so: an OVS Interface alone is a
  // leftover of an instance that left, not an instance.
  for (const inst of inv.instances.filter((i) => i.sources.some((s) => s !== 'ovs'))) {
    const old = before[inst.uuid];
    // New here, or back after leaving: grace again. The first run (no record) knows all from before.
    const arrived = old && old.left === undefined ? Math.min(old.first, nowS) : previous || corrupt ? nowS : 0;
    out[inst.uuid] = {
      first: arrived,
      last: nowS,
      ...(inst.name ? { name: inst.name } : {}),
      ips: [...new Set(inst.ports.flatMap((p) => p.ips))],
      macs: [...new Set(inst.ports.flatMap((p) => (p.mac ? [p.mac] : [])))],
      ports: [...new Set(inst.ports.map((p) => p.id).filter(Boolean))],
    };
  }
  for (const [uuid, old] of Object.entries(before)) {
    if (out[uuid]) continue;
    if (old.left === undefined && !complete) {
      out[uuid] = old; // not seen, but a source failed: it may well still be here
      continue;
    }
    const left = Math.min(old.left ?? nowS, nowS);
    if (nowS - left <= KEEP_DEPARTED_S) out[uuid] = { ...old, left };
  }
  return { instances: out };
}

/** What the probes ask of the record. */
export class Presence {
  constructor(readonly record: PresenceRecord, readonly nowS: number) {}

  /** Seconds of grace left for an instance hosted here that arrived recently; 0 when none. */
  graceLeftS(uuid: string, graceS: number): number {
    const e = this.record.instances[uuid];
    if (!e || e.left !== undefined || graceS <= 0 || e.first === 0) return 0;
    return Math.max(0, Math.min(graceS, e.first + graceS - this.nowS));
  }

  /** Instances that left this node less than withinS seconds ago, newest first. */
  departed(withinS: number): Departed[] {
    return Object.entries(this.record.instances)
      .filter(([, e]) => e.left !== undefined && this.nowS - e.left < withinS)
      .map(([uuid, e]) => ({ ...e, uuid, left: e.left! }))
      .sort((a, b) => b.left - a.left);
  }

  /** The instance that had this IP (or MAC, or port id) and left less than withinS ago. */
  leftRecently(key: string, withinS: number): Departed | undefined {
    const newest = this.byAddress().get(key);
    return newest && this.nowS - newest.left < withinS ? newest : undefined;
  }

  /** IP, MAC and port id -> the newest departure that had it; built once: probes ask per orphan. */
  private index?: Map<string, Departed>;
  private byAddress(): Map<string, Departed> {
    if (this.index) return this.index;
    this.index = new Map();
    for (const d of this.departed(Infinity)) {
      for (const key of [...d.ips, ...d.macs, ...d.ports]) if (!this.index.has(key)) this.index.set(key, d);
    }
    return this.index;
  }
}

/** Read, update with this run's inventory, save (a failure is the store's problem to report). */
export async function loadPresence(store: StateStore, inv: Inventory, nowS = Math.floor(Date.now() / 1000)): Promise<Presence> {
  const previous = await store.read(NAME, guardPresence);
  let record = updatePresence(previous, inv, nowS, store.corrupt.has(NAME));
  // Unsaved, a rebuilt record would grant grace again every run (WARNING forever): no grace then.
  if (!(await store.write(NAME, record)) && store.corrupt.has(NAME)) record = updatePresence(previous, inv, nowS, false);
  return new Presence(record, nowS);
}
