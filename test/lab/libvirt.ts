/**
 * The lab's libvirt, one of two drivers (LabEnv.kvm says which):
 * - the test driver (default): a node file for `virsh -c test:///<path>`, one domain per lab
 *   instance. The test driver reads the file afresh on every connection and never writes it
 *   back, so each virsh process sees the node exactly as written here. Initial state: the test
 *   driver's own namespace (http://libvirt.org/schemas/domain/test/1.0) has
 *   <test:runstate>N</test:runstate>, N a virDomainState (3 paused, 5 shut off).
 * - KVM (`up --libvirt kvm`, kvm.ts): the node's own libvirtd runs each instance as a real guest.
 * Either way each domain carries the metadata Nova writes (namespace 1.1, incl. nova:ports).
 */
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { LabEnv, LabInstance } from './lab.js';
import type { MigratedAway } from './migrate.js';
import { defineAndStart, domainNames, guestXml, virsh, type KvmNode } from './kvm.js';
import { goneIdentity } from './identity.js';

export type LabDomainState = 'running' | 'paused' | 'shutoff';

/**
 * The fault domain-left-on-source N: the domain of gone instance N (identity.ts goneIdentity,
 * the instance orphan-port N names too), still defined here, shut off, as libvirt leaves it when
 * a migration's source is not undefined. Its name, instance-00ee00NN, is outside the lab's range.
 */
export function leftDomain(n: number): LabInstance {
  const g = goneIdentity(n);
  const name = `instance-${(0xee0000 + n).toString(16).padStart(8, '0')}`;
  return { index: n, uuid: g.uuid, name, portId: g.portId, mac: g.mac, tap: g.tap, ip: g.ip, ns: '', fault: null };
}

/** What of a LabEnv the libvirt side reads. */
type LibvirtEnv = Pick<LabEnv, 'dir' | 'instances'> & { kvm?: KvmNode | null; migratedAway?: MigratedAway[]; leftDomains?: number[] };
const RUNSTATE: Record<LabDomainState, number> = { running: 1, paused: 3, shutoff: 5 };

const NOVA_NS = 'http://openstack.org/xmlns/libvirt/nova/1.1';
const TEST_NS = 'http://libvirt.org/schemas/domain/test/1.0';
/** The project every lab instance belongs to. */
export const LAB_PROJECT = '8f4c1b7e2d9a4c3f9e6b5a4d3c2b1a09';

const esc = (s: string): string =>
  s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[c]!);

export const labDisplayName = (i: Pick<LabInstance, 'index'>): string => `lab-vm-${i.index}`;
export const labDiskPath = (env: Pick<LabEnv, 'dir'>, i: Pick<LabInstance, 'uuid'>): string => join(resolve(env.dir), 'instances', i.uuid, 'disk');

/** The nova:instance element Nova writes into a domain's <metadata>, indented for it. */
function novaMetadata(i: LabInstance, flavor: { name: string; memoryMiB: number; diskGiB: number }): string {
  return `      <nova:instance xmlns:nova="${NOVA_NS}">
        <nova:name>${esc(labDisplayName(i))}</nova:name>
        <nova:flavor name="${flavor.name}">
          <nova:memory>${flavor.memoryMiB}</nova:memory>
          <nova:disk>${flavor.diskGiB}</nova:disk>
          <nova:swap>0</nova:swap>
          <nova:ephemeral>0</nova:ephemeral>
          <nova:vcpus>1</nova:vcpus>
        </nova:flavor>
        <nova:owner>
          <nova:user uuid="0c5e4b2a1f3d4e6a8b9c7d1e2f3a4b5c">lab</nova:user>
          <nova:project uuid="${LAB_PROJECT}">lab</nova:project>
        </nova:owner>
        <nova:ports>
          <nova:port uuid="${i.portId}">
            <nova:ip type="fixed" address="${i.ip}" ipVersion="4"/>
${i.ip6 ? `            <nova:ip type="fixed" address="${i.ip6}" ipVersion="6"/>\n` : ''}          </nova:port>
        </nova:ports>
      </nova:instance>
`;
}

