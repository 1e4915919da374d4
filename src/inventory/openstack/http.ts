/**
 * HTTP for the OpenStack source: one axios instance (and one pair of keep-alive agents) per
 * gather, imported lazily so nothing of axios loads when the source is off. Every failure comes
 * out as a ProbeError whose message is one line naming the service:
 *   openstack: nova: timed out after 10s
 *   openstack: keystone: connection refused (http://127.0.0.1:1/v3)
 *   openstack: keystone: 401 Unauthorized (The request you have made requires authentication.)
 * Non-2xx answers throw ApiError, which keeps the status so the session can tell a 401.
 * Nothing here ever puts a header, a request body or an axios config into a message: they
 * carry the password and the token.
 */
import { readFileSync } from 'node:fs';
import { ProbeError, oneLine } from '../../errors.js';

export type Service = 'keystone' | 'nova' | 'neutron';

/** An HTTP answer outside 2xx. */
export class ApiError extends ProbeError {
  constructor(message: string, readonly status: number) {
    super(message);
  }
}

export interface HttpOptions {
  /** Seconds per request (connect to last byte). */
  timeoutS: number;
  /** CA bundle file; "" = the system's. */
  cacert: string;
  insecure: boolean;
  /** Aborts every request (the probe's deadline, or a sibling request that failed). */
  signal?: AbortSignal;
  /** Epoch ms after which no request may still run (the gather's own budget). */
  deadline?: number;
}

export interface HttpRequest {
  service: Service;
  method: 'GET' | 'POST';
  url: string;
  /** What messages show for this request: the service's base URL, never a query or a body. */
  shownUrl: string;
  headers?: Record<string, string>;
  body?: unknown;
}

export interface HttpResponse {
  status: number;
  headers: Record<string, string | undefined>;
  body: unknown;
}

export interface Http {
  send(req: HttpRequest): Promise<HttpResponse>;
  /** Close the keep-alive sockets, so nothing outlives the gather. */
  close(): void;
}

/** Bounds memory if an endpoint answers with something huge; 200 servers are ~1 MB. */
const MAX_BODY_BYTES = 64 * 1024 * 1024;

const seconds = (ms: number): string => `${Math.round(ms / 100) / 10}s`;

export async function createHttp(opts: HttpOptions): Promise<Http> {
  let ca: Buffer | undefined;
  if (opts.cacert) {
    try {
      ca = readFileSync(opts.cacert);
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      throw new ProbeError(`openstack: cacert ${opts.cacert}: ${e.code === 'ENOENT' ? 'not found' : oneLine(e.message)}`);
    }
  }
  const [{ default: axios }, http, https] = await Promise.all([import('axios'), import('node:http'), import('node:https')]);
  const httpAgent = new http.Agent({ keepAlive: true });
  const httpsAgent = new https.Agent({ keepAlive: true, ca, rejectUnauthorized: !opts.insecure });
  const client = axios.create({
    httpAgent,
    httpsAgent,
    // OpenStack APIs do not redirect; following one would carry X-Auth-Token to another place.
    maxRedirects: 0,
    maxContentLength: MAX_BODY_BYTES,
    // The body is parsed here, so malformed JSON is an error and not a silent string.
    responseType: 'text',
    transformResponse: [(data: unknown) => data],
    validateStatus: () => true,
    headers: { Accept: 'application/json', 'User-Agent': 'lm-probe' },
  });

  async function send(req: HttpRequest): Promise<HttpResponse> {
    const fail = (what: string): never => {
      throw new ProbeError(`openstack: ${req.service}: ${what}`);
    };
    if (opts.signal?.aborted) fail('aborted');
    const remaining = opts.deadline === undefined ? Infinity : opts.deadline - Date.now();
    if (remaining <= 0) fail('no time left for the request');
    const limitMs = Math.min(opts.timeoutS * 1000, remaining);

    // axios' `timeout` is an idle timer on the socket; this one bounds the whole exchange
    // (a server trickling bytes would keep the other alive).
    const abort = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      abort.abort();
    }, limitMs);
    const onOuterAbort = () => abort.abort();
    opts.signal?.addEventListener('abort', onOuterAbort, { once: true });

    let res;
    try {
      res = await client.request<string>({
        method: req.method,
        url: req.url,
        headers: { ...(req.body === undefined ? {} : { 'Content-Type': 'application/json' }), ...req.headers },
        data: req.body === undefined ? undefined : JSON.stringify(req.body),
        signal: abort.signal,
        timeout: limitMs,
      });
    } catch (err) {
      const code = (err as { code?: string })?.code;
      if (timedOut || code === 'ECONNABORTED' || code === 'ETIMEDOUT') return fail(`timed out after ${seconds(limitMs)}`);
      if (opts.signal?.aborted) return fail('aborted');
      return fail(describeNetworkError(err, req.shownUrl));
    } finally {
      clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onOuterAbort);
    }

    const text = typeof res.data === 'string' ? res.data : '';
    const headers: Record<string, string | undefined> = {};
    for (const [k, v] of Object.entries(res.headers ?? {})) headers[k.toLowerCase()] = Array.isArray(v) ? v.join(', ') : v == null ? undefined : String(v);
    if (res.status < 200 || res.status > 299) {
      // Node's reason phrases: a proxy's or HTTP/2's may be empty or odd.
      const reason = http.STATUS_CODES[res.status] ?? (res.statusText || 'HTTP error');
      const detail = errorDetail(text);
      throw new ApiError(`openstack: ${req.service}: ${res.status} ${reason}${detail ? ` (${detail})` : ''}`, res.status);
    }
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      return fail('malformed JSON');
    }
    return { status: res.status, headers, body };
  }

  return {
    send,
    close: () => {
      httpAgent.destroy();
      httpsAgent.destroy();
    },
  };
}

