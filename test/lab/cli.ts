/**
 * npm run lab -- <command>     (node build/test/lab/cli.js)
 * Labs made here are kept after the command exits; the "current" one is remembered in
 * /tmp/lmp-lab-current so later commands need no prefix.
 */
import { LAB_FAULTS, LIBVIRT_DRIVERS, addInstance, heal, healAll, injectFault, isLabFault, labDown, loadLab, sweep, type LabEnv, type LabFault, type LibvirtDriver } from './lab.js';
import { isBgpDaemon, orphanBgpIp } from './addons.js';
import { FIREWALL_DRIVERS, dumpFlows, isFirewallDriver } from './flows.js';
import { goneIdentity } from './identity.js';
import { ovsDirOf } from './ovs.js';
import { BGP_DAEMONS, announced } from './bgp.js';
import { pidAlive } from './procs.js';
import { readdirSync } from 'node:fs';
import { ownerAlive } from './cleanup.js';
import { listInterfaces } from './ovs.js';
import { CURRENT_FILE, labFile, readCurrent, setCurrent } from './files.js';
import { listNamespaces, sh } from './netns.js';
import { clusterUp, loadCluster } from './cluster.js';
import { domainStates } from './kvm.js';
import { leftDomain } from './libvirt.js';
import { LEAVE_STEPS, isLeaveStep, migrate, type LeaveStep } from './migrate.js';
import { monitoringStatusLines } from './monitoring.js';

const USAGE = `usage: npm run lab -- <command>
  up [N] [--faults 2:no-route,3:drop-icmp] [--firewall ${FIREWALL_DRIVERS.join('|')}] [--bgp ${BGP_DAEMONS.join('|')}] [--disks] [--ipv6] [--prefix lmpXXXX]
                                    create a lab (default 6 instances); prints its lab.json path
  up [N] --nodes 2 [...]            two nodes: the instances (and faults) on node 1, node 2 (lab <prefix>n2) empty
  up ... --libvirt ${LIBVIRT_DRIVERS.join('|')}|auto      libvirt's test driver, or a libvirtd per node with real KVM guests
                                    (default: auto with --nodes 2, KVM where /dev/kvm works; test with one node)
  up [...] --monitoring             also one monitoring namespace <prefix>-mon (nagios4, nsca, icinga2 API) for all nodes
  migrate <index> [--leave ${LEAVE_STEPS.join('|')}[,...]] [--prefix p]
                                    move an instance from node 1 to node 2 like a live migration (on KVM
                                    nodes, a real one); --leave
                                    skips that clean-up step on node 1, so its leftover stays there
  status [prefix]                   every node: namespaces, OVS daemons and interfaces, routes of the link namespace,
                                    BGP speaker and what the router received, disk tree, every active fault
  fault <index> <kind> [--prefix p] kind: ${LAB_FAULTS.join('|')}
                                    (orphan-bgp N announces 198.18.N.252/32; orphan-disk N adds migrated-away instance N's dir;
                                     orphan-flows/orphan-port N: flows / an OVS port of gone port N, 1..255;
                                     domain-left-on-source N: gone instance N's domain, shut off)
  heal <index|all> [--prefix p]     every fault tied to that index (or all faults)
  add [--prefix p]                  a new instance appears (inventory.yaml is rewritten)
  down [prefix]                     tear down the current (or named) lab, with all its nodes
  down --all                        remove every leftover lmp* namespace and /tmp/lmp* dir
The current lab's prefix is kept in ${CURRENT_FILE}.`;

/** Split argv into positionals and --name value options. */
function parse(argv: string[]): { pos: string[]; opt: Record<string, string | true> } {
  const pos: string[] = [];
  const opt: Record<string, string | true> = {};
  for (let k = 0; k < argv.length; k++) {
    const a = argv[k];
    if (!a.startsWith('--')) pos.push(a);
    else if (a === '--all' || a === '--disks' || a === '--monitoring' || a === '--ipv6') opt[a.slice(2)] = true;
    else if (k + 1 < argv.length) opt[a.slice(2)] = argv[++k];
    else throw new Error(`${a} needs a value`);
  }
  return { pos, opt };
}

