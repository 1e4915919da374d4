/**
 * A fake OpenStack on 127.0.0.1 (random port) for the openstack inventory source's tests: the
 * parts of the documented Keystone v3, Nova v2.1 and Neutron v2.0 APIs lm-probe calls, with
 * bodies shaped like the api-ref samples (own payloads), configurable faults, and a record of
 * every request it got. It stops by itself in an after() hook of the test (or file) that
 * started it.
 *
 * Layout (one port, one path prefix per interface and region, as a real catalog would have):
 *   Keystone   /identity/v3/auth/tokens
 *   Nova       /<interface>/<region>/compute/v2.1             (internal)
 *              /<interface>/<region>/compute/v2.1/<project>   (public: the legacy form)
 *   Neutron    /<interface>/<region>/network                  (internal: no version, the usual form)
 *              /<interface>/<region>/network/v2.0             (public)
 * Nova's servers_links name another host (osapi_compute_link_prefix), as real deployments
 * behind a proxy do; Neutron's name this one. Only RegionOne holds servers and ports.
 */
import { after } from 'node:test';
import { createServer, type IncomingMessage, type RequestListener, type ServerResponse } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import { createHash, randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { identity } from '../lab/identity.js';

export type FakeService = 'keystone' | 'nova' | 'neutron';

export interface FakeServer {
  id: string;
  name: string;
  instanceName: string;
  host: string;
  status?: string;
  vmState?: string;
  taskState?: string | null;
  flavor?: string;
  tenantId?: string;
  /** Nova's `updated` (ISO 8601); a fixed date in the past by default. */
  updated?: string;
}

export interface FakePort {
  id: string;
  deviceId: string;
  deviceOwner?: string;
  host: string;
  mac: string;
  ips: string[];
  status?: string;
  vifType?: string;
  migratingTo?: string;
  tenantId?: string;
  /** GET /v2.0/ports/{id}/bindings; by default the one ACTIVE binding to `host`. */
  bindings?: { host: string; status: 'ACTIVE' | 'INACTIVE' }[];
}

/** A Nova migration record (os-migrations, servers/{id}/migrations), as in the api-ref samples. */
export interface FakeMigration {
  id: number;
  instanceUuid: string;
  source: string;
  dest: string;
  status: string;
  type?: 'live-migration' | 'migration' | 'resize' | 'evacuation';
  createdAt?: string;
  updatedAt?: string;
  /** Progress of a live migration in progress (servers/{id}/migrations). */
  memory?: { total: number; processed: number; remaining: number };
}

export interface FakeUser {
  name: string;
  password: string;
  domain?: string;
  project: string;
  projectDomain?: string;
}

export interface FakeAppCredential {
  id: string;
  secret: string;
  project: string;
}

export interface FakeOptions {
  users?: FakeUser[];
  appCredentials?: FakeAppCredential[];
  servers?: FakeServer[];
  ports?: FakePort[];
  migrations?: FakeMigration[];
  /** Nova's [api] max_limit: the page size when the client gives no limit. */
  novaMaxLimit?: number;
  /** Neutron's pagination_max_limit; 0 = no pagination unless the client asks. */
  neutronMaxLimit?: number;
  /** Token lifetime, seconds. */
  tokenTtlS?: number;
  /** Serve HTTPS with this key and certificate (PEM). */
  tls?: { key: string; cert: string };
}

export interface FakeFaults {
  /** The next request to this service answers 401 and revokes the token it carried. */
  rejectTokenOnce?: 'nova' | 'neutron';
  /** This service answers 500: an HTML page (a proxy's), or its JSON fault when error500Json. */
  error500?: FakeService;
  error500Json?: boolean;
  /** This service answers only after `ms`. */
  slow?: { service: FakeService; ms: number };
  /** This service answers 200 with a truncated JSON body. */
  malformed?: FakeService;
  /** The catalog lacks this service type. */
  catalogWithout?: 'compute' | 'network';
}

export interface RecordedRequest {
  service: FakeService | 'unknown';
  method: string;
  path: string;
  query: Record<string, string>;
  interface?: string;
  region?: string;
  /** The X-Auth-Token sent, if any. */
  token?: string;
  /** Keystone: the auth methods asked for (never the secrets). */
  authMethods?: string[];
  /** Nova: X-OpenStack-Nova-API-Version. */
  novaVersion?: string;
  /** OpenStack-API-Version (e.g. "compute 2.80"). */
  apiVersion?: string;
  status?: number;
}

export interface FakeOpenStack {
  /** Keystone as a clouds.yaml would name it: http://127.0.0.1:<port>/identity/v3 */
  authUrl: string;
  origin: string;
  requests: RecordedRequest[];
  faults: FakeFaults;
  servers: FakeServer[];
  ports: FakePort[];
  migrations: FakeMigration[];
  /** Requests to one service (optionally: only with this status). */
  count(service: FakeService, status?: number): number;
  /** Forget the recorded requests and clear the faults. */
  reset(): void;
  close(): Promise<void>;
}

export const PROJECT_ID = '8f4c1b7e2d9a4c3f9e6b5a4d3c2b1a09';
export const REGIONS = ['RegionOne', 'RegionTwo'];
export const NOVA_LINK_PREFIX = 'http://nova-api.example.org:8774';

const id32 = (seed: string) => createHash('sha256').update(seed).digest('hex').slice(0, 32);
const iso = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, '.000000Z');

