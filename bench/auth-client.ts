// A minimal Kafka client for the security benchmarks (bench/auth.ts, bench/auth-load.ts): one
// connection over TCP or TLS, requests encoded and responses decoded with the broker's own codec
// (src/broker/kafka/protocol), and the SASL exchanges PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512.
// The same client serves every case, so a difference between cases is the broker's.
//
// Contract:
// - Requests may be pipelined; responses come back in request order (Kafka's rule), and each
//   must carry the correlation id of the oldest request in flight, or the connection fails.
// - A response frame (and anything decoded from it that points into it, like Fetch records) is
//   valid until the socket's next data event: frames that span chunks are assembled in one
//   reused buffer.
// - `sendFrame` writes a pre-encoded request after rewriting only its correlation id: the load
//   generators build one frame and reuse it, so the client costs (almost) nothing per request.
// - SCRAM (RFC 5802): the client caches SaltedPassword per (mechanism, password, salt,
//   iterations), as the RFC allows (section 5.1), so a login costs the client two HMACs and a
//   hash instead of 8,192 PBKDF2 rounds; the broker stores StoredKey/ServerKey and never runs
//   PBKDF2 for a SCRAM login, so this keeps the client from being what a login rate measures.
//   The server's signature in server-final is checked in constant time.
// - A refused login resolves as `{ ok: false }` (the broker answers, then closes); anything
//   else unexpected rejects.
// - Passwords never appear in an error message.
import { createHash, createHmac, pbkdf2Sync, randomBytes, timingSafeEqual } from 'node:crypto';
import { connect as tcpConnect, type Socket } from 'node:net';
import { connect as tlsConnect, createSecureContext, type SecureContext } from 'node:tls';
import { KafkaErrorCode } from '../src/kafka/error-codes.ts';
import { ApiKey, decodeResponse, encodeRequest, type ApiKeyValue, type ApiNameOf, type RequestBodyInput, type ResponseBody } from '../src/kafka/index.ts';

export const BENCH_CLIENT_ID = 'bulwark-bench-auth';
/** Offset of the correlation id in an encoded request: size:int32 apiKey:int16 apiVersion:int16. */
export const CORRELATION_ID_AT = 8;
export const API_VERSIONS_VERSION = 2;
const SASL_HANDSHAKE_VERSION = 1;
const SASL_AUTHENTICATE_VERSION = 1;
const MAX_RESPONSE_BYTES = 64 << 20;

export type SaslMechanism = 'PLAIN' | 'SCRAM-SHA-256' | 'SCRAM-SHA-512';

export interface WireOptions {
  host: string;
  port: number;
  /** PEM of the CA that signed the broker's certificate: connect with TLS. Left out, plain TCP. */
  tlsCa?: string;
  /** Source address to connect from (any 127.x.y.z on loopback): spreads logins over addresses. */
  localAddress?: string;
  connectTimeoutMs?: number;
}

/** One client TLS context per CA: building one per connection (parsing the CA) doubled the client's cost of a TLS login. */
const secureContexts = new Map<string, SecureContext>();
function secureContextFor(ca: string): SecureContext {
  let ctx = secureContexts.get(ca);
  if (!ctx) secureContexts.set(ca, (ctx = createSecureContext({ ca })));
  return ctx;
}

type Pending = { corr: number; onFrame: (frame: Buffer) => void; onError: (err: Error) => void };

/** One Kafka connection: pipelined requests, responses in order. */
export class KafkaWire {
  readonly socket: Socket;
  readonly #pending: Pending[] = [];
  #head = 0;
  #chunks: Buffer[] = [];
  #buffered = 0;
  /** Size of the frame being received, once its 4 size bytes are in. */
  #need = -1;
  #assembly = Buffer.alloc(0);
  #nextCorr = 1;
  #failed: Error | undefined;

