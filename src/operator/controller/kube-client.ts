// The operator's one connection to the API server. @kubernetes/client-node loads the
// configuration (in-cluster service account, a kubeconfig file, or KUBECONFIG) and supplies the
// credentials of each request (a service-account token file is re-read as it rotates); the
// requests themselves go over node:https with one keep-alive agent, so that server-side apply,
// the status subresource, watch bookmarks and 410 Gone are handled here, typed, in one place.
import * as https from 'node:https';
import { createInterface } from 'node:readline';
import { KubeConfig } from '@kubernetes/client-node';

export interface KubeRequest {
  query?: Record<string, string | number | boolean | undefined>;
  body?: unknown;
  /** Content type of `body`; application/json by default. */
  contentType?: string;
  signal?: AbortSignal;
  /** Give up when the connection is idle this long (default 60 s). */
  idleTimeoutMs?: number;
}

/** A status the API server answered with (its Status object's reason and message; never a request body). */
export class KubeApiError extends Error {
  readonly status: number;
  readonly reason: string;
  constructor(method: string, path: string, status: number, reason: string, message: string) {
    super(`${method} ${path}: ${status} ${reason}${message ? `: ${message}` : ''}`);
    this.name = 'KubeApiError';
    this.status = status;
    this.reason = reason;
  }
}

export interface WatchEvent {
  type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';
  object: Record<string, unknown>;
}

export interface KubeConfigSource {
  /** A kubeconfig file. */
  kubeconfig?: string;
  /** Use the pod's service account (in-cluster). Without either: in-cluster when in a pod, else KUBECONFIG or ~/.kube/config. */
  inCluster?: boolean;
}

export function loadKubeConfig(src: KubeConfigSource = {}): KubeConfig {
  const kc = new KubeConfig();
  if (src.kubeconfig) kc.loadFromFile(src.kubeconfig);
  else if (src.inCluster) kc.loadFromCluster();
  else kc.loadFromDefault();
  if (!kc.getCurrentCluster()) throw new Error('kubeconfig: no current cluster');
  return kc;
}

export class KubeClient {
  readonly config: KubeConfig;
  readonly server: URL;
  #agent: https.Agent | undefined;

  constructor(config: KubeConfig) {
    this.config = config;
    this.server = new URL(config.getCurrentCluster()!.server);
  }

