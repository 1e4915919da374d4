/**
 * clouds.yaml and secure.yaml, found and merged the way openstacksdk does (the part lm-probe
 * needs): the first file found in ./, $XDG_CONFIG_HOME/openstack (~/.config/openstack),
 * /etc/openstack wins ($OS_CLIENT_CONFIG_FILE / $OS_CLIENT_SECURE_FILE name one directly), and
 * the secure.yaml entry of the same cloud is merged over the clouds.yaml one, so passwords can
 * live in a stricter file. Errors name the file; they never quote its content (secrets).
 */
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { isMap, LineCounter, parseDocument } from 'yaml';
import { ProbeError, oneLine } from '../../errors.js';

export type Mapping = Record<string, unknown>;

/** The directories searched, in order. */
export function configDirs(env: NodeJS.ProcessEnv, cwd: string): string[] {
  const xdg = env.XDG_CONFIG_HOME || join(env.HOME || homedir(), '.config');
  return [resolve(cwd), join(xdg, 'openstack'), '/etc/openstack'];
}

/** Candidate paths for one kind of file ("clouds" or "secure"), in search order. */
export function candidateFiles(kind: 'clouds' | 'secure', env: NodeJS.ProcessEnv, cwd: string): string[] {
  const explicit = kind === 'clouds' ? env.OS_CLIENT_CONFIG_FILE : env.OS_CLIENT_SECURE_FILE;
  const found = configDirs(env, cwd).flatMap((dir) => [join(dir, `${kind}.yaml`), join(dir, `${kind}.yml`)]);
  return explicit ? [explicit, ...found] : found;
}

/** The file's text, or undefined when it does not exist; other read errors name the file. */
function readIfPresent(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'ENOENT' || e.code === 'ENOTDIR') return undefined;
    throw new ProbeError(`openstack: ${file}: ${oneLine(e.message)}`);
  }
}

/** Parse a clouds.yaml-like document: a mapping with a "clouds" mapping in it. */
export function parseCloudsFile(text: string, file: string): Record<string, Mapping> {
  const lines = new LineCounter();
  // prettyErrors off: the pretty form quotes the offending line, which may hold a password.
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length) {
    const e = doc.errors[0];
    const line = e.linePos?.[0]?.line ?? lines.linePos(e.pos[0]).line;
    throw new ProbeError(`openstack: ${file}:${line}: invalid YAML: ${oneLine(e.message.split('\n')[0], 120)}`);
  }
  if (doc.contents === null) return {};
  if (!isMap(doc.contents)) throw new ProbeError(`openstack: ${file}: expected a mapping with "clouds" in it`);
  const clouds = (doc.toJS() as Mapping).clouds;
  if (clouds === undefined || clouds === null) return {};
  if (!isPlainMapping(clouds)) throw new ProbeError(`openstack: ${file}: "clouds" must be a mapping of cloud names`);
  for (const [name, entry] of Object.entries(clouds)) {
    if (!isPlainMapping(entry)) throw new ProbeError(`openstack: ${file}: cloud "${name}" must be a mapping`);
    if (entry.auth !== undefined && !isPlainMapping(entry.auth)) throw new ProbeError(`openstack: ${file}: cloud "${name}": "auth" must be a mapping`);
  }
  return clouds as Record<string, Mapping>;
}

export const isPlainMapping = (v: unknown): v is Mapping => !!v && typeof v === 'object' && !Array.isArray(v);

/** b over a, recursively for mappings. */
export function deepMerge(a: Mapping, b: Mapping): Mapping {
  const out: Mapping = { ...a };
  for (const [k, v] of Object.entries(b)) out[k] = isPlainMapping(v) && isPlainMapping(a[k]) ? deepMerge(a[k] as Mapping, v) : v;
  return out;
}

export interface CloudEntry {
  entry: Mapping;
  /** The clouds.yaml (or secure.yaml) the entry came from, for messages. */
  file: string;
}

/** Cloud `name` from the first clouds.yaml found, with its secure.yaml entry merged over it. */
export function loadCloud(name: string, env: NodeJS.ProcessEnv, cwd = process.cwd()): CloudEntry {
  const firstFound = (kind: 'clouds' | 'secure') => {
    for (const file of candidateFiles(kind, env, cwd)) {
      const text = readIfPresent(file);
      if (text !== undefined) return { file, clouds: parseCloudsFile(text, file) };
    }
    return undefined;
  };
  const clouds = firstFound('clouds');
  const secure = firstFound('secure');
  const base = clouds?.clouds[name];
  const secret = secure?.clouds[name];
  if (!base && !secret) {
    const where = clouds ? clouds.file : `no clouds.yaml found in ${configDirs(env, cwd).join(', ')}`;
    throw new ProbeError(`openstack: cloud "${name}" not found (${where})`);
  }
  return { entry: deepMerge(base ?? {}, secret ?? {}), file: base ? clouds!.file : secure!.file };
}
