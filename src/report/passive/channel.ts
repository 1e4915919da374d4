/** What every passive channel does: send one result, and say whether it got there. */
import type { PassiveResult } from './message.js';

/**
 * `delivered`: the receiver took it. `retry`: not now (down, timeout, 5xx, pipe without reader):
 * spool it. `rejected`: never (bad credentials, unknown service): report it loudly, do not retry.
 */
export type Outcome = { kind: 'delivered'; detail?: string } | { kind: 'retry' | 'rejected'; reason: string };

export interface Channel {
  /** Unique among the configured channels: the spool directory's name. */
  readonly name: string;
  /** Where it sends, for the trace and --json. */
  readonly target: string;
  send(r: PassiveResult, timeoutMs: number): Promise<Outcome>;
}

export const delivered = (detail?: string): Outcome => ({ kind: 'delivered', detail });
export const retry = (reason: string): Outcome => ({ kind: 'retry', reason });
export const rejected = (reason: string): Outcome => ({ kind: 'rejected', reason });
