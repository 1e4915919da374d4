/**
 * npm run lab -- <command>     (node build/test/lab/cli.js)
 * Labs made here are kept after the command exits; the "current" one is remembered in
 * /tmp/lmp-lab-current so later commands need no prefix.
 */
import { FAULTS, addInstance, heal, injectFault, isFault, labDown, labUp, loadLab, sweep, type Fault, type LabEnv } from './lab.js';
import { ownerAlive } from './cleanup.js';
import { listInterfaces } from './ovs.js';
import { CURRENT_FILE, labFile, readCurrent, setCurrent } from './files.js';
import { listNamespaces, sh } from './netns.js';

const USAGE = `usage: npm run lab -- <command>
  up [N] [--faults 2:no-route,3:drop-icmp] [--prefix lmpXXXX]   create a lab (default 6 instances); prints its lab.json path
  status [prefix]                   namespaces, OVS daemons and interfaces, routes of the link namespace, faults
  fault <index> <${FAULTS.join('|')}> [--prefix p]
  heal <index> [--prefix p]
  add [--prefix p]                  a new instance appears (inventory.yaml is rewritten)
  down [prefix]                     tear down the current (or named) lab
  down --all                        remove every leftover lmp* namespace and /tmp/lmp* dir
The current lab's prefix is kept in ${CURRENT_FILE}.`;

/** Split argv into positionals and --name value options. */
function parse(argv: string[]): { pos: string[]; opt: Record<string, string | true> } {
  const pos: string[] = [];
  const opt: Record<string, string | true> = {};
  for (let k = 0; k < argv.length; k++) {
    const a = argv[k];
    if (!a.startsWith('--')) pos.push(a);
    else if (a === '--all') opt.all = true;
    else if (k + 1 < argv.length) opt[a.slice(2)] = argv[++k];
    else throw new Error(`${a} needs a value`);
  }
  return { pos, opt };
}

function parseFaults(spec: string): Record<number, Fault> {
  const faults: Record<number, Fault> = {};
  for (const item of spec.split(',').filter(Boolean)) {
    const [idx, kind] = item.split(':');
    if (!/^\d+$/.test(idx ?? '') || !isFault(kind)) throw new Error(`bad fault ${JSON.stringify(item)} (want INDEX:${FAULTS.join('|')})`);
    faults[Number(idx)] = kind;
  }
  return faults;
}

function index(v: string | undefined): number {
  if (!v || !/^\d+$/.test(v)) throw new Error(`instance index expected, got ${JSON.stringify(v)}`);
  return Number(v);
}

const str = (v: string | true | undefined): string | undefined => (typeof v === 'string' ? v : undefined);

/** One line per OVS Interface: name, ofport, error, and the external_ids Neutron/os-vif set. */
function ovsTable(env: LabEnv): string[] {
  const rows = listInterfaces(env.ovsDb).sort((a, b) => a.name.localeCompare(b.name));
  return rows.map((r) => {
    const ids = ['iface-id', 'attached-mac', 'vm-uuid', 'iface-status'].filter((k) => r.externalIds[k]).map((k) => `${k}=${r.externalIds[k]}`);
    const state = r.error ? `ofport ${r.ofport ?? '[]'}  ERROR ${r.error}` : `ofport ${r.ofport ?? '[]'}`;
    return `  ${r.name.padEnd(15)} ${state}${ids.length ? `  ${ids.join(' ')}` : ''}`;
  });
}

/** pid 0 would mean "my process group" to kill(2): only real PIDs count. */
const alive = (pid: number): boolean => pid > 1 && ownerAlive(pid);

function status(prefix?: string): void {
  const env = loadLab(prefix);
  const namespaces = listNamespaces().filter((ns) => ns.startsWith(`${env.prefix}-`));
  const vms = namespaces.filter((ns) => ns !== env.linkNs && ns !== env.nodeNs);
  const has = (ns: string) => (namespaces.includes(ns) ? ns : `${ns} MISSING`);
  const { ovsdbServer, ovsVswitchd } = env.ovsPids;
  const out: string[] = [
    `lab ${env.prefix}  (${labFile(env.prefix)})`,
    `config: ${env.configFile}`,
    `namespaces: ${has(env.nodeNs)}, ${has(env.linkNs)} + ${vms.length} instance namespaces`,
    `OVS: db ${env.ovsDb}, ovsdb-server pid ${ovsdbServer}${alive(ovsdbServer) ? '' : ' (NOT RUNNING)'}, ovs-vswitchd pid ${ovsVswitchd}${alive(ovsVswitchd) ? '' : ' (NOT RUNNING)'}`,
    `routes in ${env.linkNs} (${env.linkIface} is its leg into ${env.bridge}):`,
    ...sh('ip', ['-n', env.linkNs, 'route']).trimEnd().split('\n').map((l) => `  ${l}`),
    `OVS interfaces (ovs-vsctl --db=${env.ovsDb} list Interface):`,
    ...(alive(ovsdbServer) ? ovsTable(env) : ['  (ovsdb-server not running)']),
    'instances:',
    ...env.instances.map(
      (i) => `  ${String(i.index).padStart(3)}  ${i.name}  ${i.ip.padEnd(13)} ${i.tap}  ${i.ns}${namespaces.includes(i.ns) ? '' : ' (MISSING)'}  ${i.fault ?? 'healthy'}`,
    ),
  ];
  console.log(out.join('\n'));
}

function main(argv: string[]): void {
  const [cmd, ...rest] = argv;
  const { pos, opt } = parse(rest);
  switch (cmd) {
    case 'up': {
      const n = pos[0] === undefined ? 6 : index(pos[0]);
      const started = process.hrtime.bigint();
      const env = labUp({ instances: n, faults: parseFaults(str(opt.faults) ?? ''), prefix: str(opt.prefix), persist: true });
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      const previous = readCurrent();
      setCurrent(env.prefix);
      if (previous && previous !== env.prefix) console.error(`note: lab ${previous} is still up; current is now ${env.prefix}`);
      console.error(`lab ${env.prefix} up: ${n} instances in ${ms.toFixed(0)} ms; config ${env.configFile}`);
      console.log(labFile(env.prefix));
      return;
    }
    case 'status':
      return status(pos[0]);
    case 'fault': {
      const kind = pos[1];
      if (!isFault(kind)) throw new Error(`fault kind must be one of ${FAULTS.join(', ')}`);
      return injectFault(loadLab(str(opt.prefix)), index(pos[0]), kind);
    }
    case 'heal':
      return heal(loadLab(str(opt.prefix)), index(pos[0]));
    case 'add': {
      const i = addInstance(loadLab(str(opt.prefix)));
      console.log(`instance ${i.index}: ${i.name} ${i.ip} ${i.tap} ${i.ns}`);
      return;
    }
    case 'down': {
      if (opt.all) {
        for (const r of sweep()) console.log(`removed ${r}`);
        return;
      }
      const prefix = pos[0] ?? readCurrent();
      if (!prefix) throw new Error('no current lab; name one (down lmpXXXX) or use down --all');
      labDown(prefix);
      console.error(`lab ${prefix} down`);
      return;
    }
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      console.log(USAGE);
      return;
    default:
      throw new Error(`unknown command ${JSON.stringify(cmd)}\n${USAGE}`);
  }
}

try {
  main(process.argv.slice(2));
} catch (err) {
  console.error(`lab: ${(err as Error).message}`);
  process.exit(1);
}