/**
 * The "message" of an OpenStack error body, whichever service wrote it:
 * {"error": {"message"}} (Keystone, keystonemiddleware), {"computeFault": {"message"}} and
 * {"badRequest": ...} (Nova), {"NeutronError": {"message"}} (Neutron). "" when there is none
 * (an HTML page from a proxy, an empty body).
 */
export function errorDetail(text: string): string {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return '';
  }
  if (!body || typeof body !== 'object') return '';
  for (const value of Object.values(body as Record<string, unknown>)) {
    const message = value && typeof value === 'object' ? (value as Record<string, unknown>).message : undefined;
    if (typeof message === 'string' && message.trim()) return oneLine(message, 160);
  }
  const top = (body as Record<string, unknown>).message;
  return typeof top === 'string' && top.trim() ? oneLine(top, 160) : '';
}

const TLS_CODE = /^(CERT_|UNABLE_TO_|DEPTH_ZERO|SELF_SIGNED|ERR_TLS_|ERR_SSL_|EPROTO$)/;

/** A transport failure (no HTTP answer) in words an operator acts on. */
export function describeNetworkError(err: unknown, url: string): string {
  const e = err as { code?: string; message?: string; cause?: { code?: string } };
  const code = e?.code && e.code !== 'ERR_NETWORK' && e.code !== 'ERR_BAD_RESPONSE' ? e.code : e?.cause?.code ?? e?.code ?? '';
  switch (code) {
    case 'ECONNREFUSED': return `connection refused (${url})`;
    case 'ENOTFOUND':
    case 'EAI_AGAIN': return `cannot resolve the host name (${url})`;
    case 'ECONNRESET':
    case 'EPIPE': return `connection reset (${url})`;
    case 'EHOSTUNREACH':
    case 'ENETUNREACH': return `host unreachable (${url})`;
    case 'ERR_INVALID_URL': return `invalid URL (${url})`;
  }
  if (TLS_CODE.test(code)) return `TLS: ${oneLine(e.message ?? code, 120)} (${url})`;
  if (/maxContentLength/.test(e?.message ?? '')) return `answer larger than ${MAX_BODY_BYTES / 1024 / 1024} MiB (${url})`;
  return `${oneLine(e?.message || code || 'request failed', 120)} (${url})`;
}
