/**
 * The token of one gather: from the cache file while it is good for 5 more minutes, else from
 * Keystone (and then saved). When Nova or Neutron answers 401 the token is dropped (from the
 * cache too), Keystone is asked again ONCE per gather, and the refused request is retried once
 * with the new token. Requests running side by side share one Keystone request.
 */
import { oneLine } from '../../errors.js';
import type { Credentials } from './credentials.js';
import { ApiError, type Http } from './http.js';
import { authenticate, type Token } from './keystone.js';
import { cacheKey, cacheLabel, forgetToken, readCachedToken, saveToken } from './token-cache.js';

export class TokenSession {
  /** Things worth telling the operator that are not failures (a cache that cannot be written). */
  readonly notes: string[] = [];
  private current?: Promise<Token>;
  private renewal?: Promise<Token>;
  private readonly key: string;
  private readonly label: string;

  constructor(
    private readonly http: Http,
    private readonly creds: Credentials,
    /** "" = no cache. */
    private readonly cachePath: string,
    private readonly debug: (line: string) => void = () => {},
  ) {
    this.key = cacheKey(creds);
    this.label = cacheLabel(creds);
  }

  token(): Promise<Token> {
    return (this.current ??= this.obtain());
  }

  /** Run `call` with the token; on a 401, re-authenticate (once per gather) and run it again once. */
  async authed<T>(call: (tokenId: string) => Promise<T>): Promise<T> {
    const token = await this.token();
    try {
      return await call(token.id);
    } catch (err) {
      if (!(err instanceof ApiError && err.status === 401)) throw err;
      const fresh = await this.renew(token);
      if (!fresh) throw err;
      return call(fresh.id);
    }
  }

  private async obtain(): Promise<Token> {
    if (this.cachePath) {
      const cached = readCachedToken(this.cachePath, this.key);
      if (cached) {
        this.debug(`openstack: token from ${this.cachePath}, expires at ${cached.expiresAt}`);
        return cached;
      }
    }
    return this.fromKeystone();
  }

  private async fromKeystone(): Promise<Token> {
    const token = await authenticate(this.http, this.creds);
    this.debug(`openstack: keystone: new token for ${this.label}, expires at ${token.expiresAt}`);
    if (this.cachePath) {
      try {
        saveToken(this.cachePath, this.key, this.label, token);
      } catch (err) {
        this.notes.push(`openstack: token cache ${this.cachePath} not written: ${oneLine(err)}`);
      }
    }
    return token;
  }

  /** A token to retry with after `refused` got a 401; undefined when the renewed one was refused too. */
  private async renew(refused: Token): Promise<Token | undefined> {
    if (!this.renewal) {
      this.debug('openstack: token refused (401): re-authenticating');
      if (this.cachePath) forgetToken(this.cachePath, this.key);
      this.renewal = this.fromKeystone();
      this.current = this.renewal;
    }
    const fresh = await this.renewal;
    return fresh.id === refused.id ? undefined : fresh;
  }
}
