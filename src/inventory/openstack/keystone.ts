/**
 * Keystone v3: POST /v3/auth/tokens with password or application-credential auth. The token is
 * the X-Subject-Token header of the answer; its body carries expires_at and the catalog.
 */
import { ProbeError } from '../../errors.js';
import type { CatalogService } from './catalog.js';
import type { Credentials } from './credentials.js';
import type { Http } from './http.js';

export interface Token {
  /** The secret itself: goes into X-Auth-Token and the cache file, nowhere else. */
  id: string;
  /** ISO 8601, as Keystone wrote it. */
  expiresAt: string;
  catalog: CatalogService[];
}

/** The identity URL with the /v3 Keystone wants (auth_url is often written without it). */
export function keystoneBase(authUrl: string): string {
  const url = authUrl.replace(/\/+$/, '');
  return /\/v3$/.test(url) ? url : `${url}/v3`;
}

/** The request body. Application credentials carry their own project: no scope for them. */
export function authBody(auth: Credentials['auth']): unknown {
  if (auth.method === 'application_credential') {
    return { auth: { identity: { methods: ['application_credential'], application_credential: { id: auth.id, secret: auth.secret } } } };
  }
  const domain = (id?: string, name?: string) => (id ? { id } : { name });
  const user = auth.userId
    ? { id: auth.userId, password: auth.password }
    : { name: auth.username, domain: domain(auth.userDomainId, auth.userDomainName), password: auth.password };
  const project = auth.projectId
    ? { id: auth.projectId }
    : { name: auth.projectName, domain: domain(auth.projectDomainId, auth.projectDomainName) };
  return { auth: { identity: { methods: ['password'], password: { user } }, scope: { project } } };
}

export async function authenticate(http: Http, creds: Credentials): Promise<Token> {
  const base = keystoneBase(creds.authUrl);
  const res = await http.send({ service: 'keystone', method: 'POST', url: `${base}/auth/tokens`, shownUrl: base, body: authBody(creds.auth) });
  return parseTokenResponse(res.headers['x-subject-token'], res.body);
}

export function parseTokenResponse(subjectToken: string | undefined, body: unknown): Token {
  const fail = (what: string): never => {
    throw new ProbeError(`openstack: keystone: ${what}`);
  };
  if (!subjectToken) fail('no X-Subject-Token header in the answer');
  const token = (body as { token?: Record<string, unknown> } | null)?.token;
  if (!token || typeof token !== 'object') return fail('unexpected answer (no "token")');
  const expiresAt = token.expires_at;
  if (typeof expiresAt !== 'string' || Number.isNaN(Date.parse(expiresAt))) fail('unexpected answer (no valid "expires_at")');
  if (!Array.isArray(token.catalog)) fail('the token has no catalog');
  return { id: subjectToken!, expiresAt: expiresAt as string, catalog: token.catalog as CatalogService[] };
}