/**
 * Servers 1..n (from `first`) with one port each, with the lab's identities (test/lab/identity.ts),
 * so what the fake Nova and Neutron say matches what the lab's libvirt and OVS say.
 */
export function makeServers(n: number, host: string, first = 1): { servers: FakeServer[]; ports: FakePort[] } {
  const servers: FakeServer[] = [];
  const ports: FakePort[] = [];
  for (let index = first; index < first + n; index++) {
    const i = identity(index);
    servers.push({ id: i.uuid, name: `lab-vm-${index}`, instanceName: i.name, host, flavor: 'm1.tiny', tenantId: PROJECT_ID });
    ports.push({ id: i.portId, deviceId: i.uuid, host, mac: i.mac, ips: [i.ip], tenantId: PROJECT_ID });
  }
  return { servers, ports };
}

export async function startFakeOpenStack(opts: FakeOptions = {}): Promise<FakeOpenStack> {
  const users = opts.users ?? [{ name: 'lm-probe', password: 'correct horse battery staple', project: 'admin' }];
  const appCredentials = opts.appCredentials ?? [];
  const novaMaxLimit = opts.novaMaxLimit ?? 1000;
  const neutronMaxLimit = opts.neutronMaxLimit ?? 0;
  const ttlMs = (opts.tokenTtlS ?? 3600) * 1000;
  const tokens = new Map<string, { expires: number; project: string; revoked: boolean }>();
  const timers = new Set<NodeJS.Timeout>();

  const fake: FakeOpenStack = {
    authUrl: '',
    origin: '',
    requests: [],
    faults: {},
    servers: opts.servers ?? [],
    ports: opts.ports ?? [],
    migrations: opts.migrations ?? [],
    count: (service, status) => fake.requests.filter((r) => r.service === service && (status === undefined || r.status === status)).length,
    reset: () => {
      fake.requests.length = 0;
      fake.faults = {};
    },
    close: async () => {
      for (const t of timers) clearTimeout(t);
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };

  const send = (res: ServerResponse, rec: RecordedRequest, status: number, body: unknown, headers: Record<string, string> = {}) => {
    rec.status = status;
    const text = typeof body === 'string' ? body : JSON.stringify(body);
    res.writeHead(status, { 'Content-Type': typeof body === 'string' ? 'text/html; charset=UTF-8' : 'application/json', 'Content-Length': Buffer.byteLength(text), ...headers });
    res.end(text);
  };
  const unauthorized = { error: { code: 401, title: 'Unauthorized', message: 'The request you have made requires authentication.' } };

  // --- Keystone --------------------------------------------------------------------------------

  const catalog = () => {
    const ep = (type: string, path: (iface: string, region: string) => string) =>
      REGIONS.flatMap((region) => ['public', 'internal'].map((iface) => ({ id: id32(`${type}${iface}${region}`), interface: iface, region_id: region, region, url: `${fake.origin}${path(iface, region)}` })));
    const all = [
      { type: 'identity', name: 'keystone', endpoints: ep('identity', () => '/identity') },
      { type: 'compute', name: 'nova', endpoints: ep('compute', (i, r) => `/${i}/${r}/compute/v2.1${i === 'public' ? `/${PROJECT_ID}` : ''}`) },
      { type: 'network', name: 'neutron', endpoints: ep('network', (i, r) => `/${i}/${r}/network${i === 'public' ? '/v2.0' : ''}`) },
      { type: 'image', name: 'glance', endpoints: ep('image', (i, r) => `/${i}/${r}/image`) },
    ];
    return all.filter((s) => s.type !== fake.faults.catalogWithout).map((s) => ({ ...s, id: id32(s.type) }));
  };

  const keystone = (req: IncomingMessage, res: ServerResponse, rec: RecordedRequest, raw: string) => {
    let body: any;
    try {
      body = JSON.parse(raw);
    } catch {
      return send(res, rec, 400, { error: { code: 400, title: 'Bad Request', message: 'Expecting to find valid JSON in request body.' } });
    }
    const identity = body?.auth?.identity ?? {};
    const methods: string[] = Array.isArray(identity.methods) ? identity.methods : [];
    rec.authMethods = methods;
    let project: string | undefined;
    let user = { id: id32('user'), name: 'lm-probe', domain: 'Default' };
    let appCred: FakeAppCredential | undefined;
    if (methods[0] === 'password') {
      const u = identity.password?.user ?? {};
      const match = users.find((x) => x.name === u.name && (x.domain ?? 'Default') === u.domain?.name && x.password === u.password);
      const scope = body.auth.scope?.project;
      if (!match || !scope || scope.name !== match.project || scope.domain?.name !== (match.projectDomain ?? 'Default')) return send(res, rec, 401, unauthorized);
      project = match.project;
      user = { id: id32(`user${match.name}`), name: match.name, domain: match.domain ?? 'Default' };
    } else if (methods[0] === 'application_credential') {
      const a = identity.application_credential ?? {};
      appCred = appCredentials.find((x) => x.id === a.id && x.secret === a.secret);
      if (!appCred || body.auth.scope) return send(res, rec, 401, unauthorized);
      project = appCred.project;
    } else {
      return send(res, rec, 400, { error: { code: 400, title: 'Bad Request', message: 'Expecting to find identity methods in auth.' } });
    }
    const now = Date.now();
    const token = `gAAAAA${randomBytes(24).toString('base64url')}`;
    tokens.set(token, { expires: now + ttlMs, project, revoked: false });
    send(res, rec, 201, {
      token: {
        methods,
        user: { domain: { id: user.domain.toLowerCase(), name: user.domain }, id: user.id, name: user.name, password_expires_at: null },
        audit_ids: [randomBytes(16).toString('base64url').slice(0, 22)],
        expires_at: iso(now + ttlMs),
        issued_at: iso(now),
        project: { domain: { id: 'default', name: 'Default' }, id: PROJECT_ID, name: project },
        is_domain: false,
        roles: [{ id: id32('admin'), name: 'admin' }, { id: id32('member'), name: 'member' }, { id: id32('reader'), name: 'reader' }],
        ...(appCred ? { application_credential: { id: appCred.id, name: 'lm-probe', restricted: true } } : {}),
        catalog: catalog(),
      },
    }, { 'X-Subject-Token': token, Vary: 'X-Auth-Token' });
  };

  // --- Nova and Neutron ------------------------------------------------------------------------

  /** The token check keystonemiddleware does in front of every service. */
  const authorized = (rec: RecordedRequest, service: 'nova' | 'neutron'): boolean => {
    const t = rec.token ? tokens.get(rec.token) : undefined;
    if (!t || t.revoked || t.expires <= Date.now()) return false;
    if (fake.faults.rejectTokenOnce === service) {
      fake.faults.rejectTokenOnce = undefined;
      t.revoked = true;
      return false;
    }
    return true;
  };

  const serverBody = (s: FakeServer, version: number) => {
    const flavorName = s.flavor ?? 'm1.small';
    const addresses: Record<string, unknown[]> = {};
    for (const p of fake.ports.filter((x) => x.deviceId === s.id)) {
      addresses.private = [...(addresses.private ?? []), ...p.ips.map((addr) => ({ addr, version: addr.includes(':') ? 6 : 4, 'OS-EXT-IPS:type': 'fixed', 'OS-EXT-IPS-MAC:mac_addr': p.mac }))];
    }
    return {
      id: s.id,
      name: s.name,
      status: s.status ?? 'ACTIVE',
      tenant_id: s.tenantId ?? PROJECT_ID,
      user_id: id32('user'),
      metadata: {},
      hostId: createHash('sha224').update(`${PROJECT_ID}${s.host}`).digest('hex'),
      image: { id: '70a599e0-31e7-49b7-b260-868f441e862b', links: [{ rel: 'bookmark', href: `${NOVA_LINK_PREFIX}/images/70a599e0-31e7-49b7-b260-868f441e862b` }] },
      flavor: version >= 2.47
        ? { vcpus: 1, ram: 2048, disk: 20, ephemeral: 0, swap: 0, original_name: flavorName, extra_specs: { 'hw:cpu_policy': 'shared' } }
        : { id: flavorName.replace(/\W/g, ''), links: [{ rel: 'bookmark', href: `${NOVA_LINK_PREFIX}/flavors/1` }] },
      created: '2025-11-03T09:12:44Z',
      updated: s.updated ?? '2025-11-21T08:01:02Z',
      addresses,
      accessIPv4: '',
      accessIPv6: '',
      links: [
        { rel: 'self', href: `${NOVA_LINK_PREFIX}/v2.1/servers/${s.id}` },
        { rel: 'bookmark', href: `${NOVA_LINK_PREFIX}/servers/${s.id}` },
      ],
      'OS-DCF:diskConfig': 'MANUAL',
      progress: 0,
      'OS-EXT-AZ:availability_zone': 'nova',
      config_drive: '',
      key_name: null,
      'OS-SRV-USG:launched_at': '2025-11-03T09:13:01.000000',
      'OS-SRV-USG:terminated_at': null,
      'OS-EXT-SRV-ATTR:host': s.host,
      'OS-EXT-SRV-ATTR:instance_name': s.instanceName,
      'OS-EXT-SRV-ATTR:hypervisor_hostname': `${s.host}.example.org`,
      'OS-EXT-STS:task_state': s.taskState === undefined ? null : s.taskState,
      'OS-EXT-STS:vm_state': s.vmState ?? 'active',
      'OS-EXT-STS:power_state': (s.vmState ?? 'active') === 'active' ? 1 : 4,
      'os-extended-volumes:volumes_attached': [],
      security_groups: [{ name: 'default' }],
      ...(version >= 2.9 ? { locked: false } : {}),
      ...(version >= 2.19 ? { description: null } : {}),
      ...(version >= 2.26 ? { tags: [] } : {}),
      ...(version >= 2.16 ? { host_status: 'UP' } : {}),
    };
  };

  const migrationBody = (m: FakeMigration, version: number, inProgress = false) => ({
    created_at: m.createdAt ?? '2025-11-21T07:58:00.000000',
    dest_compute: m.dest,
    dest_host: '192.0.2.2',
    dest_node: `${m.dest}.example.org`,
    id: m.id,
    ...(inProgress
      ? {
          server_uuid: m.instanceUuid,
          disk_processed_bytes: 0,
          disk_remaining_bytes: 0,
          disk_total_bytes: 0,
          memory_processed_bytes: m.memory?.processed ?? 0,
          memory_remaining_bytes: m.memory?.remaining ?? 0,
          memory_total_bytes: m.memory?.total ?? 0,
        }
      : { instance_uuid: m.instanceUuid, new_instance_type_id: 1, old_instance_type_id: 1, migration_type: m.type ?? 'live-migration' }),
    source_compute: m.source,
    source_node: `${m.source}.example.org`,
    status: m.status,
    updated_at: m.updatedAt ?? '2025-11-21T07:59:00.000000',
    ...(version >= 2.59 ? { uuid: createHash('md5').update(`migration${m.id}`).digest('hex').replace(/^(.{8})(.{4})(.{4})(.{4})/, '$1-$2-$3-$4-') } : {}),
    ...(version >= 2.8 ? { user_id: id32('user'), project_id: PROJECT_ID } : {}),
    ...(!inProgress ? { links: [{ href: `${NOVA_LINK_PREFIX}/v2.1/servers/${m.instanceUuid}/migrations/${m.id}`, rel: 'self' }] } : {}),
  });

  const notFound = (res: ServerResponse, rec: RecordedRequest, what = 'The resource could not be found.') => send(res, rec, 404, { itemNotFound: { code: 404, message: what } });

  const nova = (res: ServerResponse, rec: RecordedRequest, url: URL, subpath: string, version: number) => {
    const one = /^\/servers\/([0-9a-f-]{36})(\/migrations)?$/.exec(subpath);
    if (one) {
      const s = rec.region === REGIONS[0] ? fake.servers.find((x) => x.id === one[1]) : undefined;
      if (!s) return notFound(res, rec, `Instance ${one[1]} could not be found.`);
      if (!one[2]) return send(res, rec, 200, { server: serverBody(s, version) });
      if (version < 2.23) return notFound(res, rec);
      // Only the live migrations in progress, as Nova lists them here.
      const running = fake.migrations.filter((m) => m.instanceUuid === s.id && (m.type ?? 'live-migration') === 'live-migration' && ['queued', 'preparing', 'running'].includes(m.status));
      return send(res, rec, 200, { migrations: running.map((m) => migrationBody(m, version, true)) });
    }
    if (subpath === '/os-migrations') {
      const q = url.searchParams;
      let list = rec.region === REGIONS[0] ? fake.migrations : [];
      if (q.has('host')) list = list.filter((m) => m.source === q.get('host') || m.dest === q.get('host'));
      if (q.has('changes-since')) {
        if (version < 2.59) return send(res, rec, 400, { badRequest: { code: 400, message: "Additional properties are not allowed ('changes-since' was unexpected)" } });
        const since = Date.parse(`${q.get('changes-since')}`);
        // Nova's timestamps are UTC without a zone.
        list = list.filter((m) => Date.parse(`${(m.updatedAt ?? '2025-11-21T07:59:00.000000').replace(/Z$/, '')}Z`) >= since);
      }
      return send(res, rec, 200, { migrations: list.map((m) => migrationBody(m, version)) });
    }
    if (subpath !== '/servers/detail') return notFound(res, rec);
    const q = url.searchParams;
    let list = rec.region === REGIONS[0] ? fake.servers : [];
    // Without all_tenants an admin sees only the servers of its own project, as in Nova.
    if (!['1', 'true', 'True'].includes(q.get('all_tenants') ?? '')) list = list.filter((s) => (s.tenantId ?? PROJECT_ID) === PROJECT_ID);
    if (q.has('host')) list = list.filter((s) => s.host === q.get('host'));
    let start = 0;
    if (q.has('marker')) {
      start = list.findIndex((s) => s.id === q.get('marker')) + 1;
      if (start === 0) return send(res, rec, 400, { badRequest: { code: 400, message: `marker [${q.get('marker')}] not found` } });
    }
    const limit = Math.min(Number(q.get('limit') ?? novaMaxLimit), novaMaxLimit);
    const page = list.slice(start, start + limit);
    const body: Record<string, unknown> = { servers: page.map((s) => serverBody(s, version)) };
    // Nova links the next page whenever a page is full, as Nova does.
    if (page.length === limit) {
      const next = new URLSearchParams(q);
      next.set('limit', String(limit));
      next.set('marker', page[page.length - 1].id);
      body.servers_links = [{ rel: 'next', href: `${NOVA_LINK_PREFIX}/v2.1/servers/detail?${next}` }];
    }
    send(res, rec, 200, body);
  };

  const portBody = (p: FakePort) => ({
    admin_state_up: true,
    allowed_address_pairs: [],
    'binding:host_id': p.host,
    'binding:profile': p.migratingTo ? { migrating_to: p.migratingTo } : {},
    'binding:vif_details': { port_filter: true, connectivity: 'l2', bridge_name: 'br-int', datapath_type: 'system', ovs_hybrid_plug: false },
    'binding:vif_type': p.vifType ?? 'ovs',
    'binding:vnic_type': 'normal',
    created_at: '2025-11-03T09:12:40Z',
    data_plane_status: null,
    description: '',
    device_id: p.deviceId,
    device_owner: p.deviceOwner ?? 'compute:nova',
    dns_assignment: [],
    dns_domain: '',
    dns_name: '',
    extra_dhcp_opts: [],
    fixed_ips: p.ips.map((ip_address) => ({ ip_address, subnet_id: 'b1f0cd8e-3e0b-4f69-a0ae-7b2c1e5d9f30' })),
    id: p.id,
    ip_allocation: 'immediate',
    mac_address: p.mac,
    name: '',
    network_id: '4a1c0e47-5b8e-4f3a-9c2d-6e7f8a9b0c1d',
    port_security_enabled: true,
    project_id: p.tenantId ?? PROJECT_ID,
    qos_policy_id: null,
    revision_number: 7,
    security_groups: ['5e3f1a2b-8c9d-4e0f-a1b2-c3d4e5f6a7b8'],
    status: p.status ?? 'ACTIVE',
    tags: [],
    tenant_id: p.tenantId ?? PROJECT_ID,
    updated_at: '2025-11-21T08:01:00Z',
  });

  const neutronNotFound = (res: ServerResponse, rec: RecordedRequest, message = 'The resource could not be found.') =>
    send(res, rec, 404, { NeutronError: { type: 'HTTPNotFound', message, detail: '' } });

  const neutron = (res: ServerResponse, rec: RecordedRequest, url: URL, subpath: string) => {
    const bindings = /^\/v2\.0\/ports\/([^/]+)\/bindings$/.exec(subpath);
    if (bindings) {
      const p = rec.region === REGIONS[0] ? fake.ports.find((x) => x.id === bindings[1]) : undefined;
      if (!p) return neutronNotFound(res, rec, `Port ${bindings[1]} could not be found.`);
      const list = p.bindings ?? [{ host: p.host, status: 'ACTIVE' }];
      return send(res, rec, 200, {
        bindings: list.map((b) => ({ host: b.host, vif_type: 'ovs', vnic_type: 'normal', profile: {}, vif_details: { port_filter: true, ovs_hybrid_plug: false }, status: b.status })),
      });
    }
    if (subpath !== '/v2.0/ports') return send(res, rec, 404, { NeutronError: { type: 'HTTPNotFound', message: 'The resource could not be found.', detail: '' } });
    const q = url.searchParams;
    let list = rec.region === REGIONS[0] ? fake.ports : [];
    if (q.has('binding:host_id')) list = list.filter((p) => p.host === q.get('binding:host_id'));
    if (q.has('device_id')) list = list.filter((p) => p.deviceId === q.get('device_id'));
    if (q.has('id')) list = list.filter((p) => q.getAll('id').includes(p.id));
    let start = 0;
    if (q.has('marker')) start = list.findIndex((p) => p.id === q.get('marker')) + 1;
    const asked = Number(q.get('limit') ?? 0);
    const limit = neutronMaxLimit > 0 ? Math.min(asked || neutronMaxLimit, neutronMaxLimit) : asked;
    const page = limit > 0 ? list.slice(start, start + limit) : list.slice(start);
    // fields=a&fields=b: only those keys, as Neutron does.
    const fields = q.getAll('fields');
    const shape = (p: FakePort) => {
      const full = portBody(p) as Record<string, unknown>;
      return fields.length ? Object.fromEntries(fields.filter((f) => f in full).map((f) => [f, full[f]])) : full;
    };
    const body: Record<string, unknown> = { ports: page.map(shape) };
    if (limit > 0) {
      const base = `${fake.origin}${url.pathname}`;
      const links = [];
      // Neutron links the next page only when there is one, and the previous one after a marker.
      if (start + page.length < list.length) {
        const next = new URLSearchParams(q);
        next.set('limit', String(limit));
        next.set('marker', page[page.length - 1].id);
        links.push({ rel: 'next', href: `${base}?${next}` });
      }
      if (q.has('marker') && page.length) {
        const prev = new URLSearchParams(q);
        prev.set('marker', page[0].id);
        prev.set('page_reverse', 'True');
        links.push({ rel: 'previous', href: `${base}?${prev}` });
      }
      body.ports_links = links;
    }
    send(res, rec, 200, body);
  };

  // --- dispatch --------------------------------------------------------------------------------

  const SERVICE_PATH = /^\/(internal|public)\/([A-Za-z]+)\/(compute\/v2\.1(?:\/[0-9a-f]{32})?|network)(\/.*)?$/;

  const handler: RequestListener = (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', fake.origin);
      const m = SERVICE_PATH.exec(url.pathname);
      const service: RecordedRequest['service'] = url.pathname.startsWith('/identity/') ? 'keystone' : m ? (m[3] === 'network' ? 'neutron' : 'nova') : 'unknown';
      const rec: RecordedRequest = {
        service,
        method: req.method ?? '',
        path: url.pathname,
        query: Object.fromEntries(url.searchParams),
        ...(m ? { interface: m[1], region: m[2] } : {}),
        ...(typeof req.headers['x-auth-token'] === 'string' ? { token: req.headers['x-auth-token'] } : {}),
        ...(typeof req.headers['x-openstack-nova-api-version'] === 'string' ? { novaVersion: req.headers['x-openstack-nova-api-version'] } : {}),
        ...(typeof req.headers['openstack-api-version'] === 'string' ? { apiVersion: req.headers['openstack-api-version'] } : {}),
      };
      fake.requests.push(rec);

      const answer = () => {
        if (res.destroyed) return;
        const f = fake.faults;
        if (service !== 'unknown' && f.error500 === service) {
          if (f.error500Json) {
            const fault = service === 'nova'
              ? { computeFault: { code: 500, message: 'Unexpected API Error. The database is unreachable.' } }
              : service === 'neutron'
                ? { NeutronError: { type: 'HTTPInternalServerError', message: 'Request Failed: internal server error while processing your request.', detail: '' } }
                : { error: { code: 500, title: 'Internal Server Error', message: 'An unexpected error prevented the server from fulfilling your request.' } };
            return send(res, rec, 500, fault);
          }
          return send(res, rec, 500, '<html><body><h1>500 Internal Server Error</h1>\nAn internal server error occurred.\n</body></html>\n');
        }
        if (service !== 'unknown' && f.malformed === service) {
          rec.status = 200;
          res.writeHead(200, { 'Content-Type': 'application/json' });
          return res.end(service === 'nova' ? '{"servers": [{"id": "8dc7c44c-e491-4139-ac5a-1a06dbe1f53f", "name": ' : '{"ports": [{"id": ');
        }
        if (service === 'keystone') {
          if (req.method === 'POST' && url.pathname === '/identity/v3/auth/tokens') return keystone(req, res, rec, Buffer.concat(chunks).toString('utf8'));
          return send(res, rec, 404, { error: { code: 404, title: 'Not Found', message: 'The resource could not be found.' } });
        }
        if (service === 'unknown' || !m) return send(res, rec, 404, '<html><body><h1>404 Not Found</h1></body></html>\n');
        if (!authorized(rec, service)) return send(res, rec, 401, unauthorized, { 'WWW-Authenticate': `Keystone uri="${fake.origin}/identity"` });
        const subpath = (m[4] ?? '').replace(/\/+$/, '');
        if (service === 'nova') {
          const version = rec.novaVersion === undefined ? 2.1 : Number(rec.novaVersion);
          if (!(version >= 2.1 && version <= 2.96)) return send(res, rec, 406, { computeFault: { code: 406, message: `Version ${rec.novaVersion} is not supported by the API. Minimum is 2.1 and maximum is 2.96.` } });
          return nova(res, rec, url, subpath, version);
        }
        return neutron(res, rec, url, subpath);
      };
      const slow = fake.faults.slow;
      if (slow && slow.service === service) {
        const t = setTimeout(() => {
          timers.delete(t);
          answer();
        }, slow.ms);
        timers.add(t);
      } else {
        answer();
      }
    });
  };
  const server = opts.tls ? createTlsServer(opts.tls, handler) : createServer(handler);

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  server.unref();
  const { port } = server.address() as AddressInfo;
  fake.origin = `${opts.tls ? 'https' : 'http'}://127.0.0.1:${port}`;
  fake.authUrl = `${fake.origin}/identity/v3`;
  after(() => fake.close());
  return fake;
}
