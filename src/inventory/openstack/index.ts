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
import type { InventorySource, SourceResult } from '../types.js';
import { openStackClient, type OpenStackApi } from './api.js';
import { assembleInstances } from './assemble.js';
import type { OpenStackConfig } from './credentials.js';
import { listPorts } from './neutron.js';
import { listServers, NOVA_HEADERS } from './nova.js';

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
  const client = openStackClient(cfg, host, env, opts);
  const debug = opts.debug ?? (() => {});
  return {
    name: 'openstack',
    configured: () => client.configured(),
    gather: (o) => {
      const started = Date.now();
      return client.use(o, (api) => gather(api, started, debug));
    },
  };
}

async function gather(api: OpenStackApi, started: number, debug: (line: string) => void): Promise<SourceResult> {
  const [nova, neutron] = await Promise.all([
    listServers((url) => api.get('nova', url, NOVA_HEADERS), api.compute, api.node),
    listPorts((url) => api.get('neutron', url), api.network, api.node),
  ]);
  const notes = [...api.notes];
  if (nova.otherHosts) notes.push(`openstack: nova: ${nova.otherHosts} servers of other hosts in the answer, left out (host filter not applied)`);
  if (neutron.otherHosts) notes.push(`openstack: neutron: ${neutron.otherHosts} ports of other hosts in the answer, left out (host filter not applied)`);
  const instances = assembleInstances(nova.instances, neutron.ports);
  debug(`openstack: ${nova.instances.length} servers (${nova.pages} pages), ${neutron.ports.length} instance ports (${neutron.pages} pages), ${instances.length} instances in ${Date.now() - started} ms`);
  return notes.length ? { instances, notes } : { instances };
}
