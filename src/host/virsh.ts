/**
 * Every domain defined on the node, read with virsh in a constant number of processes:
 *   1. virsh -c URI -q list --all --uuid --name                      (who is defined)
 *   2. virsh -c URI 'echo M;domstate --reason U;echo M;dumpxml U;...;echo END'
 * The second is one batch for all domains; the `echo` marker lines (with a random nonce, so
 * no domain XML can forge one) let its concatenated output be split per command. It runs
 * without -q: in quiet mode virsh's echo prints no newline, so markers would not be lines.
 * Only a node with more domains than fit in one argument (~800, Linux caps one argv string
 * at 128 KiB) gets a further batch process per ~800 domains.
 */
import { randomBytes } from 'node:crypto';
import { ProbeError, oneLine } from '../errors.js';
import { run, type ExecResult } from './exec.js';
import { assertUuid, isUuid } from './validate.js';

export interface DomainRef {
  uuid: string;
  name: string;
}

export interface VirshDomain extends DomainRef {
  /** virsh's word for the state: "running", "shut off", "idle", "in shutdown", ... */
  state: string;
  /** virsh's reason: "booted", "migrated", "unknown", ... */
  reason?: string;
  /** `virsh dumpxml` output (the live definition of a running domain). */
  xml: string;
}

export interface DomainsRead {
  domains: VirshDomain[];
  /** Listed, then gone before the batch read them (undefined after a migration, say). */
  vanished: DomainRef[];
}

/** A libvirt connection URI: scheme://rest, from a safe charset; never an option. */
const VIRSH_URI = /^[a-z][a-z0-9+.-]*:\/\/[A-Za-z0-9._~:@/?&=%+,-]*$/;
/** One batch argument stays under Linux's 128 KiB limit on a single argv string. */
const MAX_BATCH_CHARS = 120_000;

/**
 * Only the transports a compute node uses: qemu:///system (and qemu+unix with a socket path) and
 * test:/// for the lab; qemu+tls/qemu+tcp to a host only when the operator allows remote URIs.
 * No parameter but `socket`: libvirt's `command`, `netcat`, `proxy`, `keyfile` (ext, ssh) would
 * make virsh run a program of the URI's choosing.
 */
export function assertVirshUri(uri: string, allowRemote = false): string {
  const bad = (why: string) => new ProbeError(`invalid libvirt URI ${JSON.stringify(uri)}: ${why}`);
  if (!VIRSH_URI.test(uri)) throw bad('unexpected characters');
  let u: URL;
  try {
    u = new URL(uri);
  } catch {
    throw bad('not a URI');
  }
  const scheme = u.protocol.slice(0, -1);
  const local = ['qemu', 'qemu+unix', 'test'];
  const remote = ['qemu+tls', 'qemu+tcp'];
  if (remote.includes(scheme) && !allowRemote) throw bad(`${scheme} needs inventory.libvirt.allow_remote: true`);
  if (!local.includes(scheme) && !remote.includes(scheme)) throw bad(`transport ${scheme} is not allowed (qemu, qemu+unix, test; qemu+tls, qemu+tcp with allow_remote)`);
  if (local.includes(scheme) && u.host) throw bad('a local transport takes no host');
  for (const key of u.searchParams.keys()) {
    if (!(key === 'socket' && scheme === 'qemu+unix')) throw bad(`parameter ${key} is not allowed`);
  }
  if (scheme !== 'test' && !['/system', '/session'].includes(u.pathname)) throw bad('path must be /system or /session');
  return uri;
}

const unparseable = (what: string): never => {
  throw new ProbeError(`virsh: unparseable output: ${oneLine(what, 120) || 'empty'}`);
};

// ---- pure parsing ------------------------------------------------------------------------------

/** `virsh -q list --all --uuid --name`: "<uuid> <name>" per line (names may hold spaces). */
export function parseDomainList(stdout: string): DomainRef[] {
  return stdout
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => {
      const m = /^(\S+) (.+)$/.exec(line.trimEnd());
      if (!m || !isUuid(m[1])) return unparseable(line);
      return { uuid: m[1].toLowerCase(), name: m[2] };
    });
}

/** `virsh domstate --reason`: "shut off (destroyed)". */
export function parseDomstate(text: string): { state: string; reason?: string } {
  const m = /^([a-z][a-z ]*?)(?: \(([^()]*)\))?$/.exec(text.trim());
  return m ? { state: m[1], reason: m[2] } : unparseable(`domstate: ${text}`);
}

const stateMarker = (nonce: string, i: number) => `${nonce}.${i}.state`;
const xmlMarker = (nonce: string, i: number) => `${nonce}.${i}.xml`;
export const endMarker = (nonce: string) => `${nonce}.end`;

/** The batch argument for domains [first, first + uuids.length). */
export function batchCommands(uuids: string[], nonce: string, first = 0): string {
  const cmds = uuids.flatMap((u, k) => {
    const i = first + k;
    return [`echo ${stateMarker(nonce, i)}`, `domstate --reason ${assertUuid(u)}`, `echo ${xmlMarker(nonce, i)}`, `dumpxml ${u}`];
  });
  return [...cmds, `echo ${endMarker(nonce)}`].join(';');
}

/**
 * A batch's stdout cut at its marker lines (lines starting with `<nonce>.`): the text after each
 * marker (trimmed), by marker. The markers must be exactly `expected` then `<nonce>.end`, in that order,
 * with nothing after the last one: anything else is output this code does not understand.
 */
