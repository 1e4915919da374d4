/**
 * The configuration: one YAML file, every key optional with a documented default.
 * Errors name the file and line: `config error: /etc/lm-probe/config.yaml:12: ...`.
 */
import { readFileSync, statSync } from 'node:fs';
import { hostname } from 'node:os';
import { LineCounter, parseDocument } from 'yaml';
import { SOURCE_NAMES } from './inventory/types.js';
import { daemonSchema } from './daemon-config.js';
import { reportSchema } from './report/passive/config.js';
import { bool, ConfigError, defaultValue, type Infer, list, num, obj, oneOf, type ObjectField, redact, secret, type Shape, str, validateAny } from './schema.js';

export const DEFAULT_CONFIG_PATH = '/etc/lm-probe/config.yaml';
export const MAX_CONFIG_BYTES = 1024 * 1024;

const core = {
  host: str('', "this node's name as Nova knows it (OS-EXT-SRV-ATTR:host); empty: the hostname"),
  timeout: num(30, 'deadline of each probe, in seconds (--timeout overrides)', { min: 1, max: 3600 }),
  run_timeout: num(50, 'overall deadline of `lm-probe run`, in seconds: fits the cron minute and the systemd unit', { min: 1, max: 3600 }),
  state_dir: str('/var/lib/lm-probe', 'small state files kept between runs (first-seen times)'),
  lock_dir: str('/run/lm-probe', 'one lock file per probe, so two runs never overlap'),
  inventory: obj({
    sources: list(['libvirt', 'ovs', 'openstack', 'file'], 'where to learn what is hosted here; the order is the precedence of facts', SOURCE_NAMES.filter((n) => n !== 'cache')),
    libvirt: obj({
      uri: str('qemu:///system', 'libvirt connection URI (virsh -c): qemu:///system, qemu+unix:///system?socket=PATH, test:///FILE'),
      allow_remote: bool(false, 'also accept qemu+tls:// and qemu+tcp:// URIs to another host'),
    }, 'domains defined on this node, with the nova metadata Nova writes into their XML'),
    openstack: obj({
      cloud: str('', 'a clouds.yaml entry (default: $OS_CLOUD); or fill auth below; or the OS_* variables'),
      auth: obj({
        auth_url: str('', 'Keystone v3 URL, e.g. https://keystone.example:5000/v3'),
        username: str('', 'password auth: user'),
        password: secret('password auth: password'),
        user_domain_name: str('Default', 'password auth: the user\'s domain'),
        project_name: str('', 'password auth: project to scope the token to'),
        project_domain_name: str('Default', 'password auth: the project\'s domain'),
        application_credential_id: str('', 'application-credential auth: id'),
        application_credential_secret: secret('application-credential auth: secret'),
      }, 'Keystone credentials (empty: clouds.yaml or OS_* environment variables)'),
      region_name: str('', 'region of the endpoints to use ("" = any)'),
      interface: oneOf(['internal', 'public', 'admin'] as const, 'internal', 'endpoint interface from the catalog'),
      cacert: str('', 'CA bundle for TLS ("" = the system\'s)'),
      insecure: bool(false, 'do not verify TLS certificates (testing only)'),
      timeout: num(10, 'seconds per HTTP request', { min: 1 }),
      host: str('', 'host name in the Nova and Neutron filters ("" = host above)'),
      token_cache: str('/var/cache/lm-probe/token.json', 'Keystone token cache, mode 0600, reused until shortly before it expires'),
    }, 'the OpenStack APIs: what Nova and Neutron believe is on this node'),
    file: str('', 'inventory file (YAML or JSON) listing the instances hosted here ("" = none)'),
    on_degraded: oneOf(['warning', 'unknown', 'ok'] as const, 'warning', 'best status a probe may report while a source failed and no fresh cache stood in for it (instances may be hidden); the reason is always in the output'),
    cache: obj({
      path: str('/var/cache/lm-probe/inventory.json', 'last good merged inventory, used when a source fails'),
      max_age: num(3600, 'seconds after which the cache is too old to use (0: never use it)', { min: 0 }),
    }, 'the last good inventory'),
  }, 'where lm-probe learns what is hosted on this node'),
  ovs: obj({
    db: str('unix:/run/openvswitch/db.sock', 'OVSDB (ovs-vsctl --db): the ovs inventory source and the OVS probes read it'),
    rundir: str('/run/openvswitch', 'ovs-vswitchd\'s run dir: ovs-ofctl reaches <rundir>/<bridge>.mgmt'),
    integration_bridge: str('br-int', 'the bridge instance ports are plugged into'),
  }, 'where Open vSwitch is on this node (the inventory and the OVS probes)'),
  oco: obj({
    enabled: bool(false, 'also write OCO status files (--oco does the same)'),
    dir: str('/usr/local/oco', 'codes go to <dir>/result/<probe>, the debug trace to <dir>/result_debug/<probe>'),
    codes: obj({
      ok: num(200, 'code written for OK', { integer: true }),
      warning: num(210, 'code written for WARNING', { integer: true }),
      critical: num(300, 'code written for CRITICAL', { integer: true }),
      unknown: num(300, 'code written for UNKNOWN', { integer: true }),
    }, 'status codes written to the OCO result file'),
  }, 'OCO status files'),
  metrics: obj({
    enabled: bool(false, 'also write the Prometheus textfile after each run (`lm-probe metrics` does the same)'),
    textfile: str('/var/lib/prometheus/node-exporter/lm-probe.prom', "node_exporter textfile collector's file: probe statuses, durations, perfdata, migration counters and histograms"),
    log: str('/var/log/lm-probe/migrations.jsonl', 'one JSON line per migration counted, for other backends ("" = none)'),
  }, 'Prometheus metrics (src/report/metrics.ts)'),
  report: reportSchema,
  daemon: daemonSchema,
};

