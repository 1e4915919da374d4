/**
 * The `report:` section: where passive check results go (`lm-probe run --passive`, the daemon),
 * under which host and service names, and the spool that keeps what could not be delivered.
 * Credentials are never in this file: they are read from *_file paths that only their owner
 * (and group) may read.
 */
import { bool, map, num, obj, oneOf, str, variants } from '../../schema.js';

const timeout = num(10, 'seconds per delivery attempt', { min: 1, max: 300 });
const maxOutput = (d: number, why: string) => num(d, `bytes of output (and perfdata) at most, cut with a marker, never mid-character: ${why}`, { min: 128, integer: true });

export const reportSchema = obj({
  host_name: str('', 'host name results are sent under ("" = host above)'),
  service_names: map(str('', 'service description'), 'probe name -> service description (default: the probe name)'),
  max_age: num(600, 'seconds: an older result is never sent as current, it is dropped (0: no limit)', { min: 0 }),
  passive: variants({
    command_file: {
      path: str('/var/lib/nagios4/rw/nagios.cmd', 'the Nagios/Naemon/Shinken external command pipe (no reader = not delivered, never a hang)'),
      max_output: maxOutput(8192, 'Nagios 4 reads commands of 8 KiB'),
      timeout,
    },
    nsca: {
      host: str('', 'NSCA server'),
      port: num(5667, 'NSCA port', { min: 1, max: 65535, integer: true }),
      config: str('/etc/send_nsca.cfg', 'send_nsca config (password, encryption); must not be readable by others'),
      command: str('send_nsca', 'the send_nsca program'),
      max_output: maxOutput(4096, 'the server\'s limit: 512 for NSCA before 2.9, 4096 after'),
      timeout,
    },
    nrdp: {
      url: str('', 'NRDP URL, e.g. https://nagios.example/nrdp/'),
      token_file: str('', 'file holding the NRDP token; must not be readable by others'),
      cacert: str('', 'CA bundle for TLS ("" = the system\'s)'),
      max_output: maxOutput(8192, 'what Nagios keeps of a result'),
      timeout,
    },
    ws_arbiter: {
      url: str('', 'Shinken ws_arbiter URL, e.g. http://shinken.example:7760'),
      username: str('', 'Basic auth user ("" = anonymous)'),
      password_file: str('', 'file holding the Basic auth password; must not be readable by others'),
      cacert: str('', 'CA bundle for TLS ("" = the system\'s)'),
      max_output: maxOutput(8192, 'what Shinken keeps of a result'),
      timeout,
    },
    icinga2: {
      url: str('', 'Icinga 2 API URL, e.g. https://icinga.example:5665'),
      username: str('', 'API user (Basic auth; "" = client certificate only)'),
      password_file: str('', 'file holding the API user\'s password; must not be readable by others'),
      cacert: str('', 'CA bundle the API certificate is checked against ("" = the system\'s)'),
      tls_name: str('', 'name expected in the API certificate ("" = the URL\'s host)'),
      cert: str('', 'client certificate (PEM) instead of a password'),
      key_file: str('', 'client certificate key (PEM); must not be readable by others'),
      max_output: maxOutput(65536, 'Icinga keeps long output whole; perfdata travels apart'),
      timeout,
    },
  }, 'passive check channels, each independent (lm-probe run --passive, the daemon)'),
  spool: obj({
    keep: oneOf(['latest', 'all'] as const, 'latest', 'after an outage, send only the newest result per service (older ones are counted and logged) or all in order'),
    max_entries: num(10000, 'results kept per channel at most; the oldest are dropped, and said so', { min: 1, integer: true }),
    max_age: num(86400, 'seconds a result is kept at most; older ones are dropped, and said so', { min: 60 }),
    backoff_max: num(1800, 'seconds between retries of an unreachable channel at most (doubling from the next run)', { min: 0 }),
  }, 'results a channel could not deliver: <state_dir>/spool/<channel>/, one file each, retried at the next run'),
  self_service: bool(false, 'also send, through each channel, an `lm-probe` service (see service_names) with that channel\'s spool depth and oldest waiting result: WARNING while results wait, CRITICAL when some were dropped'),
}, 'passive check results to Nagios, Naemon, Shinken or Icinga (lm-probe run --passive)');
