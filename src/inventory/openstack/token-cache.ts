/**
 * Keystone tokens kept between runs: cron runs every minute and a token lives an hour or more,
 * so most runs make no Keystone request at all. One JSON file, mode 0600 (its directory is
 * created 0700), written atomically, one entry per identity. An entry is keyed by a hash of the
 * auth URL, the user or application-credential id, the project and the secret (as keystoneauth
 * does), so changed credentials never pick up a token issued to the old ones; its label says
 * whose it is in plain words, without the secret.
 */
import { chmodSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { dirname } from 'node:path';
import { writeFileAtomicSync as writeFileAtomic } from '../../fsutil.js';
import type { CatalogService } from './catalog.js';
import { describeIdentity, type Credentials } from './credentials.js';
import { keystoneBase, type Token } from './keystone.js';

/** A cached token is used until this long before it expires. */
export const REUSE_MARGIN_MS = 5 * 60_000;

interface CacheEntry {
  label: string;
  token: string;
  expires_at: string;
  catalog: CatalogService[];
}
interface CacheFile {
  version: 1;
  tokens: Record<string, CacheEntry>;
}

export function cacheKey(creds: Credentials): string {
  return createHash('sha256').update(JSON.stringify([keystoneBase(creds.authUrl), creds.auth])).digest('hex');
}

export function cacheLabel(creds: Credentials): string {
  return `${keystoneBase(creds.authUrl)} ${describeIdentity(creds)}`;
}

export const stillUsable = (expiresAt: string, now: number): boolean => Date.parse(expiresAt) - now > REUSE_MARGIN_MS;

/**
 * The cache as it is on disk; empty when missing, unreadable, or not safe to trust: a file
 * others could write might point our token at an endpoint of their choosing.
 */
function load(path: string): CacheFile {
  const empty: CacheFile = { version: 1, tokens: {} };
  try {
    const st = statSync(path);
    if ((st.mode & 0o022) !== 0 || (process.getuid && st.uid !== process.getuid())) return empty;
    const parsed = JSON.parse(readFileSync(path, 'utf8')) as CacheFile;
    return parsed && parsed.version === 1 && parsed.tokens && typeof parsed.tokens === 'object' ? parsed : empty;
  } catch {
    return empty;
  }
}

function store(path: string, cache: CacheFile): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  writeFileAtomic(path, `${JSON.stringify(cache)}\n`, 0o600);
  // A leftover temp file of the same name would have kept its old mode through open().
  chmodSync(path, 0o600);
}

export function readCachedToken(path: string, key: string, now = Date.now()): Token | undefined {
  const entry = load(path).tokens[key];
  if (!entry || typeof entry.token !== 'string' || typeof entry.expires_at !== 'string' || !Array.isArray(entry.catalog)) return undefined;
  if (!stillUsable(entry.expires_at, now)) return undefined;
  return { id: entry.token, expiresAt: entry.expires_at, catalog: entry.catalog };
}

/** Save a token (and drop expired entries). Throws on I/O errors: the caller decides. */
export function saveToken(path: string, key: string, label: string, token: Token, now = Date.now()): void {
  const cache = load(path);
  for (const [k, e] of Object.entries(cache.tokens)) if (!(Date.parse(e?.expires_at) > now)) delete cache.tokens[k];
  cache.tokens[key] = { label, token: token.id, expires_at: token.expiresAt, catalog: token.catalog };
  store(path, cache);
}

/** Forget a token Nova or Neutron refused. Best effort: a stale entry only costs one 401. */
export function forgetToken(path: string, key: string): void {
  try {
    const cache = load(path);
    if (!(key in cache.tokens)) return;
    delete cache.tokens[key];
    store(path, cache);
  } catch { /* see above */ }
}
