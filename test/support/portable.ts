/**
 * A copy of the built CLI that any user can run wherever the checkout lies: root's home is mode
 * 0700 on Debian, so a test that runs lm-probe as an unprivileged user (uid 65534) runs this copy,
 * made readable in a directory of its own. Only what the bundle loads at run time is copied: the
 * launcher, dist/, package.json and the two native externals (net-ping, raw-socket).
 */
import { chmodSync, cpSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';

const ROOT = new URL('../../../', import.meta.url).pathname;

export interface PortableBundle {
  dir: string;
  bin: string;
  worker: string;
  remove(): void;
}

function openUp(path: string): void {
  const st = statSync(path);
  chmodSync(path, st.isDirectory() || st.mode & 0o100 ? 0o755 : 0o644);
  if (st.isDirectory()) for (const e of readdirSync(path)) openUp(join(path, e));
}

export function portableBundle(): PortableBundle {
  const dir = mkdtempSync('/tmp/lmp-bundle-');
  for (const part of ['bin', 'dist', 'package.json']) cpSync(join(ROOT, part), join(dir, part), { recursive: true });
  mkdirSync(join(dir, 'node_modules'));
  for (const mod of ['net-ping', 'raw-socket']) cpSync(join(ROOT, 'node_modules', mod), join(dir, 'node_modules', mod), { recursive: true });
  openUp(dir);
  return { dir, bin: join(dir, 'bin', 'lm-probe'), worker: join(dir, 'dist', 'host', 'icmp-worker.js'), remove: () => rmSync(dir, { recursive: true, force: true }) };
}
