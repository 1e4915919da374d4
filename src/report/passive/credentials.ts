/**
 * Credentials live in files of their own, never in the config. A file that others may read is
 * refused (its secret may already have leaked): the error names the file and its mode.
 */
import { readFile, stat } from 'node:fs/promises';

export class CredentialError extends Error {}

/** Refuse a file readable or writable by others; returns nothing, throws a one-line reason. */
export async function assertPrivate(path: string, what: string): Promise<void> {
  let mode: number;
  try {
    mode = (await stat(path)).mode;
  } catch (err) {
    throw new CredentialError(`${what} ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  if (mode & 0o006) {
    throw new CredentialError(`${what} ${path} is readable or writable by others (mode ${(mode & 0o777).toString(8).padStart(4, '0')}): refused; chmod o-rwx ${path}`);
  }
}

/** The secret in a private file, without its trailing newline. */
export async function readSecretFile(path: string, what: string): Promise<string> {
  await assertPrivate(path, what);
  const text = (await readFile(path, 'utf8')).replace(/\r?\n$/, '');
  if (!text) throw new CredentialError(`${what} ${path} is empty`);
  return text;
}
