import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { configSchema, defaultConfig, loadConfig, parseConfig } from '../../src/config.js';
import { registry } from '../../probes/registry.js';
import { renderExample } from '../../src/config-example.js';

const errorOf = (text: string) => {
  try {
    parseConfig(text, '/etc/lm-probe/config.yaml', registry);
  } catch (err) {
    return (err as Error).message;
  }
  assert.fail('expected a config error');
};

test('defaults match the documented contract', () => {
  const c = defaultConfig(registry);
  const ir = c.probes['instance-routed'];
  assert.equal(c.timeout, 30);
  assert.deepEqual(c.inventory.sources, ['libvirt', 'ovs', 'openstack', 'file']);
  assert.equal(c.inventory.libvirt.uri, 'qemu:///system');
  assert.deepEqual(c.ovs, { db: 'unix:/run/openvswitch/db.sock', rundir: '/run/openvswitch', integration_bridge: 'br-int' });
  assert.equal(c.inventory.openstack.interface, 'internal');
  assert.equal(c.inventory.openstack.timeout, 10);
  assert.equal(c.inventory.file, '');
  assert.deepEqual(c.inventory.cache, { path: '/var/cache/lm-probe/inventory.json', max_age: 3600 });
  assert.deepEqual(c.oco, { enabled: false, dir: '/usr/local/oco', codes: { ok: 200, warning: 210, critical: 300, unknown: 300 } });
  assert.equal(ir.enabled, true);
  assert.equal(ir.ping_namespace, 'ns-link');
  assert.equal(ir.link_namespace, 'ns-link');
  assert.equal(ir.arp_interface, '');
  assert.equal(ir.timeout, 1000);
  assert.equal(ir.retries, 1);
  assert.equal(ir.warning, '0');
  assert.equal(ir.critical, '1');
  assert.equal(ir.grace, 120);
  assert.ok(c.host.length > 0, 'host defaults to the hostname');
});

test('values are read and missing keys keep their defaults', () => {
  const c = parseConfig('host: compute-1\nprobes:\n  instance-routed:\n    retries: 3\n    warning: 2\noco:\n  codes: {warning: 220}\n', 'x.yaml', registry);
  assert.equal(c.host, 'compute-1');
  assert.equal(c.probes['instance-routed'].retries, 3);
  assert.equal(c.probes['instance-routed'].warning, '2', 'a numeric range is kept as its text');
  assert.equal(c.probes['instance-routed'].timeout, 1000);
  assert.equal(c.oco.codes.warning, 220);
  assert.equal(c.oco.codes.critical, 300);
});

test('invalid YAML names file and line', () => {
  assert.match(errorOf('host: a\nprobes:\n  instance-routed: [\n'), /^config error: \/etc\/lm-probe\/config.yaml:\d+: invalid YAML/);
  assert.match(errorOf('host: a\nhost: b\n'), /^config error: \/etc\/lm-probe\/config.yaml:2: invalid YAML/);
});

test('an unknown key names its line and the known keys', () => {
  const msg = errorOf('host: a\nprobes:\n  instance-routed:\n    ping_namespce: x\n');
  assert.match(msg, /^config error: \/etc\/lm-probe\/config.yaml:4: unknown key "probes.instance-routed.ping_namespce"/);
  assert.match(msg, /known: enabled, schedule, ping_namespace/);
  assert.match(errorOf('probes:\n  no-such-probe: {}\n'), /:2: unknown key "probes.no-such-probe"/);
});

test('a wrong type names its line', () => {
  assert.match(errorOf('timeout: soon\n'), /:1: timeout: expected a number, got "soon"/);
  assert.match(errorOf('oco:\n  enabled: yes please\n'), /:2: oco.enabled: expected true or false/);
  assert.match(errorOf('probes:\n  instance-routed:\n    retries: -1\n'), /:3: .*must be at least 0/);
  assert.match(errorOf('probes:\n  instance-routed:\n    critical: "5:1"\n'), /:3: .*invalid threshold range "5:1"/);
  assert.match(errorOf('probes:\n  instance-routed:\n    icmp: magic\n'), /:3: .*expected one of raw, fping, auto/);
  assert.match(errorOf('inventory: [a]\n'), /:1: inventory: expected a mapping/);
});

test('a missing default file means defaults; a missing named file is an error', () => {
  assert.throws(() => loadConfig('/nonexistent/lmp-config.yaml', registry), /config error: \/nonexistent\/lmp-config.yaml: file not found/);
});

test('config/lm-probe.example.yaml is the generated example and parses to the defaults', () => {
  const file = new URL('../../../config/lm-probe.example.yaml', import.meta.url);
  const text = readFileSync(file, 'utf8');
  assert.equal(text, renderExample(configSchema(registry)), 'regenerate with: bin/lm-probe config --example > config/lm-probe.example.yaml');
  const { host: _h, source: _s, ...parsed } = parseConfig(text, 'example', registry);
  const { host: _h2, source: _s2, ...defaults } = defaultConfig(registry);
  assert.deepEqual(parsed, defaults);
});

test('schema kinds for the next probes: durations, maps, typed lists of objects, secrets', async () => {
  const { duration, map, obj, secret, str, num, validateAny, redact, parseDuration } = await import('../../src/schema.js');
  const { LineCounter, parseDocument } = await import('yaml');
  const schema = obj({
    max_age: duration(600, 'seconds'),
    names: map(str('', 'service'), 'probe -> service'),
    token: secret('a token'),
    passive: (await import('../../src/schema.js')).variants({
      nsca: { host: str('', 'host'), port: num(5667, 'port') },
      nrdp: { url: str('', 'url'), token: secret('token') },
    }, 'channels'),
  });
  const parse = (text: string) => {
    const lines = new LineCounter();
    const doc = parseDocument(text, { lineCounter: lines });
    return validateAny(doc.contents, schema, '', { file: 'x.yaml', lines }) as Record<string, unknown>;
  };
  const v = parse('max_age: 10m\nnames: {instance-routed: routed}\ntoken: abc\npassive:\n  - {type: nsca, host: nagios}\n  - {type: nrdp, url: "https://n/", token: t0k}\n');
  assert.equal(v.max_age, 600);
  assert.deepEqual(v.names, { 'instance-routed': 'routed' });
  assert.deepEqual(v.passive, [{ type: 'nsca', host: 'nagios', port: 5667 }, { type: 'nrdp', url: 'https://n/', token: 't0k' }]);
  assert.deepEqual(redact(v, schema), { ...v, token: '***', passive: [{ type: 'nsca', host: 'nagios', port: 5667 }, { type: 'nrdp', url: 'https://n/', token: '***' }] });
  assert.throws(() => parse('passive:\n  - {type: smoke}\n'), /^ConfigError: config error: x\.yaml:2: passive\[0\]\.type: expected one of nsca, nrdp, got "smoke"/);
  assert.throws(() => parse('passive:\n  - {type: nsca, url: x}\n'), /x\.yaml:2: unknown key "passive\[0\]\.url" \(known: type, host, port\)/);
  assert.throws(() => parse('max_age: soon\n'), /x\.yaml:1: max_age: expected a duration/);
  assert.deepEqual(['500ms', '30s', '5m', '2h', '1d', 45, 'x', -1].map(parseDuration), [0.5, 30, 300, 7200, 86400, 45, undefined, undefined]);
});