export function splitSections(stdout: string, nonce: string, expected: string[]): Map<string, string> {
  // Marker lines are found by search, not by splitting ~1 MB (500 domains) into lines and joining them again.
  const text = `\n${stdout}`;
  const tag = `\n${nonce}.`;
  const sections = new Map<string, string>();
  let at = text.indexOf(tag);
  const before = (at < 0 ? text : text.slice(0, at)).split('\n').find((l) => l.trim() !== '');
  if (before !== undefined) unparseable(before);
  while (at >= 0) {
    const eol = text.indexOf('\n', at + 1);
    const marker = text.slice(at + 1, eol < 0 ? text.length : eol);
    at = eol < 0 ? -1 : text.indexOf(tag, eol);
    if (sections.has(marker)) unparseable(`marker ${marker} twice`);
    sections.set(marker, eol < 0 ? '' : text.slice(eol + 1, at < 0 ? text.length : at).trim());
  }
  const order = [...sections.keys()];
  if (order.join('\n') !== [...expected, endMarker(nonce)].join('\n')) {
    unparseable(`batch markers missing or out of order (${order.length} of ${expected.length + 1}): ${stdout}`);
  }
  if (sections.get(endMarker(nonce))) unparseable(`text after the last marker: ${stdout}`);
  return sections;
}

/**
 * Split a batch's stdout at its marker lines. A domain whose sections are empty vanished between
 * the list and the batch: virsh said so on stderr ("failed to get domain '<uuid>'"), which is
 * checked, so a connection lost mid-batch is an error rather than every domain "vanished".
 */
export function splitBatchOutput(stdout: string, stderr: string, refs: DomainRef[], nonce: string, first = 0): DomainsRead {
  const expected = refs.flatMap((_, k) => [stateMarker(nonce, first + k), xmlMarker(nonce, first + k)]);
  const sections = splitSections(stdout, nonce, expected);
  const read: DomainsRead = { domains: [], vanished: [] };
  refs.forEach((ref, k) => {
    const state = sections.get(stateMarker(nonce, first + k))!;
    const xml = sections.get(xmlMarker(nonce, first + k))!;
    if (state === '' || xml === '') {
      if (!stderr.includes(ref.uuid)) throw new ProbeError(`virsh: no state or XML for ${ref.uuid}: ${errorLine(stderr) || 'no error'}`);
      read.vanished.push(ref);
      return;
    }
    if (!xml.startsWith('<domain')) unparseable(`dumpxml ${ref.uuid}: ${xml}`);
    read.domains.push({ ...ref, ...parseDomstate(state), xml });
  });
  return read;
}

/** virsh's error lines joined into one: "failed to connect to the hypervisor: XML error: ...". */
export function errorLine(stderr: string): string {
  const errors = stderr
    .split('\n')
    .filter((l) => l.startsWith('error: '))
    .map((l) => l.slice('error: '.length).trim());
  return oneLine(errors.join(': '), 240);
}

// ---- spawning ----------------------------------------------------------------------------------

export interface VirshOptions {
  /** For all of virsh's processes together, in ms. */
  timeoutMs: number;
  signal?: AbortSignal;
}

/** virsh exits 1 on failure; its reason is on stderr as "error: ..." lines. */
export async function virsh(uri: string, args: string[], timeoutMs: number, signal?: AbortSignal): Promise<ExecResult> {
  const r = await run('virsh', ['-c', assertVirshUri(uri, true), ...args], { // remote allowed: the source checked the config's allow_remote
    timeoutMs,
    signal,
    okExitCodes: [1],
    // State words and reasons are translated; the parser knows the English ones.
    env: { LC_ALL: 'C' },
  });
  if (r.exitCode !== 0) throw new ProbeError(`virsh: ${errorLine(r.stderr) || `exited ${r.exitCode}: ${oneLine(r.stderr || r.stdout, 160)}`}`);
  return r;
}

/** The time left of a budget shared by several commands. */
export function budget(timeoutMs: number): () => number {
  const deadline = Date.now() + timeoutMs;
  return () => {
    const left = deadline - Date.now();
    if (left <= 0) throw new ProbeError(`virsh timed out after ${Math.round(timeoutMs / 100) / 10}s`);
    return left;
  };
}

/** Batches of consecutive domains whose command string (`commands(uuids, first)`) fits one argument. */
export function chunk<R extends DomainRef>(refs: R[], commands: (uuids: string[], first: number) => string): { first: number; refs: R[] }[] {
  const perDomain = commands([refs[0].uuid], refs.length).length;
  const size = Math.max(1, Math.floor(MAX_BATCH_CHARS / perDomain));
  const chunks: { first: number; refs: R[] }[] = [];
  for (let first = 0; first < refs.length; first += size) chunks.push({ first, refs: refs.slice(first, first + size) });
  return chunks;
}

export async function listDomains(uri: string, opts: VirshOptions): Promise<DomainRef[]> {
  const { stdout } = await virsh(uri, ['-q', 'list', '--all', '--uuid', '--name'], opts.timeoutMs, opts.signal);
  return parseDomainList(stdout);
}

/** State, reason and XML of every domain defined on the node. */
export async function readDomains(uri: string, opts: VirshOptions): Promise<DomainsRead> {
  const left = budget(opts.timeoutMs);
  const refs = await listDomains(uri, { ...opts, timeoutMs: left() });
  const read: DomainsRead = { domains: [], vanished: [] };
  if (refs.length === 0) return read;
  const nonce = `lmp${randomBytes(6).toString('hex')}`;
  for (const c of chunk(refs, (uuids, first) => batchCommands(uuids, nonce, first))) {
    const { stdout, stderr } = await virsh(uri, [batchCommands(c.refs.map((r) => r.uuid), nonce, c.first)], left(), opts.signal);
    const part = splitBatchOutput(stdout, stderr, c.refs, nonce, c.first);
    read.domains.push(...part.domains);
    read.vanished.push(...part.vanished);
  }
  return read;
}
