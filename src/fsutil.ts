/** Small file helpers: results and state are written atomically (temp file + rename). */
import { mkdirSync, writeFileSync, renameSync, openSync, fsyncSync, closeSync, unlinkSync, readFileSync } from 'node:fs';
import { dirname, basename, join } from 'node:path';

/** Write a file so a reader sees either the old content or the new, never a torn one. */
export function writeFileAtomic(path: string, data: string, mode = 0o644): void {
  const dir = dirname(path);
  mkdirSync(dir, { recursive: true });
  const tmp = join(dir, `.${basename(path)}.${process.pid}.tmp`);
  try {
    const fd = openSync(tmp, 'w', mode);
    try {
      writeFileSync(fd, data);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
  } catch (err) {
    try { unlinkSync(tmp); } catch { /* nothing to clean */ }
    throw err;
  }
}

/** Read a JSON file, or return the fallback when it is missing or unreadable. */
export function readJsonOr<T>(path: string, fallback: T): T {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as T;
  } catch {
    return fallback;
  }
}
