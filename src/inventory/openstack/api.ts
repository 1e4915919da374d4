/**
 * One authenticated conversation with Nova and Neutron: the credentials (resolved once), a token
 * (cached, renewed once on a 401), the endpoints from the catalog, and GET on either service.
 * The inventory source uses it for its two lists; the probes that need more of the APIs
 * (instance-placement, migrations) use the same thing, so there is one way to talk to OpenStack.
 */
import { ProbeError } from '../../errors.js';
import { computeRoot, findEndpoint, networkRoot } from './catalog.js';
import { describeIdentity, resolveCredentials, type Credentials, type OpenStackConfig } from './credentials.js';
import { createHttp } from './http.js';
import { TokenSession } from './session.js';

export interface OpenStackApi {
  /** This node's name in Nova's and Neutron's host filters. */
  node: string;
  /** Nova's root (…/v2.1) and Neutron's (…/v2.0). */
  compute: string;
  network: string;
  /** GET a full URL of Nova or Neutron; the parsed body. A non-2xx answer throws a one-line ProbeError. */
  get(service: 'nova' | 'neutron', url: string, headers?: Record<string, string>): Promise<unknown>;
  /** Not failures, worth a debug line (a token cache that cannot be written). */
  notes: string[];
}

export interface OpenStackClient {
  /** False when no credentials are set up here (the source is then skipped, not degraded). */
  configured(): boolean;
  /** Authenticate and run `use`; every request stops when `signal` aborts or after `timeoutMs`. */
  use<T>(opts: { signal?: AbortSignal; timeoutMs: number }, use: (api: OpenStackApi) => Promise<T>): Promise<T>;
}

export function openStackClient(cfg: OpenStackConfig, host: string, env: NodeJS.ProcessEnv = process.env, opts: { debug?: (line: string) => void; cwd?: string } = {}): OpenStackClient {
  const node = cfg.host.trim() || host;
  const debug = opts.debug ?? (() => {});
  // Resolved once: configured() and use() must agree, and clouds.yaml is read only once.
  let resolved: { creds: Credentials | null } | { error: unknown } | undefined;
  const credentials = () => {
    if (!resolved) {
      try {
        resolved = { creds: resolveCredentials(cfg, env, opts.cwd) };
      } catch (error) {
        resolved = { error };
      }
    }
    return resolved;
  };
  return {
    // A broken clouds.yaml is "configured": use() then says what is wrong with it.
    configured: () => {
      const r = credentials();
      return 'error' in r || r.creds !== null;
    },
    use: async ({ signal, timeoutMs }, use) => {
      const r = credentials();
      if ('error' in r) throw r.error instanceof ProbeError ? r.error : new ProbeError(`openstack: ${String(r.error)}`);
      if (!r.creds) throw new ProbeError('openstack: not configured (no auth_url in the config or clouds.yaml, no OS_AUTH_URL)');
      return withApi(r.creds, cfg, node, { signal, timeoutMs }, debug, use);
    },
  };
}

async function withApi<T>(
  creds: Credentials,
  cfg: OpenStackConfig,
  node: string,
  { signal, timeoutMs }: { signal?: AbortSignal; timeoutMs: number },
  debug: (line: string) => void,
  use: (api: OpenStackApi) => Promise<T>,
): Promise<T> {
  debug(`openstack: credentials from ${creds.origin}: ${describeIdentity(creds)}`);
  // One signal for everything: the caller's, or ours when one request fails and the others
  // running beside it must stop too.
  const stop = new AbortController();
  const http = await createHttp({
    timeoutS: cfg.timeout,
    cacert: creds.cacert,
    insecure: creds.insecure,
    signal: stop.signal,
    deadline: Number.isFinite(timeoutMs) && timeoutMs > 0 ? Date.now() + timeoutMs : undefined,
  });
  const onAbort = () => stop.abort();
  signal?.addEventListener('abort', onAbort, { once: true });
  if (signal?.aborted) stop.abort();
  try {
    const session = new TokenSession(http, creds, cfg.token_cache, debug);
    const { catalog } = await session.token();
    const compute = computeRoot(findEndpoint(catalog, 'compute', creds.interface, creds.region));
    const network = networkRoot(findEndpoint(catalog, 'network', creds.interface, creds.region));
    debug(`openstack: nova at ${compute}, neutron at ${network} (interface ${creds.interface}${creds.region ? `, region ${creds.region}` : ''}), host ${node}`);
    const api: OpenStackApi = {
      node,
      compute,
      network,
      notes: session.notes,
      get: (service, url, headers = {}) =>
        session.authed(async (token) => (await http.send({ service, method: 'GET', url, shownUrl: service === 'nova' ? compute : network, headers: { ...headers, 'X-Auth-Token': token } })).body),
    };
    return await use(api).catch((err: unknown) => {
      stop.abort();
      throw err;
    });
  } finally {
    signal?.removeEventListener('abort', onAbort);
    http.close();
  }
}

/**
 * The client a probe uses for what the inventory does not ask, when the inventory's OpenStack
 * source answered this run; otherwise why not ("no OpenStack source", "openstack failed").
 */
export function probeOpenStack(config: { host: string; inventory: { sources: string[]; openstack: OpenStackConfig } }, sources: { source: string; state: string }[], debug?: (line: string) => void): OpenStackClient | string {
  const st = sources.find((s) => s.source === 'openstack');
  if (!config.inventory.sources.includes('openstack') || !st || st.state === 'skipped') return 'no OpenStack source';
  if (st.state !== 'ok') return 'the OpenStack source failed';
  return openStackClient(config.inventory.openstack, config.host, process.env, { debug });
}
