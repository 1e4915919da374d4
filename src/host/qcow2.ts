/**
 * The backing file of a qcow2 image, read from its header in-process (no qemu-img per disk:
 * `qemu-img info` does not even notice a missing backing file, and a process per disk would not
 * scale). Header layout (qemu docs/interop/qcow2.txt), all big-endian:
 *   0  magic "QFI\xfb"   4  version (2 or 3)
 *   8  backing_file_offset (u64; 0 = no backing file)   16  backing_file_size (u32, < 1024)
 * The name is not NUL-terminated; a relative name is relative to the image's own directory.
 */
import { constants } from 'node:fs';
import { open } from 'node:fs/promises';
import { dirname, isAbsolute, join, resolve } from 'node:path';

const QCOW2_MAGIC = 0x514649fb;
/** qemu refuses longer backing file names. */
const MAX_BACKING_NAME = 1023;
/** Deeper chains are a loop or garbage; qemu itself gives up far earlier in practice. */
export const MAX_CHAIN = 16;

export type Qcow2Header = { qcow2: false } | { qcow2: true; version: number; backing?: { offset: number; size: number } };

/** The fixed part of a header (its first 20 bytes). Pure. */
export function parseQcow2Header(head: Buffer): Qcow2Header {
  if (head.length < 20 || head.readUInt32BE(0) !== QCOW2_MAGIC) return { qcow2: false };
  const version = head.readUInt32BE(4);
  const offset = head.readBigUInt64BE(8);
  const size = head.readUInt32BE(16);
  if (offset === 0n || size === 0) return { qcow2: true, version };
  if (size > MAX_BACKING_NAME || offset > BigInt(Number.MAX_SAFE_INTEGER)) throw new Error(`qcow2 header: implausible backing file name (offset ${offset}, ${size} bytes)`);
  return { qcow2: true, version, backing: { offset: Number(offset), size } };
}

/** The backing file name of the image at `path` (a host path), null when none or not qcow2. */
export async function readBackingName(path: string): Promise<string | null> {
  // O_NONBLOCK: opening a FIFO must not wait for a writer (a blocked pool thread also blocks exit).
  const fh = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
  try {
    const st = await fh.stat();
    if (!st.isFile() && !st.isBlockDevice()) throw new Error(`${path} is not a regular file or block device`);
    const head = Buffer.alloc(20);
    const { bytesRead } = await fh.read(head, 0, 20, 0);
    const h = parseQcow2Header(head.subarray(0, bytesRead));
    if (!h.qcow2 || !h.backing) return null;
    const name = Buffer.alloc(h.backing.size);
    const got = (await fh.read(name, 0, name.length, h.backing.offset)).bytesRead;
    if (got < name.length) throw new Error(`qcow2 header: backing file name cut short (${got} of ${name.length} bytes)`);
    return name.toString('utf8');
  } finally {
    await fh.close();
  }
}

/** A backing name qemu resolves as a protocol or json: spec, not a file: not ours to check. */
export const isProtocolName = (name: string): boolean => name.startsWith('json:') || /^[a-z][a-z0-9+.-]*:/i.test(name);

/**
 * Where a backing name points, as a path on the host: absolute names as they are, relative ones
 * against the directory of the image that names them. Pure.
 */
export function resolveBacking(imageHostPath: string, name: string): string {
  return isAbsolute(name) ? resolve(name) : resolve(dirname(imageHostPath), name);
}

export interface ChainLink { path: string; exists: boolean }
export interface BackingChain {
  /** Every backing file, nearest first (the image itself is not included). */
  links: ChainLink[];
  /** The first backing file that does not exist, if any. */
  missing?: string;
  /** Why the chain could not be followed to its end (unreadable, a loop, too deep). */
  error?: string;
}

/** What one image's header says: its backing name (null: none), or that it is absent or unreadable. */
type HeaderRead = { name: string | null } | { absent: true } | { error: string };

async function readHeader(fsPath: string, hostPath: string): Promise<HeaderRead> {
  try {
    return { name: await readBackingName(fsPath) };
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return { absent: true };
    return { error: code ? `${code} reading ${hostPath}` : (err as Error).message };
  }
}

/**
 * Follow an image's backing chain. `toFs` maps a host path to where it is read (the probe's
 * root); `cache` (by host path) lets one run read a shared base's header once.
 */
export async function backingChain(imageHostPath: string, toFs: (hostPath: string) => string, cache = new Map<string, HeaderRead>()): Promise<BackingChain> {
  const links: ChainLink[] = [];
  let current = imageHostPath;
  for (;;) {
    let h = cache.get(current);
    if (!h) cache.set(current, (h = await readHeader(toFs(current), current)));
    if ('error' in h) return { links, error: h.error };
    if ('absent' in h) {
      // The image itself vanished (deleted meanwhile): no chain to judge. A link: missing.
      if (links.length === 0) return { links };
      links[links.length - 1].exists = false;
      return { links, missing: current };
    }
    if (h.name === null) return { links };
    if (isProtocolName(h.name)) return { links, error: `backing file ${h.name} is not a local file` };
    const next = resolveBacking(current, h.name);
    if (next === imageHostPath || links.some((l) => l.path === next)) return { links, error: `backing chain loops at ${next}` };
    if (links.length >= MAX_CHAIN) return { links, error: `backing chain deeper than ${MAX_CHAIN}` };
    links.push({ path: next, exists: true });
    current = next;
  }
}

export type HeaderCache = Map<string, HeaderRead>;

/** join() that keeps host paths as they are when the root is "/". */
export const underRoot = (root: string, hostPath: string): string => (root === '/' || root === '' ? hostPath : join(root, hostPath));
