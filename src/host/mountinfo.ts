/**
 * Which file system a path is on, from /proc/self/mountinfo (proc(5)): one line per mount,
 *   36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue
 *   (1)(2) (3)  (4)   (5)    (6)      (7...)   - (fstype) (source) (super options)
 * Optional fields (7) end at the lone "-". Paths escape space, tab, newline and backslash as
 * octal (\040 ...). Read in-process: no `findmnt`/`stat -f` process.
 */
import { readFile } from 'node:fs/promises';

export interface Mount {
  mountPoint: string;
  fsType: string;
  source: string;
}

/** File systems whose files other compute nodes see too: a directory there may be theirs. */
export const SHARED_FS_TYPES: readonly string[] = [
  'nfs', 'nfs4', 'glusterfs', 'fuse.glusterfs', 'ceph', 'fuse.ceph', 'fuse.ceph-fuse', 'cifs', 'smb3',
  'lustre', 'gpfs', 'ocfs2', 'gfs2', 'beegfs', 'fuse.quobyte', 'quobyte',
];

const unescape = (s: string): string => s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));

/** Parse mountinfo text; throws on a line that is not one. Pure. */
export function parseMountinfo(text: string): Mount[] {
  const mounts: Mount[] = [];
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    const f = line.split(' ');
    const sep = f.indexOf('-', 6);
    if (f.length < 10 || sep < 0 || sep + 2 >= f.length || !/^\d+$/.test(f[0])) throw new Error(`mountinfo: unparseable line: ${line.slice(0, 120)}`);
    mounts.push({ mountPoint: unescape(f[4]), fsType: f[sep + 1], source: unescape(f[sep + 2]) });
  }
  if (mounts.length === 0) throw new Error('mountinfo: no mounts');
  return mounts;
}

/** The mount a (canonical, absolute) path is on: the last-mounted longest prefix. Pure. */
export function mountOf(mounts: Mount[], path: string): Mount | undefined {
  let best: Mount | undefined;
  for (const m of mounts) {
    const mp = m.mountPoint;
    const under = path === mp || mp === '/' || path.startsWith(mp.endsWith('/') ? mp : `${mp}/`);
    // Later lines win at equal length: a mount over a mount hides the one below.
    if (under && (!best || mp.length >= best.mountPoint.length)) best = m;
  }
  return best;
}

export const isSharedFs = (fsType: string): boolean => SHARED_FS_TYPES.includes(fsType);

export async function readMountinfo(file: string): Promise<Mount[]> {
  return parseMountinfo(await readFile(file, 'utf8'));
}
