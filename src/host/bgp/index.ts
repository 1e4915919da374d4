/**
 * Which BGP daemon runs here, and its view. `auto` takes the first whose control interface is
 * there: bird's socket, then FRR's bgpd.vty, else GoBGP's API (TCP: it can only be tried).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { readBird } from './bird.js';
import { readFrr } from './frr.js';
import { readGobgp } from './gobgp.js';
import type { BgpDaemonName, BgpReadOptions, BgpView } from './types.js';

export type { BgpDaemonName, BgpFamily, BgpSession, BgpView } from './types.js';

/** vtysh's compiled-in default socket directory (Debian's FRR 8). */
export const FRR_DEFAULT_VTY_DIR = '/var/run/frr';

export interface BgpControl {
  bird_socket: string;
  frr_vty_dir: string;
  gobgp_api: string;
}

/** The daemon `auto` picks, and why (for --debug). */
export function detectDaemon(c: BgpControl): { daemon: BgpDaemonName; why: string } {
  if (existsSync(c.bird_socket)) return { daemon: 'bird', why: `bird socket ${c.bird_socket} present` };
  const vty = join(c.frr_vty_dir || FRR_DEFAULT_VTY_DIR, 'bgpd.vty');
  if (existsSync(vty)) return { daemon: 'frr', why: `FRR ${vty} present` };
  return { daemon: 'gobgp', why: `no bird socket at ${c.bird_socket}, no ${vty}: trying the GoBGP API at ${c.gobgp_api}` };
}

export function readBgp(daemon: BgpDaemonName, c: BgpControl, o: BgpReadOptions): Promise<BgpView> {
  switch (daemon) {
    case 'bird':
      return readBird(c.bird_socket, o);
    case 'frr':
      return readFrr(c.frr_vty_dir, o);
    case 'gobgp':
      return readGobgp(c.gobgp_api, o);
  }
}
