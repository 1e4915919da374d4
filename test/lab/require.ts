/**
 * Gate for tests that need the lab. Skips where the lab cannot run (not root, tools missing,
 * namespaces not permitted), but fails instead when LMP_REQUIRE_LAB=1 (set by test/run.mjs in
 * CI), so a CI machine that silently lost its tools cannot turn the lab tests into skips.
 */
import type { TestContext } from 'node:test';
import { labUnavailableReason } from './netns.js';

export function requireLab(t: TestContext): boolean {
  const reason = labUnavailableReason();
  if (reason === null) return true;
  if (process.env.LMP_REQUIRE_LAB === '1') throw new Error(`lab required (LMP_REQUIRE_LAB=1) but unavailable: ${reason}`);
  t.skip(reason);
  return false;
}
