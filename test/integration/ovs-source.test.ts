// The "ovs" inventory source against the lab node's own Open vSwitch: what it reports must be
// the lab, instance by instance, read with one process; a dead or silent ovsdb is a one-line
// ProbeError, never a hang.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { createOvsSource } from '../../src/inventory/ovs.js';
import { execStats } from '../../src/host/exec.js';
import { labDown, labUp, type LabEnv } from '../lab/lab.js';
import { labUnavailableReason } from '../lab/netns.js';
import { listInterfaces } from '../lab/ovs.js';
import { requireLab } from '../lab/require.js';

const canLab = labUnavailableReason() === null;

/** gather() must reject with a ProbeError whose one-line message matches `re`; returns the ms it took. */
async function rejectsOneLine(p: Promise<unknown>, re: RegExp): Promise<number> {
  const started = Date.now();
  await assert.rejects(p, (err: Error) => {
    assert.equal(err.name, 'ProbeError');
    assert.match(err.message, re);
    assert.ok(!err.message.includes('\n'), err.message);
    return true;
  });
  return Date.now() - started;
}

describe('ovs inventory source on the lab node', () => {
  let lab: LabEnv | undefined;
  before(() => { if (canLab) lab = labUp({ instances: 5, faults: { 3: 'no-port', 4: 'port-error' } }); });
  after(() => lab && labDown(lab));

  test('configured() only with a db', () => {
    assert.equal(createOvsSource({ db: '' }).configured(), false);
    assert.equal(createOvsSource({ db: 'unix:/run/openvswitch/db.sock' }).configured(), true);
  });

  test('reports the lab instance by instance, with one process', async (t) => {
    if (!requireLab(t)) return;
    const source = createOvsSource({ db: lab!.ovsDb });
    assert.equal(source.name, 'ovs');
    const spawned = execStats.spawned;
    const { instances, notes } = await source.gather({ timeoutMs: 10_000 });
    assert.equal(execStats.spawned - spawned, 1, 'exactly one ovs-vsctl');
    assert.equal(notes, undefined);

    // The truth, from the real ovs-vsctl through the lab's own decoder.
    const ofports = new Map(listInterfaces(lab!.ovsDb).map((i) => [i.name, i.ofport]));
    const expected = lab!.instances
      .filter((i) => i.fault !== 'no-port')
      .map((i) => {
        const port = i.fault === 'port-error'
          ? { id: i.portId, mac: i.mac, tap: i.tap, ofport: -1, bridge: lab!.bridge, ovsError: `could not open network device ${i.tap} (No such device)`, ifaceStatus: 'active' }
          : { id: i.portId, mac: i.mac, tap: i.tap, ofport: ofports.get(i.tap)!, bridge: lab!.bridge, linkState: 'up', ifaceStatus: 'active' };
        return { uuid: i.uuid, ports: [port] };
      })
      .sort((a, b) => a.uuid.localeCompare(b.uuid));
    assert.deepEqual(instances, expected);
    for (const i of instances) assert.ok(i.ports[0].ofport === -1 || i.ports[0].ofport! > 0);
  });

  test('a db socket that does not exist: one-line ProbeError at once', async (t) => {
    if (!requireLab(t)) return;
    const db = `unix:${join(lab!.dir, 'ovs', 'no-such-db.sock')}`;
    const ms = await rejectsOneLine(
      createOvsSource({ db }).gather({ timeoutMs: 5_000 }),
      new RegExp(`^ovs-vsctl: ${db.replace(/[.]/g, '\\.')}: database connection failed \\(No such file or directory\\)$`),
    );
    assert.ok(ms < 2_000, `took ${ms} ms`);
  });

  test('an ovsdb that accepts but never answers: cut by ovs-vsctl --timeout, no hang', async (t) => {
    if (!requireLab(t)) return;
    const path = join(lab!.dir, 'ovs', 'silent.sock');
    const sockets: Socket[] = [];
    const server: Server = createServer((s) => sockets.push(s));
    await new Promise<void>((resolve) => server.listen(path, resolve));
    try {
      const ms = await rejectsOneLine(
        createOvsSource({ db: `unix:${path}` }).gather({ timeoutMs: 1_500 }),
        new RegExp(`^ovs-vsctl: unix:${path.replace(/[.]/g, '\\.')}: no answer within 1s \\(--timeout\\)$`),
      );
      assert.ok(ms < 3_000, `took ${ms} ms`);
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  test('an invalid db string never reaches a command line', async () => {
    const spawned = execStats.spawned;
    await rejectsOneLine(createOvsSource({ db: '--help' }).gather({ timeoutMs: 1_000 }), /^invalid OVS db: "--help"/);
    assert.equal(execStats.spawned, spawned);
  });
});
