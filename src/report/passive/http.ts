/**
 * The HTTP channels' one POST (axios, loaded only when an HTTP channel is used) and how an
 * answer is classified: 2xx delivered, 5xx/408/429 and network errors retried, other 4xx
 * rejected for good (401/403 credentials, 404 unknown object or URL).
 */
import { readFile } from 'node:fs/promises';
import type { Agent } from 'node:https';
import { oneLine } from '../../errors.js';
import { readSecretFile } from './credentials.js';
import { rejected, retry, type Outcome } from './channel.js';

export interface HttpAnswer { status: number; body: string }

export interface TlsOptions { cacert?: string; tlsName?: string; cert?: string; keyFile?: string }

/** An HTTPS agent for the channel's CA bundle, expected name and client certificate (undefined: the defaults). */
export async function tlsAgent(o: TlsOptions): Promise<Agent | undefined> {
  if (!o.cacert && !o.tlsName && !o.cert) return undefined;
  const { Agent: HttpsAgent } = await import('node:https');
  const { checkServerIdentity } = await import('node:tls');
  return new HttpsAgent({
    ca: o.cacert ? await readFile(o.cacert, 'utf8') : undefined,
    cert: o.cert ? await readFile(o.cert, 'utf8') : undefined,
    key: o.keyFile ? await readSecretFile(o.keyFile, 'client key file') : undefined,
    checkServerIdentity: o.tlsName ? (_host, cert) => checkServerIdentity(o.tlsName!, cert) : undefined,
  });
}

/** Basic auth from a user name and a private password file; none without a user name. */
export async function basicAuth(username: string, passwordFile: string, what: string): Promise<{ username: string; password: string } | undefined> {
  if (!username) return undefined;
  return { username, password: passwordFile ? await readSecretFile(passwordFile, what) : '' };
}

/** `base` (with or without a trailing slash) + `path`. */
export const endpoint = (base: string, path: string) => `${base.replace(/\/+$/, '')}${path}`;

/** Made once per channel (one run): the CA bundle is read once, TLS connections are reused. */
export function once<T>(make: () => Promise<T>): () => Promise<T> {
  let made: Promise<T> | undefined;
  return () => (made ??= make());
}

export interface PostOptions {
  headers?: Record<string, string>;
  auth?: { username: string; password: string };
  agent?: Agent;
  timeoutMs: number;
}

/** POST; network failures come back as a `retry` outcome, answers as { status, body }. */
export async function post(url: string, body: string, o: PostOptions): Promise<HttpAnswer | Outcome> {
  const { default: axios } = await import('axios');
  try {
    const res = await axios.post(url, body, {
      headers: o.headers,
      auth: o.auth,
      httpsAgent: o.agent,
      timeout: o.timeoutMs,
      signal: AbortSignal.timeout(o.timeoutMs + 500), // connect and TLS included
      responseType: 'text',
      transformResponse: (x: unknown) => x,
      validateStatus: () => true,
      maxRedirects: 0,
      proxy: false,
    });
    return { status: res.status, body: String(res.data ?? '') };
  } catch (err) {
    const e = err as { code?: string; message?: string };
    const why = e.code === 'ECONNABORTED' || e.code === 'ERR_CANCELED' ? `no answer within ${o.timeoutMs / 1000}s` : `${e.code ? `${e.code}: ` : ''}${oneLine(e.message ?? err)}`;
    return retry(`${url}: ${why}`);
  }
}

export const isOutcome = (x: HttpAnswer | Outcome): x is Outcome => 'kind' in x;

/** The outcome an HTTP status means by itself (2xx: undefined, the channel reads the body). */
export function statusOutcome(a: HttpAnswer, url: string): Outcome | undefined {
  if (a.status >= 200 && a.status < 300) return undefined;
  const why = `${url}: HTTP ${a.status}${a.body ? `: ${oneLine(a.body.replace(/<[^>]*>/g, ' '), 160)}` : ''}`;
  if (a.status >= 500 || a.status === 408 || a.status === 429) return retry(why);
  return rejected(why);
}
