/**
 * libvirt lifecycle events, as `virsh event --loop --event lifecycle` prints them (one line each,
 * libvirt's tools/virsh-domain-event.c):
 *   event 'lifecycle' for domain 'instance-00000001': Started Migrated
 * A domain arrives by migration with "Started Migrated" (or "Resumed Migrated" at the end of a
 * live migration), and leaves with "Stopped Migrated".
 */
import { watchLines, type Watch } from './exec.js';
import { assertVirshUri } from './virsh.js';

export interface LifecycleEvent { domain: string; event: string; detail: string }
export type MigrationEvent = LifecycleEvent & { direction: 'arrived' | 'left' };

const LINE = /event 'lifecycle' for domain '(.*)': (\S+) (.+)$/;

export function parseLifecycle(line: string): LifecycleEvent | undefined {
  const m = LINE.exec(line.trim());
  return m ? { domain: m[1], event: m[2], detail: m[3].trim() } : undefined;
}

/** Whether the event is a migration's arrival or departure (undefined: any other event). */
export function migrationOf(e: LifecycleEvent): MigrationEvent | undefined {
  if (e.detail !== 'Migrated') return undefined;
  if (e.event === 'Started' || e.event === 'Resumed') return { ...e, direction: 'arrived' };
  if (e.event === 'Stopped') return { ...e, direction: 'left' };
  return undefined;
}

/** One `virsh event --loop` child; each event line goes to `onEvent`, its end to `onExit`. */
export function watchLifecycle(uri: string, onEvent: (e: LifecycleEvent) => void, onExit: (why: string) => void): Promise<Watch> {
  return watchLines('virsh', ['-c', assertVirshUri(uri), 'event', '--loop', '--event', 'lifecycle'], {
    onLine: (line) => {
      const e = parseLifecycle(line);
      if (e) onEvent(e);
    },
    onExit,
  });
}