function domainXml(env: Pick<LabEnv, 'dir'>, i: LabInstance, state: LabDomainState): string {
  return `  <domain type='test' xmlns:test='${TEST_NS}'>
    <name>${esc(i.name)}</name>
    <uuid>${i.uuid}</uuid>
    <metadata>
${novaMetadata(i, { name: 'm1.tiny', memoryMiB: 512, diskGiB: 1 })}    </metadata>
    <memory unit='KiB'>524288</memory>
    <vcpu>1</vcpu>
    <os><type>hvm</type></os>
    <devices>
      <disk type='file' device='disk'>
        <driver name='qemu' type='qcow2'/>
        <source file='${esc(labDiskPath(env, i))}'/>
        <target dev='vda' bus='virtio'/>
      </disk>
      <interface type='ethernet'>
        <mac address='${i.mac}'/>
        <target dev='${i.tap}'/>
        <model type='virtio'/>
      </interface>
    </devices>
    <test:runstate>${RUNSTATE[state]}</test:runstate>
  </domain>
`;
}

/**
 * Write <env.dir>/libvirt/node.xml (atomically: a virsh started meanwhile reads the old or the
 * new node, never half of one) and return its URI, test:///<absolute path>.
 * `states` maps an instance index to its initial state; the default is running. Domains an
 * instance left behind when it migrated away (`migratedAway`, leave 'domain') are shut off.
 * Only env.dir and env.instances are read, so a test can pass a hand-made env.
 */
export function writeLibvirtNode(
  env: LibvirtEnv,
  opts: { states?: Record<number, LabDomainState> } = {},
): string {
  const dir = join(resolve(env.dir), 'libvirt');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, 'node.xml');
  const domains = env.instances.map((i) => domainXml(env, i, opts.states?.[i.index] ?? 'running'));
  // `migrate --leave domain` (domain-left-on-source): still defined here, shut off. libvirt would
  // say reason "migrated"; the test driver can only say shut off (reason unknown).
  for (const m of env.migratedAway ?? []) if (m.leave.includes('domain')) domains.push(domainXml(env, m.instance, 'shutoff'));
  for (const n of env.leftDomains ?? []) domains.push(domainXml(env, leftDomain(n), 'shutoff'));
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, `<?xml version="1.0"?>\n<node>\n${domains.join('')}</node>\n`);
  renameSync(tmp, file);
  return `test://${file}`;
}

/** The KVM guest of a lab instance (kvm.ts guestXml with the instance's nova metadata). */
const kvmGuestXml = (i: LabInstance): string => guestXml(esc(i.name), i.uuid, novaMetadata(i, { name: 'm1.nano', memoryMiB: 128, diskGiB: 0 }));

/**
 * Make libvirt serve the lab's instances: the test driver's node file, or, on a KVM node, define
 * and start a guest for each instance its libvirtd does not know yet (domains that migrated in
 * are already there; those a migration left behind stay, shut off) and define (not start) the
 * domain-left-on-source ones. Returns the URI.
 */
export function syncLibvirt(env: LibvirtEnv): string {
  if (!env.kvm) return writeLibvirtNode(env);
  const known = new Set(domainNames(env.kvm));
  const missing = (list: LabInstance[]) => list.filter((i) => !known.has(i.name)).map((i) => ({ name: i.name, xml: kvmGuestXml(i) }));
  defineAndStart(env.kvm, missing(env.instances), missing((env.leftDomains ?? []).map(leftDomain)));
  return env.kvm.uri;
}

/** Heal domain-left-on-source N on a KVM node: undefine it (the test driver's file is just rewritten). */
export function forgetLeftDomain(env: LibvirtEnv, n: number): void {
  if (env.kvm) virsh(env.kvm.uri, ['undefine', leftDomain(n).name]);
}