function parseFaults(spec: string): Record<number, LabFault> {
  const faults: Record<number, LabFault> = {};
  for (const item of spec.split(',').filter(Boolean)) {
    const [idx, kind] = item.split(':');
    if (!/^\d+$/.test(idx ?? '') || !isLabFault(kind)) throw new Error(`bad fault ${JSON.stringify(item)} (want INDEX:${LAB_FAULTS.join('|')})`);
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

/** The BGP speaker, its daemons, and what the router received (birdc in the router namespace). */
function bgpLines(env: LabEnv): string[] {
  const b = env.bgp;
  if (!b) return ['BGP: none (up --bgp bird|frr|gobgp)'];
  const pids = b.pids.map((p) => `${p}${pidAlive(p) ? '' : ' (NOT RUNNING)'}`).join(', ');
  let received: string[];
  try {
    received = announced(b);
  } catch (err) {
    received = [`(router unreachable: ${(err as Error).message.split('\n')[0]})`];
  }
  return [
    `BGP: ${b.version} speaker AS ${b.speakerAs} in ${b.speakerNs} (${b.speakerAddr}) -> router ${b.routerVersion} AS ${b.routerAs} in ${b.routerNs} (${b.routerAddr}); pids ${pids}`,
    `  router received ${received.length}: ${received.join(' ')}`,
  ];
}

/** Which libvirt serves the node's domains, and (KVM) each domain's state as virsh says it. */
function libvirtLines(env: LabEnv): string[] {
  const k = env.kvm;
  if (!k) return [`libvirt: test driver, test://${env.dir}/libvirt/node.xml`];
  let domains: string[];
  try {
    domains = domainStates(k).map(([name, state]) => `  ${name}  ${state}`);
  } catch (err) {
    domains = [`  (virsh failed: ${(err as Error).message.split('\n')[0]})`];
  }
  const migration = k.migrationAddr ? `, migrations to tcp://${k.migrationAddr}` : '';
  return [`libvirt: libvirtd pid ${k.pid}${alive(k.pid) ? '' : ' (NOT RUNNING)'} (KVM), ${k.uri}${migration}`, ...domains];
}

/** The nova instances tree: its root entries and the image cache. */
function diskLines(env: LabEnv): string[] {
  const d = env.disks;
  if (!d) return ['disks: none (up --disks)'];
  const list = (dir: string) => {
    try {
      return readdirSync(dir).sort();
    } catch {
      return ['(MISSING)'];
    }
  };
  const uuids = new Set(env.instances.map((i) => i.uuid));
  const gone = new Set((env.migratedAway ?? []).map((m) => m.instance.uuid));
  const note = (n: string) => (gone.has(n) ? `${n}  <- migrated away (leftover)` : `${n}  <- not a lab instance`);
  const entries = list(d.root).map((n) => (uuids.has(n) || ['_base', 'locks', 'compute_nodes'].includes(n) ? n : note(n)));
  return [`disks: ${d.root}`, ...entries.map((n) => `  ${n}`), `  _base/: ${list(d.base).join(' ')}`];
}

/** Every active fault, whatever its layer. */
function faultLines(env: LabEnv): string[] {
  const net = env.instances.filter((i) => i.fault).map((i) => `  ${i.index}: ${i.fault} (${i.ip} ${i.tap})`);
  const orphans = (env.ovsOrphans ?? []).map((o) => {
    const g = goneIdentity(o.index);
    return `  ${o.index}: ${o.fault} (${o.fault === 'orphan-port' ? `port ${g.tap} vm-uuid=${g.uuid}` : `flows for ofport ${g.ofport} ${g.mac}`})`;
  });
  const addon = (env.addonFaults ?? []).map((r) => {
    const i = env.instances.find((x) => x.index === r.index);
    const what = r.fault === 'orphan-bgp' ? `${orphanBgpIp(r.index)}/32 announced` : r.fault === 'orphan-disk' ? 'migrated-away instance dir' : (i?.ip ?? '');
    return `  ${r.index}: ${r.fault} (${what})`;
  });
  const left = (env.leftDomains ?? []).map((n) => `  ${n}: domain-left-on-source (${leftDomain(n).name}, shut off)`);
  const all = [...net, ...orphans, ...addon, ...left];
  return all.length ? ['active faults:', ...all] : ['active faults: none'];
}

/** br-int's flows: the driver and how many flows each table has. */
function flowLines(env: LabEnv): string[] {
  let dump: string;
  try {
    dump = dumpFlows(ovsDirOf(env.dir));
  } catch (err) {
    return [`flows: (ovs-ofctl failed: ${(err as Error).message.split('\n')[0]})`];
  }
  const perTable = new Map<string, number>();
  for (const m of dump.matchAll(/ table=(\d+),/g)) perTable.set(m[1], (perTable.get(m[1]) ?? 0) + 1);
  const tables = [...perTable].map(([t, n]) => `${t}:${n}`).join(' ');
  return [`flows (${env.firewall ?? 'iptables_hybrid'} firewall driver; ovs-ofctl -O OpenFlow13 dump-flows ${env.bridge}), per table: ${tables}`];
}

/** Every node of the cluster, then where each instance lives and what migrations left behind. */
function clusterStatus(prefix?: string): void {
  const { nodes } = loadCluster(prefix);
  if (nodes.length === 1) return status(nodes[0]);
  nodes.forEach((env, k) => {
    console.log(`==== node ${k + 1}: ${env.host ?? `${env.prefix}-node1`} (lab ${env.prefix})`);
    status(env);
    console.log();
  });
  const where = nodes.flatMap((env, k) => env.instances.map((i) => ({ i, node: k + 1 }))).sort((a, b) => a.i.index - b.i.index);
  const left = nodes.flatMap((env, k) => (env.migratedAway ?? []).filter((m) => m.leave.length).map((m) => `  ${m.instance.index}: on node ${k + 1}: ${m.leave.join(', ')}`));
  console.log(['where the instances live:', ...where.map(({ i, node }) => `  ${String(i.index).padStart(3)}  ${i.name}  ${i.ip.padEnd(13)} node ${node}`)].join('\n'));
  console.log(left.length ? ['migration leftovers:', ...left].join('\n') : 'migration leftovers: none');
}

function status(env: LabEnv): void {
  // A migrated instance's namespace keeps node 1's prefix.
  const allNamespaces = listNamespaces();
  const namespaces = allNamespaces.filter((ns) => ns.startsWith(`${env.prefix}-`));
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
    ...(alive(ovsVswitchd) ? flowLines(env) : []),
    ...libvirtLines(env),
    ...bgpLines(env),
    ...diskLines(env),
    ...monitoringStatusLines(env),
    ...faultLines(env),
    ...(env.migratedAway ?? []).map((m) => `migrated away: ${m.instance.index} (${m.instance.ip}) to lab ${m.to}; left here: ${m.leave.join(', ') || 'nothing'}`),
    'instances:',
    ...env.instances.map(
      (i) => `  ${String(i.index).padStart(3)}  ${i.name}  ${i.ip.padEnd(13)} ${i.tap}  ${i.ns}${allNamespaces.includes(i.ns) ? '' : ' (MISSING)'}  ${i.fault ?? 'healthy'}`,
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
      const bgp = str(opt.bgp);
      if (bgp !== undefined && !isBgpDaemon(bgp)) throw new Error(`--bgp must be one of ${BGP_DAEMONS.join(', ')}`);
      const firewall = str(opt.firewall);
      if (firewall !== undefined && !isFirewallDriver(firewall)) throw new Error(`--firewall must be one of ${FIREWALL_DRIVERS.join(', ')}`);
      const nodes = str(opt.nodes) === undefined ? 1 : index(str(opt.nodes));
      const libvirt = str(opt.libvirt);
      if (libvirt !== undefined && libvirt !== 'auto' && !LIBVIRT_DRIVERS.includes(libvirt as never)) throw new Error(`--libvirt must be one of ${LIBVIRT_DRIVERS.join(', ')}, auto`);
      const cluster = clusterUp({
        instances: n, faults: parseFaults(str(opt.faults) ?? ''), prefix: str(opt.prefix), persist: true, bgp, disks: opt.disks === true, firewall, nodes,
        libvirt: libvirt as LibvirtDriver | 'auto' | undefined, monitoring: opt.monitoring === true, ipv6: opt.ipv6 === true,
      });
      const env = cluster.nodes[0];
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      const previous = readCurrent();
      setCurrent(env.prefix);
      if (previous && previous !== env.prefix) console.error(`note: lab ${previous} is still up; current is now ${env.prefix}`);
      console.error(`lab ${env.prefix} up: ${n} instances (libvirt: ${env.kvm ? 'KVM' : 'test driver'}) in ${ms.toFixed(0)} ms; config ${env.configFile}`);
      for (const other of cluster.nodes.slice(1)) console.error(`  node ${other.host}: lab ${other.prefix}, config ${other.configFile}`);
      console.log(labFile(env.prefix));
      return;
    }
    case 'status':
      return clusterStatus(pos[0]);
    case 'migrate': {
      const leave = (str(opt.leave) ?? '').split(',').filter(Boolean);
      const bad = leave.filter((x) => !isLeaveStep(x));
      if (bad.length) throw new Error(`--leave takes ${LEAVE_STEPS.join(', ')} (comma-separated), got ${bad.join(', ')}`);
      const { nodes } = loadCluster(str(opt.prefix));
      if (nodes.length < 2) throw new Error(`lab ${nodes[0].prefix} has one node (up --nodes 2)`);
      const started = process.hrtime.bigint();
      const i = migrate(nodes[0], nodes[1], index(pos[0]), { leave: leave as LeaveStep[] });
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      console.error(`instance ${i.index} (${i.name} ${i.ip}) migrated to ${nodes[1].host} in ${ms.toFixed(0)} ms; left on node 1: ${leave.length ? leave.join(', ') : 'nothing'}`);
      console.log(nodes[1].configFile);
      return;
    }
    case 'fault': {
      const kind = pos[1];
      if (!isLabFault(kind)) throw new Error(`fault kind must be one of ${LAB_FAULTS.join(', ')}`);
      return injectFault(loadLab(str(opt.prefix)), index(pos[0]), kind);
    }
    case 'heal':
      if (pos[0] === 'all') return healAll(loadLab(str(opt.prefix)));
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