/** What the config needs of a probe: its name, one-line summary and option schema. */
export interface ProbeOptionsSpec {
  name: string;
  summary: string;
  options: Shape;
}

/** The whole schema: the core keys plus one section per probe given (the CLI passes the registry). */
export function configSchema(registry: readonly ProbeOptionsSpec[]): ObjectField {
  const probes: Shape = {};
  for (const p of registry) {
    probes[p.name] = obj({
      enabled: bool(true, 'run this probe with `lm-probe run`'),
      schedule: str('* * * * *', 'when `lm-probe daemon` runs it (cron syntax; a sixth, leading field for seconds)'),
      ...p.options,
    }, p.summary);
  }
  const { oco, metrics, report, daemon, ...rest } = core;
  return obj({ ...rest, probes: obj(probes, 'per-probe settings'), oco, metrics, report, daemon });
}

type CoreConfig = Infer<ObjectField<typeof core>>;
export type ProbeSection = { enabled: boolean; schedule: string } & Record<string, unknown>;
export interface Config extends CoreConfig {
  probes: Record<string, ProbeSection>;
  /** The file it came from; "" when built-in defaults are used. */
  source: string;
}

function finish(value: Record<string, unknown>, source: string): Config {
  const config = { ...value, source } as unknown as Config;
  if (!config.host) config.host = hostname();
  return config;
}

export function defaultConfig(probes: readonly ProbeOptionsSpec[]): Config {
  return finish(defaultValue(configSchema(probes)) as Record<string, unknown>, '');
}

/** Parse config text; `file` is only used in error messages. */
export function parseConfig(text: string, file: string, probes: readonly ProbeOptionsSpec[]): Config {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    const e = doc.errors[0];
    const line = e.linePos?.[0]?.line ?? lines.linePos(e.pos[0]).line;
    throw new ConfigError(file, line, `invalid YAML: ${e.message.split('\n')[0]}`);
  }
  const value = validateAny(doc.contents, configSchema(probes), '', { file, lines });
  return finish(value as Record<string, unknown>, file);
}

/**
 * Load the config. The default path may be absent (built-in defaults then); a file named
 * explicitly must exist.
 */
export function loadConfig(path: string | undefined, probes: readonly ProbeOptionsSpec[]): Config {
  const file = path ?? DEFAULT_CONFIG_PATH;
  let text: string;
  try {
    // A config is a few KiB: refuse a huge file before parsing it can exhaust memory or the deadline.
    const size = statSync(file).size;
    if (size > MAX_CONFIG_BYTES) throw new ConfigError(file, null, `file is ${size} bytes, more than a config can be (${MAX_CONFIG_BYTES} bytes at most)`);
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' && path === undefined) return defaultConfig(probes);
    throw new ConfigError(file, null, code === 'ENOENT' ? 'file not found' : (err as Error).message);
  }
  return parseConfig(text, file, probes);
}

/** The config as it may be printed: every secret shown as ***. */
export function redactedConfig(config: Config, probes: readonly ProbeOptionsSpec[]): Record<string, unknown> {
  const { source: _source, ...rest } = config;
  return redact(rest, configSchema(probes)) as Record<string, unknown>;
}
