// The HTTPS client of the internal listener's contracts (the policy push in policy/, the cluster
// state and topic requests in cluster/): a client certificate, TLS material passed in as PEM, a
// deadline, and an answer that is a value, never a throw. Error messages name the broker and
// what went wrong, never a body's contents or any key material.
import { request } from 'node:https';
import { z } from 'zod';

/** A broker's internal listener. `servername`: the name its certificate is checked against, when `host` is not it. */
export interface DistributionTarget {
  host: string;
  port: number;
  servername?: string;
}

/** The client's TLS material, as PEM: the CA that signed the brokers' certificates, and the operator's certificate and key. */
export interface DistributionTls {
  ca: string | Buffer;
  cert: string | Buffer;
  key: string | Buffer;
}

export interface DistributionOptions {
  /** Deadline for the whole exchange, connection and TLS handshake included. Default 10 s. */
  timeoutMs?: number;
  signal?: AbortSignal;
}

export const DEFAULT_TIMEOUT_MS = 10_000;

/** Every error answer of the internal listener: a coded error (src/lib/errors.ts). */
export const errorBody = z.object({ code: z.string(), message: z.string() });

/**
 * A errorFromAnswer, coded. `code` is the broker's (BWK_ERR_…) when it answered with an error body;
 * BWK_ERR_INTERNAL when its answer was outside this contract; otherwise the transport's: Node's
 * code (ECONNREFUSED, ECONNRESET, EPROTO, ERR_SSL_…, UNABLE_TO_VERIFY_LEAF_SIGNATURE, …),
 * ETIMEDOUT for the deadline, ABORT_ERR for the signal. `status` is set when the broker answered.
 */
export interface DistributionError {
  code: string;
  message: string;
  status?: number;
}

/** The code of an answer outside this contract (a 5xx from the broker carries it too). */
export const UNEXPECTED_ANSWER_CODE = 'BWK_ERR_INTERNAL';

/** The largest answer read: the contract's bodies are a few hundred bytes. */
const MAX_ANSWER_BYTES = 64 << 10;
const MAX_MESSAGE_CHARS = 1000;

export type InternalAnswer = { ok: true; status: number; json: unknown } | { ok: false; error: DistributionError };

export const describeTarget = (t: DistributionTarget) => `broker ${t.host}:${t.port}`;
export const boundMessage = (s: string) => (s.length > MAX_MESSAGE_CHARS ? `${s.slice(0, MAX_MESSAGE_CHARS)}…` : s);

export function errorFromAnswer(target: DistributionTarget, status: number, json: unknown): DistributionError {
  const parsed = errorBody.safeParse(json);
  if (!parsed.success) return { code: UNEXPECTED_ANSWER_CODE, status, message: `${describeTarget(target)} answered HTTP ${status} without a coded error` };
  return { code: parsed.data.code, status, message: boundMessage(parsed.data.message) };
}

export function answerOutsideContract(target: DistributionTarget, status: number, error: z.ZodError): DistributionError {
  const first = error.issues[0];
  const at = first ? `${first.path.join('.') || '<root>'}: ${first.message}` : 'not JSON';
  return { code: UNEXPECTED_ANSWER_CODE, status, message: boundMessage(`${describeTarget(target)} answered HTTP ${status} outside the contract (${at})`) };
}

/** One HTTPS exchange with a deadline. Resolves, never rejects. */
export function callInternal(route: { method: string; path: string }, target: DistributionTarget, tls: DistributionTls, body: string | undefined, opts: DistributionOptions): Promise<InternalAnswer> {
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const name = `${route.method} ${route.path} on ${describeTarget(target)}`;
  return new Promise((resolve) => {
    let settled = false;
    let timer: NodeJS.Timeout | undefined;
    let req: ReturnType<typeof request> | undefined;
    const settle = (answer: InternalAnswer) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
      resolve(answer);
    };
    const fail = (code: string, message: string) => {
      settle({ ok: false, error: { code, message: boundMessage(`${name}: ${message}`) } });
      req?.destroy();
    };
    const onAbort = () => fail('ABORT_ERR', 'aborted');
    try {
      req = request(
        {
          host: target.host,
          port: target.port,
          ...(target.servername !== undefined ? { servername: target.servername } : {}),
          method: route.method,
          path: route.path,
          ca: tls.ca,
          cert: tls.cert,
          key: tls.key,
          rejectUnauthorized: true,
          agent: false,
          headers: body === undefined ? { accept: 'application/json' } : { accept: 'application/json', 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
        },
        (res) => {
          const chunks: Buffer[] = [];
          let size = 0;
          res.on('data', (chunk: Buffer) => {
            size += chunk.length;
            if (size > MAX_ANSWER_BYTES) {
              // Far larger than any answer of the contract: read as one outside it.
              settle({ ok: true, status: res.statusCode ?? 0, json: undefined });
              req?.destroy();
            } else chunks.push(chunk);
          });
          res.on('error', (err: NodeJS.ErrnoException) => fail(err.code ?? 'ECONNRESET', err.message));
          res.on('end', () => {
            let json: unknown;
            try {
              json = JSON.parse(Buffer.concat(chunks).toString('utf8'));
            } catch {
              json = undefined;
            }
            settle({ ok: true, status: res.statusCode ?? 0, json });
          });
        },
      );
    } catch (err) {
      // Unusable TLS material (a PEM that does not parse) fails here; OpenSSL's message does not quote it.
      return fail((err as NodeJS.ErrnoException).code ?? 'ERR_TLS_MATERIAL', (err as Error).message);
    }
    // Node's messages name the peer and the TLS alert, never the certificate or key.
    req.on('error', (err: NodeJS.ErrnoException) => fail(err.code ?? 'ECONNRESET', err.message));
    timer = setTimeout(() => fail('ETIMEDOUT', `no answer within ${timeoutMs} ms`), timeoutMs);
    if (opts.signal?.aborted) return onAbort();
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    req.end(body);
  });
}
