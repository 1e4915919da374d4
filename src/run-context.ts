/**
 * One run's shared context: the config, the trace, the inventory and the presence record, each
 * gathered at most once however many probes ask. The CLI makes one per invocation, the daemon
 * one per tick; nothing outlives the run.
 */
import type { Config } from './config.js';
import { gatherInventory } from './inventory/index.js';
import type { Inventory } from './inventory/types.js';
import type { Logger } from './log.js';
import { loadPresence, type Presence } from './presence.js';
import type { RunShared } from './runner.js';
import { StateStore } from './state.js';

export function createRun(config: Config, log: Logger, opts: { deadline?: number } = {}): RunShared {
  let inventory: Promise<Inventory> | undefined;
  let presence: Promise<{ presence: Presence; problems: string[] }> | undefined;
  const getInventory = () => (inventory ??= gatherInventory(config, { log }));
  return {
    config,
    log,
    deadline: opts.deadline,
    inventory: getInventory,
    presence: () =>
      (presence ??= (async () => {
        const store = new StateStore(config.state_dir, log);
        const p = await loadPresence(store, await getInventory());
        return { presence: p, problems: store.problems };
      })()),
  };
}
