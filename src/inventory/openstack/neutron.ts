/**
 * Neutron: the ports bound to this node, GET /v2.0/ports?binding:host_id=<node>. Only instance
 * ports (device_owner compute:<zone>) are kept; they are the source of the instances' IPs.
 */
import { ProbeError } from '../../errors.js';
import { canonicalIp, isInterface, isIpAddress, isMac, isUuid } from '../../host/validate.js';
import type { SourcePort } from '../types.js';
import { withoutUndefined } from './nova.js';
import { collectPages } from './pagination.js';

export function portsUrl(networkRoot: string, host: string): URL {
  const url = new URL(`${networkRoot}/ports`);
  url.searchParams.set('binding:host_id', host);
  return url;
}

export interface NeutronPort {
  /** device_id: the instance the port is plugged into. */
  instanceUuid: string;
  /** binding:host_id, when the answer has it. */
  hostId?: string;
  port: SourcePort;
}

const text = (o: Record<string, unknown>, key: string): string | undefined => (typeof o[key] === 'string' ? (o[key] as string) : undefined);

/** The port as the inventory sees it; undefined for ports that are not an instance's. */
export function mapPort(raw: unknown): NeutronPort | undefined {
  const p = (raw && typeof raw === 'object' ? raw : {}) as Record<string, unknown>;
  const id = text(p, 'id');
  const deviceId = text(p, 'device_id');
  if (!id || !text(p, 'device_owner')?.startsWith('compute:') || !isUuid(deviceId)) return undefined;
  const fixedIps = Array.isArray(p.fixed_ips) ? (p.fixed_ips as unknown[]) : [];
  const ips = fixedIps
    .map((f) => (f && typeof f === 'object' ? (f as Record<string, unknown>).ip_address : undefined))
    .filter(isIpAddress)
    .map(canonicalIp);
  const profile = (p['binding:profile'] && typeof p['binding:profile'] === 'object' ? p['binding:profile'] : {}) as Record<string, unknown>;
  const mac = text(p, 'mac_address');
  // The tap device Nova's libvirt driver creates: "tap" + the first 11 characters of the port id.
  const tap = `tap${id.slice(0, 11)}`;
  return withoutUndefined<NeutronPort>({
    instanceUuid: deviceId.toLowerCase(),
    hostId: text(p, 'binding:host_id'),
    port: withoutUndefined<SourcePort>({
      id,
      mac: isMac(mac) ? mac.toLowerCase() : undefined,
      tap: isInterface(tap) ? tap : undefined,
      ips,
      status: text(p, 'status'),
      vifType: text(p, 'binding:vif_type'),
      migratingTo: text(profile, 'migrating_to'),
    }),
  });
}

export interface NeutronPorts {
  ports: NeutronPort[];
  pages: number;
  /** Ports of other hosts in the answer (a filter Neutron dropped): left out. */
  otherHosts: number;
}

export async function listPorts(get: (url: string) => Promise<unknown>, networkRoot: string, host: string): Promise<NeutronPorts> {
  const { items, pages } = await collectPages({ service: 'neutron', first: portsUrl(networkRoot, host), itemsKey: 'ports', linksKey: 'ports_links', get });
  const ports: NeutronPort[] = [];
  let otherHosts = 0;
  for (const raw of items) {
    const port = mapPort(raw);
    if (!port) continue;
    if (port.hostId === undefined) {
      throw new ProbeError('openstack: neutron: ports come without binding:host_id (the credentials lack the admin role the host filter needs)');
    }
    if (port.hostId !== host) otherHosts++;
    else ports.push(port);
  }
  return { ports, pages, otherHosts };
}