  /** TLS material once, for one keep-alive agent; headers (the bearer token) per request. */
  async #options(): Promise<{ agent: https.Agent; headers: Record<string, string> }> {
    const opts: https.RequestOptions & { headers?: Record<string, string> } = {};
    await this.config.applyToHTTPSOptions(opts);
    if (!this.#agent) {
      this.#agent = new https.Agent({
        keepAlive: true,
        ca: opts.ca,
        cert: opts.cert,
        key: opts.key,
        ...(opts.rejectUnauthorized === undefined ? {} : { rejectUnauthorized: opts.rejectUnauthorized }),
        ...(opts.servername ? { servername: opts.servername } : {}),
      });
    }
    const headers: Record<string, string> = { ...(opts.headers ?? {}) };
    if (opts.auth) headers['Authorization'] = `Basic ${Buffer.from(opts.auth).toString('base64')}`;
    return { agent: this.#agent, headers };
  }

  #url(path: string, query?: KubeRequest['query']): URL {
    const url = new URL(path, this.server);
    for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined) url.searchParams.set(k, String(v));
    return url;
  }

  /** One request; JSON answers parsed. Throws KubeApiError on a status >= 400. */
  async request<T = unknown>(method: string, path: string, req: KubeRequest = {}): Promise<T> {
    const { agent, headers } = await this.#options();
    const url = this.#url(path, req.query);
    const payload = req.body === undefined ? undefined : typeof req.body === 'string' ? req.body : JSON.stringify(req.body);
    return new Promise<T>((resolve, reject) => {
      const r = https.request(
        url,
        {
          method,
          agent,
          headers: { ...headers, Accept: 'application/json', ...(payload === undefined ? {} : { 'Content-Type': req.contentType ?? 'application/json', 'Content-Length': Buffer.byteLength(payload) }) },
          signal: req.signal,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('error', reject);
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            const status = res.statusCode ?? 0;
            if (status >= 400) return reject(apiError(method, url.pathname, status, text));
            try {
              resolve((text ? JSON.parse(text) : undefined) as T);
            } catch {
              reject(new KubeApiError(method, url.pathname, status, 'BadResponse', 'the answer is not JSON'));
            }
          });
        },
      );
      r.setTimeout(req.idleTimeoutMs ?? 60_000, () => r.destroy(new Error(`${method} ${url.pathname}: no answer within ${req.idleTimeoutMs ?? 60_000} ms`)));
      r.on('error', reject);
      r.end(payload);
    });
  }

  /**
   * A watch: calls `onEvent` for each event until the server ends the stream (resolves) or the
   * connection fails (rejects). A non-200 answer rejects with KubeApiError (410 when the
   * resourceVersion is too old). `signal` ends it (resolves). A connection silent for
   * `idleTimeoutMs` (default 10 min; the server's own timeout should come first) is dropped (rejects).
   */
  async watch(path: string, query: KubeRequest['query'], onEvent: (e: WatchEvent) => void, signal: AbortSignal, idleTimeoutMs = 600_000): Promise<void> {
    const { agent, headers } = await this.#options();
    const url = this.#url(path, { ...query, watch: true });
    return new Promise<void>((resolve, reject) => {
      if (signal.aborted) return resolve();
      const r = https.request(url, { method: 'GET', agent, headers: { ...headers, Accept: 'application/json' } }, (res) => {
        const status = res.statusCode ?? 0;
        if (status !== 200) {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => reject(apiError('WATCH', url.pathname, status, Buffer.concat(chunks).toString('utf8'))));
          res.on('error', reject);
          return;
        }
        const lines = createInterface({ input: res, crlfDelay: Infinity });
        // readline re-emits its input's errors; they are handled on `res` below.
        lines.on('error', () => {});
        let failed = false;
        lines.on('line', (line) => {
          if (failed || !line) return;
          try {
            onEvent(JSON.parse(line) as WatchEvent);
          } catch (err) {
            failed = true;
            r.destroy();
            reject(err);
          }
        });
        res.on('error', (err) => (signal.aborted ? resolve() : reject(err)));
        res.on('close', () => resolve());
      });
      const abort = (): void => {
        r.destroy();
        resolve();
      };
      signal.addEventListener('abort', abort, { once: true });
      r.setTimeout(idleTimeoutMs, () => r.destroy(new Error(`watch ${url.pathname}: silent for ${idleTimeoutMs} ms`)));
      r.on('error', (err) => (signal.aborted ? resolve() : reject(err)));
      r.on('close', () => signal.removeEventListener('abort', abort));
      r.end();
    });
  }

  close(): void {
    this.#agent?.destroy();
  }
}

function apiError(method: string, path: string, status: number, text: string): KubeApiError {
  let reason = '';
  let message = '';
  try {
    const s = JSON.parse(text) as { reason?: string; message?: string };
    reason = s.reason ?? '';
    message = s.message ?? '';
  } catch {
    // Not a Status object: keep the status code alone.
  }
  // API server messages name objects and fields, not their values; cut them short anyway.
  return new KubeApiError(method, path, status, reason || 'Error', message.slice(0, 500));
}

export function isNotFound(err: unknown): boolean {
  return err instanceof KubeApiError && err.status === 404;
}
export function isConflict(err: unknown): boolean {
  return err instanceof KubeApiError && err.status === 409;
}
export function isGone(err: unknown): boolean {
  return err instanceof KubeApiError && err.status === 410;
}
