/**
 * Gate for tests that need the lab. Skips where the lab cannot run (not root, tools missing,
 * namespaces not permitted), but fails instead when LMP_REQUIRE_LAB=1 (set by test/run.mjs in
 * CI), so a CI machine that silently lost its tools cannot turn the lab tests into skips.
 */
import type { TestContext } from 'node:test';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { labUnavailableReason } from './netns.js';

export function requireLab(t: TestContext): boolean {
  return requirePart(t, 'lab', labUnavailableReason());
}

/**
 * The same gate for one part of the lab (`reason`: why it cannot run here, or null): true when
 * it can; else the test skips, or throws under LMP_REQUIRE_LAB=1.
 */
export function requirePart(t: TestContext, what: string, reason: string | null): boolean {
  if (reason === null) return true;
  if (process.env.LMP_REQUIRE_LAB === '1') throw new Error(`${what} required (LMP_REQUIRE_LAB=1) but unavailable: ${reason}`);
  t.skip(reason);
  return false;
}

/** A writer of real outputs into the dir named by env variable `envVar` (no-op when unset): how fixtures are recorded. */
export function fixtureRecorder(envVar: string): (name: string, text: string) => void {
  const dir = process.env[envVar];
  return (name, text) => {
    if (!dir) return;
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, name), text);
  };
}
