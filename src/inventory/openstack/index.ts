/**
 * Inventory source "openstack": what Nova and Neutron believe is on this node.
 *
 * Requests per gather, never one per instance:
 *   - 1 POST /v3/auth/tokens, only when the cache has no token good for 5 more minutes;
 *   - the pages of GET /servers/detail?all_tenants=1&host=<node> (Nova pages by its max_limit,
 *     1000 by default: one page on any compute node);
 *   - the pages of GET /v2.0/ports?binding:host_id=<node> (one unless Neutron's
 *     pagination_max_limit is set), run alongside the Nova pages;
 *   - and, when Nova or Neutron refuses the token (401), 1 more POST and 1 retry of that request.
 * So a cron run with a cached token makes 2 requests, and 3 when the token has to be renewed.
 */
import { ProbeError } from '../../errors.js';
import type { InventorySource, SourceResult } from '../types.js';
import { assembleInstances } from './assemble.js';
import { computeRoot, findEndpoint, networkRoot } from './catalog.js';
import { describeIdentity, resolveCredentials, type Credentials, type OpenStackConfig } from './credentials.js';
import { createHttp, type Service } from './http.js';
import { listPorts } from './neutron.js';
import { listServers, NOVA_HEADERS } from './nova.js';
import { TokenSession } from './session.js';

export interface OpenStackSourceOptions {
  /** --debug trace. Never given a password, a secret or a token. */
  debug?: (line: string) => void;
  /** Where "./clouds.yaml" is looked for; the process' working directory by default. */
  cwd?: string;
}

export function createOpenStackSource(
  cfg: OpenStackConfig,
  host: string,
  env: NodeJS.ProcessEnv = process.env,
  opts: OpenStackSourceOptions = {},
): InventorySource {
  const node = cfg.host.trim() || host;
  // Resolved once: configured() and gather() must agree, and clouds.yaml is read only once.
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
    name: 'openstack',
    // A broken clouds.yaml is "configured": gather() then says what is wrong with it.
    configured: () => {
      const r = credentials();
      return 'error' in r || r.creds !== null;
    },
    gather: async ({ signal, timeoutMs }) => {
      const r = credentials();
      if ('error' in r) throw r.error instanceof ProbeError ? r.error : new ProbeError(`openstack: ${String(r.error)}`);
      if (!r.creds) throw new ProbeError('openstack: not configured (no auth_url in the config or clouds.yaml, no OS_AUTH_URL)');
      return gather(r.creds, cfg, node, { signal, timeoutMs }, opts.debug ?? (() => {}));
    },
  };
}

async function gather(
  creds: Credentials,
  cfg: OpenStackConfig,
  node: string,
  { signal, timeoutMs }: { signal?: AbortSignal; timeoutMs: number },
  debug: (line: string) => void,
): Promise<SourceResult> {
  const started = Date.now();
  debug(`openstack: credentials from ${creds.origin}: ${describeIdentity(creds)}`);
  // One signal for everything: the caller's, or ours when Nova or Neutron fails and the other
  // side's requests must stop too.
  const stop = new AbortController();
  const http = await createHttp({
    timeoutS: cfg.timeout,
    cacert: creds.cacert,
    insecure: creds.insecure,
    signal: stop.signal,
    deadline: Number.isFinite(timeoutMs) && timeoutMs > 0 ? started + timeoutMs : undefined,
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

    const getter = (service: Service, root: string, headers: Record<string, string> = {}) => (url: string) =>
      session.authed(async (token) => (await http.send({ service, method: 'GET', url, shownUrl: root, headers: { ...headers, 'X-Auth-Token': token } })).body);
    const [nova, neutron] = await Promise.all([
      listServers(getter('nova', compute, NOVA_HEADERS), compute, node),
      listPorts(getter('neutron', network), network, node),
    ]).catch((err: unknown) => {
      stop.abort();
      throw err;
    });

    const notes = [...session.notes];
    if (nova.otherHosts) notes.push(`openstack: nova: ${nova.otherHosts} servers of other hosts in the answer, left out (host filter not applied)`);
    if (neutron.otherHosts) notes.push(`openstack: neutron: ${neutron.otherHosts} ports of other hosts in the answer, left out (host filter not applied)`);
    const instances = assembleInstances(nova.instances, neutron.ports);
    debug(`openstack: ${nova.instances.length} servers (${nova.pages} pages), ${neutron.ports.length} instance ports (${neutron.pages} pages), ${instances.length} instances in ${Date.now() - started} ms`);
    return notes.length ? { instances, notes } : { instances };
  } finally {
    signal?.removeEventListener('abort', onAbort);
    http.close();
  }
}
