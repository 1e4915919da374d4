/**
 * The Probe contract. A probe checks one thing and returns a ProbeOutcome: it never prints,
 * never exits, never writes result files, never spawns processes itself (it asks src/host/).
 */
import type { Config } from './config.js';
import type { Inventory } from './inventory/types.js';
import type { Logger } from './log.js';
import type { Presence } from './presence.js';
import type { ProbeOutcome } from './result.js';
import type { Infer, ObjectField, Shape } from './schema.js';
import type { StateStore } from './state.js';

export interface ProbeContext<O> {
  /** This probe's config section (`probes.<name>`), validated, with CLI overrides applied. */
  options: O;
  config: Config;
  /** This run's trace: [ DEBUG ] lines in --debug, and all of it in the OCO debug file. */
  log: Logger;
  /** Aborted when the probe's deadline passes; pass it to every host call (it kills their processes). */
  signal: AbortSignal;
  /** Milliseconds left before the deadline. */
  remainingMs(): number;
  /** What is hosted on this node; gathered once per run and shared by every probe. */
  inventory(): Promise<Inventory>;
  /**
   * The shared first-seen / last-seen record of instances on this node (updated once per run
   * from the inventory): grace windows for arrivals and for leftovers of departed instances.
   */
  presence(): Promise<Presence>;
  /** This probe's own small JSON state between runs (state_dir/<probe>/). Problems are reported for you. */
  state: StateStore;
  /**
   * What the probe has learned so far, in case the deadline cuts it: the runner then reports it
   * (CRITICAL stays CRITICAL; anything else becomes UNKNOWN) instead of a bare "timed out".
   */
  partial(outcome: ProbeOutcome): void;
}

export interface Probe<S extends Shape = Shape> {
  name: string;
  /** One line for `lm-probe list`. */
  summary: string;
  /** Keys under `probes.<name>` in the config; `enabled` is added by the core. When the shape
   *  has `warning` and `critical` range keys, -w/-c on `lm-probe <name>` override them. */
  options: S;
  /**
   * The external commands this probe may run (besides the inventory's). The fault matrix
   * (test/faults/) makes each of them missing, failing, garbage-printing and hung in turn.
   */
  tools: readonly string[];
  run(ctx: ProbeContext<Infer<ObjectField<S>>>): Promise<ProbeOutcome>;
}

/** Identity helper that keeps the option types of a probe inferred from its schema. */
export function defineProbe<S extends Shape>(probe: Probe<S>): Probe<S> {
  return probe;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyProbe = Probe<any>;

/** The probes the config does not disable (`probes.<name>.enabled: false`), in their order. */
export function enabledProbes(probes: readonly AnyProbe[], config: Config): AnyProbe[] {
  return probes.filter((p) => config.probes[p.name]?.enabled !== false);
}
