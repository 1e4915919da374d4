/**
 * Nova: the servers Nova places on this node, GET /servers/detail?all_tenants=1&host=<node>
 * (admin only; both filters are silently dropped for other users, which is why every server
 * is checked to carry OS-EXT-SRV-ATTR:host and to be on this node).
 */
import { ProbeError } from '../../errors.js';
import { isUuid } from '../../host/validate.js';
import type { InstanceState, SourceInstance } from '../types.js';
import { collectPages } from './pagination.js';

/** 2.47: the flavor is embedded, with its original_name. */
export const NOVA_MICROVERSION = '2.47';
export const NOVA_HEADERS: Record<string, string> = {
  'X-OpenStack-Nova-API-Version': NOVA_MICROVERSION,
  'OpenStack-API-Version': `compute ${NOVA_MICROVERSION}`,
};

export function serversUrl(computeRoot: string, host: string): URL {
  const url = new URL(`${computeRoot}/servers/detail`);
  url.searchParams.set('all_tenants', '1');
  url.searchParams.set('host', host);
  return url;
}

/** libvirt's state, only where Nova's status and vm_state say it for sure. */
export function instanceState(status: string | undefined, vmState: string | undefined): InstanceState | undefined {
  if (status === 'ACTIVE' && vmState === 'active') return 'running';
  if (status === 'SHUTOFF' || vmState === 'stopped') return 'shutoff';
  if (status === 'PAUSED' && (vmState === undefined || vmState === 'paused')) return 'paused';
  if (status === 'SUSPENDED' && (vmState === undefined || vmState === 'suspended')) return 'suspended';
  return undefined;
}

const text = (o: Record<string, unknown>, key: string): string | undefined => (typeof o[key] === 'string' ? (o[key] as string) : undefined);

/** Drop the keys a source does not know, so "unknown" and "absent" are the same thing. */
export function withoutUndefined<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}

export function mapServer(raw: unknown): SourceInstance {
  const s = (raw && typeof raw === 'object' ? raw : {}) as Record<string, unknown>;
  if (!isUuid(s.id)) throw new ProbeError(`openstack: nova: a server without a valid "id": ${JSON.stringify(s.id ?? null).slice(0, 60)}`);
  const flavor = (s.flavor && typeof s.flavor === 'object' ? s.flavor : {}) as Record<string, unknown>;
  const status = text(s, 'status');
  const vmState = text(s, 'OS-EXT-STS:vm_state');
  const taskState = s['OS-EXT-STS:task_state'];
  return withoutUndefined<SourceInstance>({
    uuid: s.id.toLowerCase(),
    name: text(s, 'OS-EXT-SRV-ATTR:instance_name'),
    displayName: text(s, 'name'),
    state: instanceState(status, vmState),
    novaHost: text(s, 'OS-EXT-SRV-ATTR:host'),
    novaStatus: status,
    vmState,
    taskState: taskState === null ? null : typeof taskState === 'string' ? taskState : undefined,
    novaUpdated: text(s, 'updated'),
    flavor: text(flavor, 'original_name') ?? text(flavor, 'id'),
    project: text(s, 'tenant_id'),
    ports: [],
  });
}

export interface NovaServers {
  instances: SourceInstance[];
  pages: number;
  /** Servers of other hosts in the answer (a filter Nova dropped): left out. */
  otherHosts: number;
}

export async function listServers(get: (url: string) => Promise<unknown>, computeRoot: string, host: string): Promise<NovaServers> {
  const { items, pages } = await collectPages({ service: 'nova', first: serversUrl(computeRoot, host), itemsKey: 'servers', linksKey: 'servers_links', get });
  const instances: SourceInstance[] = [];
  let otherHosts = 0;
  for (const raw of items) {
    const server = mapServer(raw);
    if (server.novaHost === undefined) {
      throw new ProbeError('openstack: nova: servers come without OS-EXT-SRV-ATTR:host (the credentials lack the admin role the host filter needs)');
    }
    if (server.novaHost !== host) otherHosts++;
    else instances.push(server);
  }
  return { instances, pages, otherHosts };
}
