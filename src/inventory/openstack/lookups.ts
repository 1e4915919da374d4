/**
 * What instance-placement and migrations ask Nova and Neutron beyond the inventory's two lists.
 * Each call is either one list for the whole node, or a lookup the caller bounds by a count
 * (only for instances already found wrong), never one per hosted instance.
 */
import { ProbeError } from '../../errors.js';
import { isUuid } from '../../host/validate.js';
import type { OpenStackApi } from './api.js';
import { ApiError } from './http.js';
import { collectPages } from './pagination.js';

/** 2.80: os-migrations with changes-since, pagination, uuid, user and project (2.59 and up). */
export const MIGRATIONS_MICROVERSION = '2.80';
export const MIGRATIONS_HEADERS: Record<string, string> = {
  'X-OpenStack-Nova-API-Version': MIGRATIONS_MICROVERSION,
  'OpenStack-API-Version': `compute ${MIGRATIONS_MICROVERSION}`,
};

const obj = (v: unknown): Record<string, unknown> => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {});
const text = (o: Record<string, unknown>, key: string): string | undefined => (typeof o[key] === 'string' ? (o[key] as string) : undefined);
const count = (o: Record<string, unknown>, key: string): number | undefined => (typeof o[key] === 'number' ? (o[key] as number) : undefined);
const notFound = (err: unknown) => err instanceof ApiError && err.status === 404;

/** A server as Nova answers GET /servers/{id}; undefined when Nova has no such server. */
export interface ServerPlace {
  host?: string;
  status?: string;
  taskState?: string | null;
}

export async function serverPlace(api: OpenStackApi, uuid: string): Promise<ServerPlace | undefined> {
  if (!isUuid(uuid)) throw new ProbeError(`openstack: nova: invalid server id ${JSON.stringify(uuid)}`);
  try {
    const s = obj(obj(await api.get('nova', `${api.compute}/servers/${uuid}`, MIGRATIONS_HEADERS)).server);
    const task = s['OS-EXT-STS:task_state'];
    return { host: text(s, 'OS-EXT-SRV-ATTR:host'), status: text(s, 'status'), taskState: typeof task === 'string' ? task : null };
  } catch (err) {
    if (notFound(err)) return undefined;
    throw err;
  }
}

/** binding:host_id of these ports, in one request (Neutron takes the id filter repeated). */
export async function portHosts(api: OpenStackApi, ids: string[]): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  if (ids.length === 0) return out;
  const url = new URL(`${api.network}/ports`);
  for (const id of ids) url.searchParams.append('id', id);
  for (const f of ['id', 'binding:host_id']) url.searchParams.append('fields', f);
  const { items } = await collectPages({ service: 'neutron', first: url, itemsKey: 'ports', linksKey: 'ports_links', get: (u) => api.get('neutron', u) });
  for (const raw of items) {
    const p = obj(raw);
    const id = text(p, 'id');
    if (id) out.set(id, text(p, 'binding:host_id') ?? '');
  }
  return out;
}

export interface PortBinding {
  host: string;
  status: string;
}

/** GET /v2.0/ports/{id}/bindings (the port-bindings extension); undefined where the API lacks it. */
export async function portBindings(api: OpenStackApi, portId: string): Promise<PortBinding[] | undefined> {
  try {
    const list = obj(await api.get('neutron', `${api.network}/ports/${encodeURIComponent(portId)}/bindings`)).bindings;
    if (!Array.isArray(list)) throw new ProbeError('openstack: neutron: unexpected answer (no "bindings" list)');
    return list.map(obj).map((b) => ({ host: text(b, 'host') ?? '?', status: text(b, 'status') ?? '?' }));
  } catch (err) {
    if (notFound(err)) return undefined;
    throw err;
  }
}

/** A Nova migration record (os-migrations, servers/{id}/migrations). */
export interface NovaMigration {
  id: number;
  uuid?: string;
  instance: string;
  status: string;
  type?: string;
  source?: string;
  dest?: string;
  created?: string;
  updated?: string;
  memoryProcessed?: number;
  memoryRemaining?: number;
  memoryTotal?: number;
  diskProcessed?: number;
  diskRemaining?: number;
}

export function mapMigration(raw: unknown): NovaMigration | undefined {
  const m = obj(raw);
  const id = count(m, 'id');
  const instance = text(m, 'instance_uuid') ?? text(m, 'server_uuid');
  const status = text(m, 'status');
  if (id === undefined || !instance || !status) return undefined;
  const out: NovaMigration = { id, instance: instance.toLowerCase(), status };
  const fields: [keyof NovaMigration, string, typeof text | typeof count][] = [
    ['uuid', 'uuid', text], ['type', 'migration_type', text], ['source', 'source_compute', text], ['dest', 'dest_compute', text],
    ['created', 'created_at', text], ['updated', 'updated_at', text],
    ['memoryProcessed', 'memory_processed_bytes', count], ['memoryRemaining', 'memory_remaining_bytes', count], ['memoryTotal', 'memory_total_bytes', count],
    ['diskProcessed', 'disk_processed_bytes', count], ['diskRemaining', 'disk_remaining_bytes', count],
  ];
  for (const [to, from, read] of fields) {
    const v = read(m, from);
    if (v !== undefined) (out as unknown as Record<string, unknown>)[to] = v;
  }
  return out;
}

/** GET /os-migrations?host=<node>&changes-since=<since>: every migration from or to this node since then. */
export async function nodeMigrations(api: OpenStackApi, sinceIso: string): Promise<NovaMigration[]> {
  const url = new URL(`${api.compute}/os-migrations`);
  url.searchParams.set('host', api.node);
  url.searchParams.set('changes-since', sinceIso);
  const { items } = await collectPages({ service: 'nova', first: url, itemsKey: 'migrations', linksKey: 'migrations_links', get: (u) => api.get('nova', u, MIGRATIONS_HEADERS) });
  return items.flatMap((raw) => mapMigration(raw) ?? []);
}

/** GET /servers/{id}/migrations (2.23 and up): the server's live migration in progress, with Nova's progress. */
export async function serverMigrations(api: OpenStackApi, uuid: string): Promise<NovaMigration[]> {
  if (!isUuid(uuid)) throw new ProbeError(`openstack: nova: invalid server id ${JSON.stringify(uuid)}`);
  try {
    const list = obj(await api.get('nova', `${api.compute}/servers/${uuid}/migrations`, MIGRATIONS_HEADERS)).migrations;
    return Array.isArray(list) ? list.flatMap((raw) => mapMigration(raw) ?? []) : [];
  } catch (err) {
    if (notFound(err)) return [];
    throw err;
  }
}
