/**
 * First-seen times of instances on this node, so a freshly arrived instance (a migration in
 * progress, a boot) only warns while its network settles. Kept in state_dir/first-seen.json.
 * On the very first run every instance counts as known from before: installing lm-probe on a
 * busy node must not put all of it in grace.
 */
export interface FirstSeen {
  instances: Record<string, number>; // uuid -> epoch seconds (0 = before lm-probe started watching)
}

export function updateFirstSeen(previous: FirstSeen | undefined, uuids: string[], nowS: number): FirstSeen {
  const seen: Record<string, number> = {};
  for (const uuid of uuids) {
    seen[uuid] = previous ? (previous.instances[uuid] ?? nowS) : 0;
  }
  // Instances that left are forgotten: one that comes back (migrated back) gets grace again.
  return { instances: seen };
}

export function graceLeftS(seen: FirstSeen, uuid: string, graceS: number, nowS: number): number {
  const first = seen.instances[uuid];
  if (first === undefined || graceS <= 0) return 0;
  return Math.max(0, first + graceS - nowS);
}
