/**
 * Inventory source "file": a YAML or JSON list of the instances hosted here, for nodes
 * without libvirt metadata or API access. Format (documented in the README):
 *   instances:
 *     - uuid: 8dc7c44c-e491-4139-ac5a-1a06dbe1f53f
 *       name: instance-00000001
 *       state: running            # optional, default running
 *       ports:
 *         - id: 83a59a9f-d268-4b7f-a43e-1f2ff8d2a028
 *           mac: fa:16:3e:1f:00:01
 *           tap: tap83a59a9f-d2
 *           ips: [198.18.1.2]
 * Errors name the file and line, like config errors.
 */
import { readFileSync, statSync } from 'node:fs';

export const MAX_INVENTORY_FILE_BYTES = 4 * 1024 * 1024;
import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Node, type YAMLMap } from 'yaml';
import { ProbeError } from '../errors.js';
import { canonicalIp, isInterface, isIpAddress, isMac, isUuid } from '../host/validate.js';
import type { InstanceState, InventorySource, SourceInstance, SourcePort } from './types.js';

const STATES: InstanceState[] = ['running', 'paused', 'shutoff', 'crashed', 'suspended', 'blocked', 'shutdown', 'pmsuspended', 'unknown'];
const INSTANCE_KEYS = ['uuid', 'name', 'state', 'ports'];
const PORT_KEYS = ['id', 'mac', 'tap', 'ips'];

export function parseInventoryFile(text: string, file: string): SourceInstance[] {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false });
  const at = (n: unknown) => {
    const r = (n as Node | undefined)?.range;
    return r ? `${file}:${lines.linePos(r[0]).line}` : file;
  };
  const fail = (n: unknown, what: string): never => {
    throw new ProbeError(`inventory error: ${at(n)}: ${what}`);
  };
  if (doc.errors.length) {
    const e = doc.errors[0];
    throw new ProbeError(`inventory error: ${file}:${e.linePos?.[0]?.line ?? lines.linePos(e.pos[0]).line}: invalid YAML/JSON: ${e.message.split('\n')[0]}`);
  }
  const root = doc.contents;
  if (!isMap(root)) return fail(root, 'expected a mapping with an "instances" list');
  const list = root.get('instances', true);
  if (list === undefined || (isScalar(list) && list.value === null)) return [];
  if (!isSeq(list)) return fail(list, '"instances" must be a list');

  const text_ = (map: YAMLMap, key: string, check?: (v: string) => boolean, what?: string): string | undefined => {
    const node = map.get(key, true) as Node | undefined;
    if (node === undefined || (isScalar(node) && node.value === null)) return undefined;
    if (!isScalar(node) || typeof node.value !== 'string') return fail(node, `"${key}" must be a string`);
    if (check && !check(node.value)) return fail(node, `"${key}" is not a valid ${what}: ${JSON.stringify(node.value)}`);
    return node.value;
  };
  const noUnknownKeys = (map: YAMLMap, known: string[]) => {
    for (const pair of map.items) {
      const k = isScalar(pair.key) ? String(pair.key.value) : '?';
      if (!known.includes(k)) fail(pair.key, `unknown key "${k}" (known: ${known.join(', ')})`);
    }
  };

  return list.items.map((item): SourceInstance => {
    if (!isMap(item)) return fail(item, 'each instance must be a mapping');
    noUnknownKeys(item, INSTANCE_KEYS);
    const uuid = text_(item, 'uuid', isUuid, 'UUID') ?? fail(item, 'instance without "uuid"');
    const state = (text_(item, 'state', (v) => STATES.includes(v as InstanceState), `state (${STATES.join(', ')})`) ?? 'running') as InstanceState;
    const portsNode = item.get('ports', true);
    const ports: SourcePort[] = [];
    if (portsNode !== undefined && !(isScalar(portsNode) && portsNode.value === null)) {
      if (!isSeq(portsNode)) return fail(portsNode, '"ports" must be a list');
      for (const p of portsNode.items) {
        if (!isMap(p)) fail(p, 'each port must be a mapping');
        const pm = p as YAMLMap;
        noUnknownKeys(pm, PORT_KEYS);
        const ipsNode = pm.get('ips', true);
        const ips: string[] = [];
        if (ipsNode !== undefined) {
          if (!isSeq(ipsNode)) return fail(ipsNode, '"ips" must be a list');
          for (const ipNode of ipsNode.items) {
            const v = isScalar(ipNode) ? ipNode.value : undefined;
            if (!isIpAddress(v)) fail(ipNode, `not an IP address: ${JSON.stringify(v)}`);
            ips.push(canonicalIp(v as string));
          }
        }
        ports.push({
          id: text_(pm, 'id') ?? '',
          mac: text_(pm, 'mac', isMac, 'MAC address')?.toLowerCase(),
          tap: text_(pm, 'tap', isInterface, 'interface name'),
          ips,
        });
      }
    }
    return { uuid: uuid.toLowerCase(), name: text_(item, 'name'), state, ports };
  });
}

export function readInventoryFile(file: string): SourceInstance[] {
  let text: string;
  try {
    // Thousands of instances fit in a few hundred KiB: a huge file is refused before parsing it
    // can block the event loop past the deadline or exhaust memory.
    const size = statSync(file).size;
    if (size > MAX_INVENTORY_FILE_BYTES) throw new ProbeError(`${file} is ${size} bytes, more than an inventory file can be (${MAX_INVENTORY_FILE_BYTES} at most)`);
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if (err instanceof ProbeError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    throw new ProbeError(code === 'ENOENT' ? `${file} not found` : `${file}: ${(err as Error).message}`);
  }
  return parseInventoryFile(text, file);
}

export function createFileSource(file: string): InventorySource {
  return {
    name: 'file',
    configured: () => file !== '',
    gather: async () => ({ instances: readInventoryFile(file) }),
  };
}
