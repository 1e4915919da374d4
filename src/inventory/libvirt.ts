/**
 * Inventory source "libvirt": every domain defined on the node (virsh, see host/virsh.ts), with
 * what Nova wrote into its metadata. Nova's elements are found by namespace, never by prefix.
 * Ports come from nova:ports (Nova >= 2023.1 writes them) joined with the domain's interfaces
 * by Neutron's tap naming rule; an interface no nova:port claims is still reported, id "".
 */
import { ProbeError, oneLine } from '../errors.js';
import { assertVirshUri, readDomains, type VirshDomain } from '../host/virsh.js';
import { canonicalIp, isInterface, isIpAddress, isMac } from '../host/validate.js';
import { childElement, childElements, parseXml, type XmlElement } from '../xml.js';
import type { InstanceState, InventorySource, SourceInstance, SourcePort } from './types.js';

/** 1.1 adds nova:ports to 1.0; both are still written by the releases in the field. */
export const NOVA_NAMESPACES = ['http://openstack.org/xmlns/libvirt/nova/1.1', 'http://openstack.org/xmlns/libvirt/nova/1.0'];

/** virsh's state words (LC_ALL=C) to ours. */
const STATES: Record<string, InstanceState> = {
  running: 'running',
  idle: 'blocked',
  blocked: 'blocked',
  paused: 'paused',
  'in shutdown': 'shutdown',
  'shut off': 'shutoff',
  crashed: 'crashed',
  pmsuspended: 'pmsuspended',
  'no state': 'unknown',
};

/** Neutron names a port's device "tap" + the first 11 characters of its id. */
export const tapOfPort = (portId: string): string => `tap${portId.slice(0, 11)}`;

interface DomainInterface {
  tap?: string;
  mac?: string;
}

function interfacesOf(devices: XmlElement | undefined, notes: string[], uuid: string): DomainInterface[] {
  return childElements(devices, '', 'interface').map((iface) => {
    const tap = childElement(iface, '', 'target')?.attrs.dev;
    const mac = childElement(iface, '', 'mac')?.attrs.address;
    if (tap !== undefined && !isInterface(tap)) notes.push(`libvirt: ${uuid}: ignored invalid interface name ${JSON.stringify(tap)}`);
    if (mac !== undefined && !isMac(mac)) notes.push(`libvirt: ${uuid}: ignored invalid MAC ${JSON.stringify(mac)}`);
    return { tap: isInterface(tap) ? tap : undefined, mac: isMac(mac) ? mac.toLowerCase() : undefined };
  });
}

function disksOf(devices: XmlElement | undefined): string[] {
  return childElements(devices, '', 'disk').flatMap((disk) => {
    const src = childElement(disk, '', 'source')?.attrs;
    const path = src?.file ?? src?.dev ?? src?.name;
    return path ? [path] : [];
  });
}

/** nova:ports/nova:port, each with its IPs; invalid addresses are noted and left out. */
function novaPortsOf(nova: XmlElement, ns: string, notes: string[], uuid: string): { id: string; ips: string[] }[] {
  return childElements(childElement(nova, ns, 'ports'), ns, 'port').flatMap((port) => {
    const id = port.attrs.uuid;
    if (!id) return [];
    const ips = childElements(port, ns, 'ip').flatMap((ip) => {
      if (isIpAddress(ip.attrs.address)) return [canonicalIp(ip.attrs.address)];
      notes.push(`libvirt: ${uuid}: port ${id}: ignored invalid IP ${JSON.stringify(ip.attrs.address)}`);
      return [];
    });
    return [{ id, ips }];
  });
}

/** Every nova:port (with its interface when one has its tap), then the interfaces left over. */
function joinPorts(novaPorts: { id: string; ips: string[] }[], interfaces: DomainInterface[]): SourcePort[] {
  const unclaimed = new Set(interfaces);
  const ports: SourcePort[] = novaPorts.map(({ id, ips }) => {
    const iface = interfaces.find((i) => i.tap === tapOfPort(id));
    if (!iface) return { id, ips };
    unclaimed.delete(iface);
    return { id, tap: iface.tap, mac: iface.mac, ips };
  });
  for (const i of unclaimed) if (i.tap || i.mac) ports.push({ id: '', tap: i.tap, mac: i.mac, ips: [] });
  return ports;
}

/** One domain as an instance; facts the XML does not hold stay undefined. */
export function domainToInstance(d: VirshDomain, notes: string[] = []): SourceInstance {
  let root: XmlElement;
  try {
    root = parseXml(d.xml);
  } catch (err) {
    throw new ProbeError(`virsh: unparseable output: dumpxml ${d.uuid}: ${oneLine(err)}`);
  }
  if (root.ns !== '' || root.name !== 'domain') throw new ProbeError(`virsh: unparseable output: dumpxml ${d.uuid}: root <${root.name}>`);
  const devices = childElement(root, '', 'devices');
  const interfaces = interfacesOf(devices, notes, d.uuid);
  const inst: SourceInstance = {
    uuid: d.uuid.toLowerCase(),
    name: d.name,
    state: STATES[d.state] ?? 'unknown',
    stateReason: d.reason,
    disks: disksOf(devices),
    ports: joinPorts([], interfaces),
  };
  const metadata = childElement(root, '', 'metadata');
  const nova = metadata?.children.find((c) => c.name === 'instance' && NOVA_NAMESPACES.includes(c.ns));
  if (!nova) return inst;
  const ns = nova.ns;
  const text = (el: XmlElement | undefined) => el?.text.trim() || undefined;
  return {
    ...inst,
    displayName: text(childElement(nova, ns, 'name')),
    flavor: childElement(nova, ns, 'flavor')?.attrs.name,
    project: childElement(childElement(nova, ns, 'owner'), ns, 'project')?.attrs.uuid,
    ports: joinPorts(novaPortsOf(nova, ns, notes, d.uuid), interfaces),
  };
}

export function createLibvirtSource(cfg: { uri: string; allow_remote?: boolean }): InventorySource {
  return {
    name: 'libvirt',
    configured: () => cfg.uri !== '',
    gather: async ({ signal, timeoutMs }) => {
      const { domains, vanished } = await readDomains(assertVirshUri(cfg.uri, cfg.allow_remote), { signal, timeoutMs });
      const notes = vanished.map((v) => `libvirt: domain ${v.name} (${v.uuid}) was undefined while being read`);
      const instances = domains.map((d) => domainToInstance(d, notes));
      return notes.length ? { instances, notes } : { instances };
    },
  };
}
