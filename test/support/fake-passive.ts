/**
 * Local stand-ins for the two passive receivers that have no Debian package, on 127.0.0.1
 * (random port, kept across stop/start so a test can take one "down" and bring it back).
 * They answer exactly as the real ones do (read from their sources):
 *
 * NRDP (NagiosEnterprises/nrdp server/index.php, includes/utils.inc.php,
 * plugins/nagioscorepassivecheck): always HTTP 200; with `json` posted the answer is JSON.
 * No token: {"result":{"status":-1,"message":"NO TOKEN"}}; a wrong one: "BAD TOKEN"; no cmd
 * with a token: the text "No command specified or request handler"; submitcheck:
 * {"result":{"status":0,"message":"OK","meta":{"output":"<n> checks processed"}}}.
 *
 * Shinken ws_arbiter (shinken-monitoring/mod-ws-arbiter module/module.py, bottle): only
 * POST /push_check_result (other paths 404, other methods 405). Form fields are read first,
 * then Basic auth is checked unless the module is anonymous: none 401 "Authentication
 * required", wrong 403 "Authentication denied". A different count of return codes and hosts
 * aborts 400 inside get_page's try/except, which catches it: the real module then answers 200
 * and queues nothing, and this one does the same. Taken: 200 with an empty body.
 */
import { after } from 'node:test';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface PassiveCheck { host: string; service: string; state: number; output: string; time?: number }

export interface FakeReceiver {
  url: string;
  port: number;
  /** What it accepted, in order. */
  accepted: PassiveCheck[];
  /** Every request: method, path, the Authorization header, the raw body. */
  requests: { method: string; path: string; authorization?: string; body: string }[];
  /** Delay every answer by this many ms (a slow receiver). */
  delayMs: number;
  stop(): Promise<void>;
  start(): Promise<void>;
}

async function bodyOf(req: IncomingMessage): Promise<string> {
  let body = '';
  for await (const chunk of req) body += chunk;
  return body;
}

/** Where a receiver listens; `standalone`: in a process of its own (fake-passive-serve.ts), no test hook. */
export interface ListenOptions { host?: string; standalone?: boolean }

async function receiver(handle: (req: IncomingMessage, body: string, res: ServerResponse, self: FakeReceiver) => void, o: ListenOptions = {}): Promise<FakeReceiver> {
  const host = o.host ?? '127.0.0.1';
  let server: Server | undefined;
  const self: FakeReceiver = {
    url: '', port: 0, accepted: [], requests: [], delayMs: 0,
    async stop() {
      const s = server;
      server = undefined;
      if (s) await new Promise<void>((r) => { s.close(() => r()); s.closeAllConnections(); });
    },
    async start() {
      server = createServer(async (req, res) => {
        const body = await bodyOf(req);
        self.requests.push({ method: req.method ?? '', path: req.url ?? '', authorization: req.headers.authorization, body });
        if (self.delayMs) await new Promise((r) => setTimeout(r, self.delayMs));
        handle(req, body, res, self);
      });
      await new Promise<void>((r) => server!.listen(self.port, host, r));
      self.port = (server.address() as AddressInfo).port;
    },
  };
  await self.start();
  self.url = `http://${host}:${self.port}`;
  if (!o.standalone) after(() => self.stop());
  return self;
}

const send = (res: ServerResponse, code: number, type: string, text: string) => { res.writeHead(code, { 'Content-Type': type }); res.end(text); };

export function startFakeNrdp(tokens: string[], o?: ListenOptions): Promise<FakeReceiver> {
  return receiver((req, body, res, self) => {
    const form = new URLSearchParams(req.method === 'POST' ? body : (req.url ?? '').split('?')[1] ?? '');
    const json = form.get('JSONDATA') || form.get('jsondata') || form.get('json') || '';
    const answer = (result: Record<string, unknown>) => (json
      ? send(res, 200, 'application/json', JSON.stringify({ result }))
      : send(res, 200, 'text/xml', `<?xml version="1.0" encoding="utf-8"?>\n<result>${Object.entries(result).map(([k, v]) => `<${k}>${typeof v === 'object' ? Object.entries(v as object).map(([a, b]) => `<${a}>${b}</${a}>`).join('') : v}</${k}>`).join('')}</result>`));
    const error = (message: string) => answer({ status: -1, message });
    const cmd = (form.get('cmd') ?? '').toLowerCase();
    const token = form.get('token') ?? '';
    if (!token) return error('NO TOKEN');
    if (!tokens.includes(token)) return error('BAD TOKEN');
    if (cmd !== 'submitcheck') return send(res, 200, 'text/html', 'No command specified or request handler');
    let data: { checkresults?: { hostname?: unknown; servicename?: unknown; state?: unknown; output?: unknown; time?: unknown }[] };
    try {
      data = JSON.parse(json);
      if (!data) throw new Error('empty');
    } catch {
      return error('BAD JSON');
    }
    const results = data.checkresults ?? [];
    for (const cr of results) {
      self.accepted.push({
        host: String(cr.hostname ?? ''), service: String(cr.servicename ?? ''), state: Number(cr.state),
        // NRDP writes the output into a check result file with newlines escaped, as Nagios reads them.
        output: String(cr.output ?? '').replace(/\n/g, '\\n'), time: cr.time === undefined ? undefined : Number(cr.time),
      });
    }
    answer({ status: 0, message: 'OK', meta: { output: `${results.length} checks processed` } });
  }, o);
}

