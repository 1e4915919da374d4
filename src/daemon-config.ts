/** The `daemon:` section: what `lm-probe daemon` does besides each probe's schedule. */
import { bool, list, num, obj } from './schema.js';

export const daemonSchema = obj({
  after_migration: obj({
    enabled: bool(true, 'follow libvirt lifecycle events (virsh event --loop) and run the probes after a domain arrives or leaves by migration'),
    delays: list(['30', '300'], 'seconds after the event at which the enabled probes run: a first look, then a confirmation'),
  }, 'run every enabled probe right after a live migration, on the destination and on the source'),
  restart_max: num(300, 'seconds between restarts of the event watcher at most (it doubles from 1 s when libvirtd goes away)', { min: 1 }),
}, 'lm-probe daemon: one long-lived process; each probe runs on its `schedule`, results are delivered as passive checks');

/** Checked numbers from daemon.after_migration.delays; throws a one-line reason. */
export function migrationDelays(delays: string[]): number[] {
  return delays.map((d) => {
    const n = Number(d);
    if (!/^\d+(\.\d+)?$/.test(d.trim()) || n > 86_400) throw new Error(`daemon.after_migration.delays: "${d}" is not a number of seconds from 0 to 86400`);
    return n;
  });
}
