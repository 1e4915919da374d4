/**
 * The reaper's guards: why an entry must NOT be moved, checked at the moment of acting (the
 * entry is measured again, its path resolved again). Each returns a reason, or null to pass.
 * A guard that cannot be evaluated (libvirt or Nova did not answer, /proc unreadable) refuses.
 */
import { realpath } from 'node:fs/promises';
import { join } from 'node:path';
import { heldUnder, type OpenFiles } from '../../src/host/open-files.js';
import { underRoot } from '../../src/host/qcow2.js';
import type { Inventory } from '../../src/inventory/types.js';
import type { Departed } from '../../src/presence.js';
import { readEntry, type TreeEntry } from './tree.js';
import { classify, formatAge, isHosted, novaDeleted, novaKnows, resizeInProgress, type HostedView } from './verdict.js';

export interface GuardContext {
  instancesPath: string;
  root: string;
  minAgeS: number;
  shared: boolean;
  view: HostedView;
  inventory: Inventory;
  /** One scan of every /proc/PID/fd for the whole run, or why it could not be made. */
  open: OpenFiles | { error: string };
  nowS: () => number;
  /** Instances that left this node less than min_age ago (the shared presence record). */
  leftRecently: Departed[];
}

const sourceState = (inv: Inventory, name: string) => inv.sources.find((s) => s.source === name);

/** The entry as it is now, if every guard lets it go; else the first reason to leave it. */
export async function checkGuards(g: GuardContext, name: string): Promise<{ entry: TreeEntry } | { refused: string }> {
  // Never Nova's own files, the quarantine or anything not named like an instance dir.
  const c = classify({ name, type: 'dir' });
  if (!('uuid' in c)) return { refused: `not an instance dir (${c.kind === 'nova' ? "Nova's own" : c.kind === 'quarantine' ? "the reaper's quarantine" : 'unexpected name'})` };

  // Never outside instances_path, never through a symlink (lstat: the entry itself must be a real dir).
  const entry = await readEntry(g.instancesPath, g.root, name);
  if (!entry) return { refused: 'gone since the scan' };
  if (entry.type !== 'dir') return { refused: `a ${entry.type}, not a directory${entry.type === 'symlink' ? ' (symlinks are never followed)' : ''}` };
  const base = underRoot(g.root, g.instancesPath);
  const [realBase, realEntry] = await Promise.all([realpath(base), realpath(join(base, name))]).catch(() => ['', '']);
  if (!realBase || realEntry !== join(realBase, name)) return { refused: `resolves outside ${g.instancesPath} (${realEntry || 'unresolvable'})` };

  // Never a directory of a domain libvirt defines here, in any state.
  const libvirt = sourceState(g.inventory, 'libvirt');
  if (libvirt?.state !== 'ok') return { refused: `libvirt did not answer (${libvirt ? libvirt.detail : 'not a configured source'}): cannot tell which domains are defined here` };
  const inst = g.view.byUuid.get(c.uuid);
  if (inst?.sources.includes('libvirt')) return { refused: `libvirt defines ${inst.name ?? c.uuid} on this node (${inst.state})` };
  if (isHosted(g.view, c.uuid)) return { refused: `instance hosted here according to ${inst!.sources.join(', ')}` };

  // Never a finding younger than min_age: a migration or resize may be in flight.
  const ageS = Math.round(g.nowS() - entry.newestMtimeS);
  if (ageS < g.minAgeS) return { refused: `younger than min_age (${formatAge(Math.max(0, ageS))} < ${g.minAgeS} s)` };
  const left = g.leftRecently.find((d) => d.uuid === c.uuid);
  if (left) return { refused: `the instance left this node ${formatAge(Math.round(g.nowS() - left.left))} ago, less than min_age (${g.minAgeS} s)` };

  // With Nova: never while it has a task under way for the instance.
  const nova = sourceState(g.inventory, 'openstack');
  if (nova?.state === 'failed') return { refused: `Nova did not answer (${nova.detail}): cannot tell whether a migration is in progress` };
  if (inst?.taskState) return { refused: `Nova task_state ${inst.taskState}: a migration or resize may be in progress` };
  // A `_resize` dir is what a revert moves back: only when Nova says no resize awaits confirmation.
  if (c.kind === 'resize' && (!novaKnows(inst) || resizeInProgress(inst))) {
    return { refused: novaKnows(inst) ? 'Nova: the resize awaits confirmation (a revert needs this dir)' : 'a _resize dir may await a resize confirmation or revert, and Nova was not compared' };
  }

  // On shared storage only what Nova says is deleted: the dir may be another node's instance.
  if (g.shared && !novaDeleted(inst)) return { refused: 'shared storage, and Nova has not confirmed the instance deleted' };

  // Never a file any process holds open (qemu holds its disks).
  if ('error' in g.open) return { refused: `cannot tell which files are open: ${g.open.error}` };
  if (g.open.unreadable) return { refused: `cannot tell which files are open: /proc of ${g.open.unreadable} processes unreadable` };
  const held = heldUnder(g.open, realEntry) ?? heldUnder(g.open, entry.path);
  if (held) return { refused: `held open by ${held.holder}: ${held.path}` };
  return { entry };
}