export function startFakeWsArbiter(username = 'anonymous', password = '', o?: ListenOptions): Promise<FakeReceiver> {
  return receiver((req, body, res, self) => {
    if (req.url !== '/push_check_result') return send(res, 404, 'text/html', 'Not found');
    if (req.method !== 'POST') return send(res, 405, 'text/html', 'Method not allowed.');
    const form = new URLSearchParams(body);
    const all = (k: string) => form.getAll(k);
    const [times, hosts, services, codes, outputs] = [all('time_stamp'), all('host_name'), all('service_description'), all('return_code'), all('output')];
    const mismatch = codes.length !== hosts.length; // abort(400) caught by get_page: nothing queued, still 200
    if (username !== 'anonymous') {
      const m = /^Basic (.+)$/.exec(req.headers.authorization ?? '');
      if (!m) return send(res, 401, 'text/html', 'Authentication required');
      const [user, ...rest] = Buffer.from(m[1], 'base64').toString('utf8').split(':');
      if (user !== username || rest.join(':') !== password) return send(res, 403, 'text/html', 'Authentication denied');
    }
    if (!mismatch) {
      codes.forEach((code, i) => self.accepted.push({ host: hosts[i], service: services[i] ?? '', state: Number(code), output: outputs[i] ?? '', time: times[i] === undefined ? undefined : Number(times[i]) }));
    }
    send(res, 200, 'text/html; charset=UTF-8', '');
  }, o);
}

export type FakeKind = 'nrdp' | 'ws_arbiter';

/** A fake receiver in another network namespace (a child process): what it accepted, and a way to wait for it. */
export interface RemoteReceiver {
  url: string;
  accepted: PassiveCheck[];
  /** Resolves once `n` checks were accepted in all; throws with what came after `timeoutMs`. */
  waitAccepted(n: number, timeoutMs?: number): Promise<PassiveCheck[]>;
  stop(): void;
}

const SERVE = new URL('./fake-passive-serve.js', import.meta.url).pathname;

/**
 * startFakeNrdp / startFakeWsArbiter listening on `host` inside the namespace `ns` (the lab's
 * monitoring namespace: reachable from every node namespace, like the real receivers).
 * `args`: the tokens (nrdp) or the user and password (ws_arbiter).
 */
export async function startFakeIn(ns: string, host: string, kind: FakeKind, args: string[], o: { testHook?: boolean } = {}): Promise<RemoteReceiver> {
  const child = spawn('ip', ['netns', 'exec', ns, process.execPath, SERVE, kind, host, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  const accepted: PassiveCheck[] = [];
  let stopped = false;
  const stop = () => { if (!stopped && child.exitCode === null) child.kill('SIGTERM'); stopped = true; };
  if (o.testHook ?? true) after(stop); // outside a test (a bench), the caller stops it
  const port = await new Promise<number>((resolve, reject) => {
    child.on('exit', (code) => reject(new Error(`fake ${kind} in ${ns} exited ${code} before listening`)));
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const msg = JSON.parse(line) as { listening?: number; accepted?: PassiveCheck };
      if (msg.listening) resolve(msg.listening);
      if (msg.accepted) accepted.push(msg.accepted);
    });
  });
  return {
    url: `http://${host}:${port}`,
    accepted,
    stop,
    async waitAccepted(n, timeoutMs = 10_000) {
      const end = Date.now() + timeoutMs;
      while (accepted.length < n) {
        if (Date.now() > end) throw new Error(`fake ${kind}: ${accepted.length} of ${n} checks within ${timeoutMs} ms: ${JSON.stringify(accepted)}`);
        await new Promise((r) => setTimeout(r, 50));
      }
      return accepted;
    },
  };
}
