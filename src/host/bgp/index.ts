/**
 * Which BGP daemon runs here, and its view. `auto` takes the first whose control interface is
 * there: bird's socket, then FRR's bgpd.vty, else GoBGP's API (TCP: it can only be tried).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { ProbeError } from '../../errors.js';
import { readBird } from './bird.js';
import { readFrr } from './frr.js';
import { readGobgp } from './gobgp.js';
import type { BgpDaemonName, BgpReadOptions, BgpView } from './types.js';

export type { BgpDaemonName, BgpFamily, BgpSession, BgpView } from './types.js';
export { canonicalAddress, canonicalPrefix, sortPrefixes } from './types.js';

/** vtysh's compiled-in default socket directory (Debian's FRR 8). */
export const FRR_DEFAULT_VTY_DIR = '/var/run/frr';

export interface BgpControl {
  bird_socket: string;
  frr_vty_dir: string;
  gobgp_api: string;
}

const frrVty = (c: BgpControl) => join(c.frr_vty_dir || FRR_DEFAULT_VTY_DIR, 'bgpd.vty');

/** The daemon `auto` picks, and why (for --debug). */
export function detectDaemon(c: BgpControl): { daemon: BgpDaemonName; why: string } {
  if (existsSync(c.bird_socket)) return { daemon: 'bird', why: `bird socket ${c.bird_socket} present` };
  const vty = frrVty(c);
  if (existsSync(vty)) return { daemon: 'frr', why: `FRR ${vty} present` };
  return { daemon: 'gobgp', why: `no bird socket at ${c.bird_socket}, no ${vty}: trying the GoBGP API at ${c.gobgp_api}` };
}

/**
 * `daemon: auto`: the view of the daemon detectDaemon finds. When nothing but GoBGP was left to
 * try and it failed too, the reason says everything that was looked for.
 */
export async function readDetected(c: BgpControl, o: BgpReadOptions, debug: (line: string) => void): Promise<BgpView> {
  const { daemon, why } = detectDaemon(c);
  debug(`daemon: ${daemon} (auto: ${why})`);
  try {
    return await readBgp(daemon, c, o);
  } catch (err) {
    if (daemon !== 'gobgp' || !(err instanceof ProbeError)) throw err;
    throw new ProbeError(`no bird socket, no FRR bgpd.vty, and GoBGP at ${c.gobgp_api}: ${err.message}`); // the paths are in the trace
  }
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