  private constructor(socket: Socket) {
    this.socket = socket;
    socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    socket.on('error', (err) => this.#fail(err));
    socket.on('close', () => this.#fail(new Error('the broker closed the connection')));
  }

  /** Opens a connection; resolves once TCP (and TLS, when asked) is established. */
  static open(o: WireOptions): Promise<KafkaWire> {
    return new Promise((resolve, reject) => {
      const base = { host: o.host, port: o.port, ...(o.localAddress ? { localAddress: o.localAddress } : {}) };
      const socket = o.tlsCa !== undefined ? tlsConnect({ ...base, secureContext: secureContextFor(o.tlsCa) }) : tcpConnect(base);
      const timer = setTimeout(() => done(new Error(`no connection in ${o.connectTimeoutMs ?? 10_000} ms`)), o.connectTimeoutMs ?? 10_000);
      const done = (err: Error | null) => {
        clearTimeout(timer);
        socket.off('error', done);
        if (err) {
          socket.destroy();
          reject(err);
        } else {
          socket.setNoDelay(true);
          resolve(new KafkaWire(socket));
        }
      };
      socket.once(o.tlsCa !== undefined ? 'secureConnect' : 'connect', () => done(null));
      socket.once('error', done);
    });
  }

  get inFlight(): number {
    return this.#pending.length - this.#head;
  }

  /** Writes a pre-encoded request frame after setting its correlation id; `onFrame` gets the response frame (without its size). */
  sendFrame(frame: Buffer, onFrame: (frame: Buffer) => void, onError: (err: Error) => void): void {
    if (this.#failed) return onError(this.#failed);
    const corr = this.#nextCorr;
    this.#nextCorr = corr === 0x7fff_ffff ? 1 : corr + 1;
    frame.writeInt32BE(corr, CORRELATION_ID_AT);
    this.#pending.push({ corr, onFrame, onError });
    this.socket.write(frame);
  }

  /** One request, encoded here, and its decoded response. */
  call<K extends ApiKeyValue>(apiKey: K, apiVersion: number, body: RequestBodyInput<ApiNameOf<K>>): Promise<ResponseBody<ApiNameOf<K>>> {
    return new Promise((resolve, reject) => {
      const frame = encodeRequest({ apiKey, apiVersion, correlationId: 0, clientId: BENCH_CLIENT_ID }, body);
      this.sendFrame(
        frame,
        (response) => {
          try {
            resolve(decodeResponse(response, apiKey, apiVersion).body);
          } catch (err) {
            reject(err as Error);
          }
        },
        reject,
      );
    });
  }

  /** Ends the connection (FIN); pending requests fail. */
  close(): void {
    this.socket.end();
    this.socket.destroySoon?.();
  }

  destroy(): void {
    this.socket.destroy();
  }

  #onData(chunk: Buffer): void {
    // Requests sent from the response handlers of one chunk leave together (one writev).
    this.socket.cork();
    try {
      this.#frames(chunk);
    } finally {
      this.socket.uncork();
    }
  }

  /** Splits the byte stream into response frames; a frame that spans chunks is copied once. */
  #frames(chunk: Buffer): void {
    this.#chunks.push(chunk);
    this.#buffered += chunk.length;
    for (;;) {
      if (this.#need < 0) {
        if (this.#buffered < 4) return;
        const size = this.#take(4).readInt32BE(0);
        if (size < 4 || size > MAX_RESPONSE_BYTES) return this.#fail(new Error(`response frame size ${size}`));
        this.#need = size;
      }
      if (this.#buffered < this.#need) return;
      const frame = this.#take(this.#need);
      this.#need = -1;
      const head = this.#pending[this.#head];
      if (!head) return this.#fail(new Error('a response with nothing in flight'));
      const corr = frame.readInt32BE(0);
      if (corr !== head.corr) return this.#fail(new Error(`correlation id ${corr}, expected ${head.corr}`));
      this.#head++;
      if (this.#head > 1024 && this.#head * 2 > this.#pending.length) {
        this.#pending.splice(0, this.#head);
        this.#head = 0;
      }
      head.onFrame(frame);
      if (this.#failed) return;
    }
  }

  #take(n: number): Buffer {
    const first = this.#chunks[0]!;
    let out: Buffer;
    if (first.length >= n) {
      out = first.subarray(0, n);
      if (first.length === n) this.#chunks.shift();
      else this.#chunks[0] = first.subarray(n);
    } else {
      // One assembly buffer, reused: a fresh 1 MiB buffer per Fetch answer made the consumer
      // GC-bound (38% of its time in a profile). Valid until the next data event, by when every
      // handler (and the promise continuations it resolved) has run.
      if (this.#assembly.length < n) this.#assembly = Buffer.allocUnsafe(Math.max(n, 2 * this.#assembly.length));
      out = this.#assembly.subarray(0, n);
      let copied = 0;
      while (copied < n) {
        const c = this.#chunks[0]!;
        const part = Math.min(c.length, n - copied);
        c.copy(out, copied, 0, part);
        copied += part;
        if (part === c.length) this.#chunks.shift();
        else this.#chunks[0] = c.subarray(part);
      }
    }
    this.#buffered -= n;
    return out;
  }

  #fail(err: Error): void {
    if (this.#failed) return;
    this.#failed = err;
    const pending = this.#pending.splice(this.#head);
    this.#head = 0;
    this.#pending.length = 0;
    for (const p of pending) p.onError(err);
    this.socket.destroy();
  }
}

/** ApiVersions, as every Kafka client sends it first; fails unless the broker accepts the versions asked for. */
export async function apiVersions(wire: KafkaWire, need: readonly (readonly [number, number])[] = []): Promise<void> {
  const av = await wire.call(ApiKey.ApiVersions, API_VERSIONS_VERSION, {});
  if (av.errorCode !== KafkaErrorCode.NONE) throw new Error(`ApiVersions v${API_VERSIONS_VERSION}: error ${av.errorCode}`);
  for (const [key, v] of need) {
    const r = av.apiKeys.find((k) => k.apiKey === key);
    if (!r || v < r.minVersion || v > r.maxVersion) throw new Error(`the broker does not accept API ${key} v${v}`);
  }
}

// --- SASL ------------------------------------------------------------------------------------------

const SCRAM_HASH = { 'SCRAM-SHA-256': { alg: 'sha256', size: 32 }, 'SCRAM-SHA-512': { alg: 'sha512', size: 64 } } as const;

/** SaltedPassword by (mechanism, password, salt, iterations): RFC 5802 section 5.1 lets clients cache it. */
export class ScramKeyCache {
  readonly #salted = new Map<string, Buffer>();

  salted(mechanism: 'SCRAM-SHA-256' | 'SCRAM-SHA-512', password: string, salt: string, iterations: number): Buffer {
    const key = createHash('sha256').update(`${mechanism}\0${salt}\0${iterations}\0`).update(password).digest('base64');
    let v = this.#salted.get(key);
    if (!v) {
      const h = SCRAM_HASH[mechanism];
      v = pbkdf2Sync(Buffer.from(password, 'utf8'), Buffer.from(salt, 'base64'), iterations, h.size, h.alg);
      this.#salted.set(key, v);
    }
    return v;
  }
}

export type LoginResult = { ok: true } | { ok: false; errorCode: number };

const saslName = (name: string) => name.replace(/=/g, '=3D').replace(/,/g, '=2C');

async function authenticateStep(wire: KafkaWire, bytes: Buffer) {
  return wire.call(ApiKey.SaslAuthenticate, SASL_AUTHENTICATE_VERSION, { authBytes: bytes });
}

/** SaslHandshake then SaslAuthenticate until the exchange ends. */
export async function saslLogin(wire: KafkaWire, mechanism: SaslMechanism, username: string, password: string, cache: ScramKeyCache): Promise<LoginResult> {
  const hs = await wire.call(ApiKey.SaslHandshake, SASL_HANDSHAKE_VERSION, { mechanism });
  if (hs.errorCode !== KafkaErrorCode.NONE) throw new Error(`SaslHandshake ${mechanism}: error ${hs.errorCode} (the broker offers ${hs.mechanisms.join(', ')})`);
  if (mechanism === 'PLAIN') {
    const r = await authenticateStep(wire, Buffer.from(`\0${username}\0${password}`, 'utf8'));
    return r.errorCode === KafkaErrorCode.NONE ? { ok: true } : { ok: false, errorCode: r.errorCode };
  }
  const h = SCRAM_HASH[mechanism];
  const nonce = randomBytes(24).toString('base64');
  const bare = `n=${saslName(username)},r=${nonce}`;
  const first = await authenticateStep(wire, Buffer.from(`n,,${bare}`, 'utf8'));
  if (first.errorCode !== KafkaErrorCode.NONE) return { ok: false, errorCode: first.errorCode };
  const serverFirst = first.authBytes.toString('utf8');
  const attrs = new Map(serverFirst.split(',').map((a) => [a.slice(0, 1), a.slice(2)] as const));
  const combined = attrs.get('r') ?? '';
  const salt = attrs.get('s');
  const iterations = Number(attrs.get('i'));
  if (!combined.startsWith(nonce) || combined.length <= nonce.length || !salt || !Number.isInteger(iterations) || iterations < 1) throw new Error('malformed SCRAM server-first message');
  const salted = cache.salted(mechanism, password, salt, iterations);
  const withoutProof = `c=biws,r=${combined}`;
  const authMessage = `${bare},${serverFirst},${withoutProof}`;
  const clientKey = createHmac(h.alg, salted).update('Client Key').digest();
  const storedKey = createHash(h.alg).update(clientKey).digest();
  const signature = createHmac(h.alg, storedKey).update(authMessage).digest();
  for (let i = 0; i < clientKey.length; i++) clientKey[i]! ^= signature[i]!;
  const final = await authenticateStep(wire, Buffer.from(`${withoutProof},p=${clientKey.toString('base64')}`, 'utf8'));
  if (final.errorCode !== KafkaErrorCode.NONE) return { ok: false, errorCode: final.errorCode };
  const serverKey = createHmac(h.alg, salted).update('Server Key').digest();
  const expected = Buffer.from(`v=${createHmac(h.alg, serverKey).update(authMessage).digest('base64')}`, 'utf8');
  if (final.authBytes.length !== expected.length || !timingSafeEqual(final.authBytes, expected)) throw new Error('the SCRAM server signature does not verify');
  return { ok: true };
}

// --- measurements ----------------------------------------------------------------------------------

/** Percentiles of a sample (sorted in place), in the sample's unit. */
export function percentiles(xs: Float64Array | number[], ps: readonly number[]): number[] {
  const s = xs instanceof Float64Array ? xs.sort() : Float64Array.from(xs).sort();
  if (s.length === 0) return ps.map(() => NaN);
  return ps.map((p) => s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!);
}

export const round = (x: number, d = 1) => Math.round(x * 10 ** d) / 10 ** d;
