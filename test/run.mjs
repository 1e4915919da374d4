// Runs every compiled test file with Node's built-in runner (its summary is what CI reads).
// In CI (CI=true) the lab tests are required: a lab test that cannot run fails instead of skipping.
import { readdirSync, existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

const root = new URL('../build/test/', import.meta.url).pathname;
const files = [];
for (const dir of ['unit', 'integration', 'faults']) {
  const d = join(root, dir);
  if (!existsSync(d)) continue;
  for (const f of readdirSync(d).sort()) if (f.endsWith('.test.js')) files.push(join(d, f));
}
const only = process.argv.slice(2);
const selected = only.length ? files.filter((f) => only.some((o) => f.includes(o))) : files;
const env = { ...process.env };
if (env.CI === 'true' || env.CI === '1') env.LMP_REQUIRE_LAB = '1';
const r = spawnSync(process.execPath, ['--test', '--test-reporter=spec', ...selected], { stdio: 'inherit', env });
process.exit(r.status ?? 1);
