// A Kafka client with nothing in between, for the tests and the benchmarks: one socket (TCP or
// TLS), requests encoded and responses decoded by the broker's own codec (src/kafka), and the
// SASL exchanges PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512 done by hand. It sends exactly the API
// and version it is told to, and tells a broker that answered from one that closed the
// connection. The same client serves every test and benchmark, so a difference between cases
// is the broker's.
//
// Contract:
// - Requests may be pipelined; responses come back in request order (Kafka's rule), and each
//   must carry the correlation id of the oldest request in flight, or the connection fails
//   (every request in flight rejects, the socket is destroyed).
// - When the connection closes (either side, or a reset), every request in flight rejects with
//   ConnectionClosedError, and so does every later one. `closedAt` resolves with the time it
//   closed; `closesWithin(ms)` tells whether it does within ms.
// - `sendFrame` writes a pre-encoded request after rewriting only its correlation id (bytes
//   8..11): the load generators build one frame and reuse it, so the client costs (almost)
//   nothing per request. Response handlers of one socket read run corked: the requests they
//   send leave together (one writev).
// - A response frame is the frame without its size prefix, correlation id first. By default
//   every frame is its own memory. With `reuseBuffers`, a frame that spans socket chunks is
//   assembled in one reused buffer and is valid only until the socket's next data event (and so
//   is anything decoded from it that points into it, like Fetch records): the benchmarks' Fetch
//   consumer was GC-bound on a fresh 1 MiB buffer per answer.
// - SCRAM (RFC 5802, no channel binding, gs2 header "n,,"): the server's signature in
//   server-final is checked in constant time, so a login that "succeeds" against a broker that
//   does not know the password throws. With a ScramKeyCache the client keeps SaltedPassword per
//   (mechanism, password, salt, iterations), as the RFC allows (section 5.1), so a login costs
//   the client two HMACs and a hash instead of thousands of PBKDF2 rounds.
// - A refused login resolves with the broker's error code and message; only a broken exchange
//   (a malformed server-first, a wrong server signature, a closed connection) rejects. Passwords
//   never appear in an error message.
import { createHash, createHmac, pbkdf2Sync, randomBytes, timingSafeEqual } from 'node:crypto';
import { connect as tcpConnect, type Socket } from 'node:net';
import { connect as tlsConnect, createSecureContext, type SecureContext } from 'node:tls';
import { ApiKey, decodeResponse, encodeRequest, KafkaErrorCode, type ApiKeyValue, type ApiNameOf, type RequestBodyInput, type ResponseBody } from '../../src/kafka/index.ts';
import { buildRecordBatch } from '../../src/log/index.ts';

export const DEFAULT_CLIENT_ID = 'bulwark-kafka-wire';
/** Offset of the correlation id in an encoded request: size:int32 apiKey:int16 apiVersion:int16. */
export const CORRELATION_ID_AT = 8;
export const API_VERSIONS_VERSION = 2;
const MAX_RESPONSE_BYTES = 64 << 20;

export type ScramMechanism = 'SCRAM-SHA-256' | 'SCRAM-SHA-512';
export type SaslMechanism = 'PLAIN' | ScramMechanism;

/** The broker closed the connection (or it failed) before answering this request. */
export class ConnectionClosedError extends Error {
  constructor(what: string, options?: { cause?: unknown }) {
    super(`the broker closed the connection before answering ${what}`, options);
    this.name = 'ConnectionClosedError';
  }
}

export interface ConnectOptions {
  /** Default 127.0.0.1. */
  host?: string;
  /** Connect with TLS, trusting this CA (PEM); the server certificate must name `host`. A client certificate and key (PEM) for mTLS. */
  tls?: { ca: string; cert?: string; key?: string };
  /** The name the server certificate must carry, when `host` is an address that it does not (a pod IP). */
  servername?: string;
  /** Source address to connect from (any 127.x.y.z on loopback): spreads logins over addresses. */
  localAddress?: string;
  /** Default 10 s. */
  connectTimeoutMs?: number;
  /** The client id of the requests this client encodes; default DEFAULT_CLIENT_ID. */
  clientId?: string;
  /** Assemble frames that span chunks in one reused buffer (see the contract above). Default false. */
  reuseBuffers?: boolean;
}

/** The end of a login: errorCode 0 when it succeeded, else the broker's error (and message) at `step`. */
export interface LoginResult {
  errorCode: number;
  errorMessage: string | null;
  step: 'handshake' | 'authenticate';
  /** The mechanisms the broker's SaslHandshake answer offered. */
  mechanisms: string[];
  /** SaslAuthenticate v1+: how long the login lasts before the client must re-authenticate; 0 for no limit. */
  sessionLifetimeMs?: number;
}

export interface LoginOptions {
  /** SaslHandshake version, default 1. */
  handshake?: number;
  /** SaslAuthenticate version, default 1. */
  authenticate?: number;
  /** SCRAM only: keep SaltedPassword between logins. */
  keyCache?: ScramKeyCache;
}

/** One client TLS context per CA: building one per connection (parsing the CA) doubled the client's cost of a TLS login. */
const secureContexts = new Map<string, SecureContext>();
function secureContextFor(tls: NonNullable<ConnectOptions['tls']>): SecureContext {
  if (tls.cert !== undefined) return createSecureContext({ ca: tls.ca, cert: tls.cert, ...(tls.key !== undefined ? { key: tls.key } : {}) });
  let ctx = secureContexts.get(tls.ca);
  if (!ctx) secureContexts.set(tls.ca, (ctx = createSecureContext({ ca: tls.ca })));
  return ctx;
}

interface Pending {
  corr: number;
  apiKey: number;
  apiVersion: number;
  onFrame: (frame: Buffer) => void;
  onError: (err: Error) => void;
}

const describe = (apiKey: number, apiVersion: number) => `api ${apiKey} v${apiVersion}`;

/** One Kafka connection: pipelined requests, responses in order. */
export class KafkaWireClient {
  readonly socket: Socket;
  /** Resolves with the time (Date.now()) the connection closed, by either side. */
  readonly closedAt: Promise<number>;
  readonly clientId: string;
  readonly #reuseBuffers: boolean;
  readonly #pending: Pending[] = [];
  #head = 0;
  #chunks: Buffer[] = [];
  #buffered = 0;
  /** Size of the frame being received, once its 4 size bytes are in. */
  #need = -1;
  #assembly = Buffer.alloc(0);
  #nextCorr = 1;
  #failed: ((what: string) => Error) | undefined;
  #closed = false;
  #socketError: Error | undefined;

  private constructor(socket: Socket, opts: ConnectOptions) {
    this.socket = socket;
    this.clientId = opts.clientId ?? DEFAULT_CLIENT_ID;
    this.#reuseBuffers = opts.reuseBuffers ?? false;
    this.closedAt = new Promise((resolve) =>
      socket.once('close', () => {
        this.#closed = true;
        resolve(Date.now());
      }),
    );
    socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    // A reset is reported as the connection closing, with the socket error as its cause.
    socket.on('error', (err) => {
      this.#socketError ??= err;
      this.#fail((what) => new ConnectionClosedError(what, { cause: err }));
    });
    socket.once('close', () => this.#fail((what) => new ConnectionClosedError(what, this.#socketError ? { cause: this.#socketError } : {})));
  }

  /** Opens a connection; resolves once TCP (and TLS, when asked) is established. */
  static connect(port: number, opts: ConnectOptions = {}): Promise<KafkaWireClient> {
    const timeoutMs = opts.connectTimeoutMs ?? 10_000;
    return new Promise((resolve, reject) => {
      const base = { host: opts.host ?? '127.0.0.1', port, ...(opts.localAddress ? { localAddress: opts.localAddress } : {}) };
      const socket = opts.tls ? tlsConnect({ ...base, secureContext: secureContextFor(opts.tls), ...(opts.servername ? { servername: opts.servername } : {}) }) : tcpConnect(base);
      const timer = setTimeout(() => done(new Error(`no connection to ${base.host}:${port} in ${timeoutMs} ms`)), timeoutMs);
      const done = (err: Error | null) => {
        clearTimeout(timer);
        socket.off('error', done);
        if (err) {
          socket.destroy();
          reject(err);
        } else {
          socket.setNoDelay(true);
          resolve(new KafkaWireClient(socket, opts));
        }
      };
      socket.once(opts.tls ? 'secureConnect' : 'connect', () => done(null));
      socket.once('error', done);
    });
  }

  /** Whether the connection has closed. */
  get isClosed(): boolean {
    return this.#closed;
  }

  get inFlight(): number {
    return this.#pending.length - this.#head;
  }

  /** Writes a pre-encoded request frame after setting its correlation id; `onFrame` gets the response frame (without its size). */
  sendFrame(frame: Buffer, onFrame: (frame: Buffer) => void, onError: (err: Error) => void): void {
    const apiKey = frame.readInt16BE(4);
    const apiVersion = frame.readInt16BE(6);
    if (this.#failed) return onError(this.#failed(describe(apiKey, apiVersion)));
    const corr = this.#nextCorr;
    this.#nextCorr = corr === 0x7fff_ffff ? 1 : corr + 1;
    frame.writeInt32BE(corr, CORRELATION_ID_AT);
    this.#pending.push({ corr, apiKey, apiVersion, onFrame, onError });
    this.socket.write(frame);
  }

  /** Sends one request and resolves to its response frame (correlation id first, no size prefix). */
  requestFrame<K extends ApiKeyValue>(apiKey: K, apiVersion: number, body: RequestBodyInput<ApiNameOf<K>>): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      const frame = encodeRequest({ apiKey, apiVersion, correlationId: 0, clientId: this.clientId }, body);
      this.sendFrame(frame, resolve, reject);
    });
  }

  /** Sends one request and decodes its response. */
  request<K extends ApiKeyValue>(apiKey: K, apiVersion: number, body: RequestBodyInput<ApiNameOf<K>>): Promise<ResponseBody<ApiNameOf<K>>> {
    return new Promise((resolve, reject) => {
      const frame = encodeRequest({ apiKey, apiVersion, correlationId: 0, clientId: this.clientId }, body);
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

  /** ApiVersions (v2), as every Kafka client sends it first; rejects unless the broker accepts the [apiKey, version] pairs asked for. */
  async apiVersions(need: readonly (readonly [number, number])[] = []): Promise<ResponseBody<'ApiVersions'>> {
    const av = await this.request(ApiKey.ApiVersions, API_VERSIONS_VERSION, {});
    if (av.errorCode !== KafkaErrorCode.NONE) throw new Error(`ApiVersions v${API_VERSIONS_VERSION}: error ${av.errorCode}`);
    for (const [key, v] of need) {
      const r = av.apiKeys.find((k) => k.apiKey === key);
      if (!r || v < r.minVersion || v > r.maxVersion) throw new Error(`the broker does not accept API ${key} v${v} (it advertises ${r ? `${r.minVersion}-${r.maxVersion}` : 'nothing'})`);
    }
    return av;
  }

  /** SaslHandshake, then the mechanism's SaslAuthenticate exchange. */
  login(mechanism: SaslMechanism, username: string, password: string, opts: LoginOptions = {}): Promise<LoginResult> {
    return mechanism === 'PLAIN' ? this.plain(username, password, opts) : this.scram(mechanism, username, password, opts);
  }

  /** SaslHandshake then the SCRAM exchange in SaslAuthenticate requests; rejects if the server's signature is wrong. */
  async scram(mechanism: ScramMechanism, username: string, password: string, opts: LoginOptions = {}): Promise<LoginResult> {
    const hs = await this.request(ApiKey.SaslHandshake, opts.handshake ?? 1, { mechanism });
    if (hs.errorCode !== KafkaErrorCode.NONE) return { errorCode: hs.errorCode, errorMessage: null, step: 'handshake', mechanisms: hs.mechanisms };
    const done = (r: { errorCode: number; errorMessage: string | null; sessionLifetimeMs?: number }): LoginResult => ({ errorCode: r.errorCode, errorMessage: r.errorMessage, step: 'authenticate', mechanisms: hs.mechanisms, sessionLifetimeMs: r.sessionLifetimeMs });
    const v = opts.authenticate ?? 1;
    const client = new ScramClient(mechanism, username, password, opts.keyCache);
    const first = await this.request(ApiKey.SaslAuthenticate, v, { authBytes: client.first() });
    if (first.errorCode !== KafkaErrorCode.NONE) return done(first);
    const final = await this.request(ApiKey.SaslAuthenticate, v, { authBytes: client.final(first.authBytes) });
    if (final.errorCode !== KafkaErrorCode.NONE) return done(final);
    client.verifyServerFinal(final.authBytes);
    return done(final);
  }

  /** SaslHandshake then SASL PLAIN (authzid empty) in one SaslAuthenticate. */
  async plain(username: string, password: string, opts: Omit<LoginOptions, 'keyCache'> = {}): Promise<LoginResult> {
    const hs = await this.request(ApiKey.SaslHandshake, opts.handshake ?? 1, { mechanism: 'PLAIN' });
    if (hs.errorCode !== KafkaErrorCode.NONE) return { errorCode: hs.errorCode, errorMessage: null, step: 'handshake', mechanisms: hs.mechanisms };
    const r = await this.request(ApiKey.SaslAuthenticate, opts.authenticate ?? 1, { authBytes: Buffer.from(`\0${username}\0${password}`, 'utf8') });
    return { errorCode: r.errorCode, errorMessage: r.errorMessage, step: 'authenticate', mechanisms: hs.mechanisms, sessionLifetimeMs: r.sessionLifetimeMs };
  }

  /** Produce (v8, acks 1 unless told) of one batch of `count` records of `valueBytes` each (or `value`), to `partition` (0 unless told). */
  async produce(topic: string, opts: { count?: number; valueBytes?: number; value?: string; acks?: number; partition?: number } = {}) {
    const value = opts.value !== undefined ? Buffer.from(opts.value) : Buffer.alloc(opts.valueBytes ?? 10, 'x');
    const records = buildRecordBatch(Array.from({ length: opts.count ?? 1 }, () => ({ key: null, value })));
    const body = await this.request(ApiKey.Produce, 8, { transactionalId: null, acks: opts.acks ?? 1, timeoutMs: 5000, topicData: [{ name: topic, partitionData: [{ index: opts.partition ?? 0, records }] }] });
    const p = body.responses[0]!.partitionResponses[0]!;
    return { errorCode: p.errorCode, baseOffset: p.baseOffset, throttleTimeMs: body.throttleTimeMs, batchBytes: records.length };
  }

  /** Whether the connection is closed within `ms`. */
  async closesWithin(ms: number): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
    try {
      return await Promise.race([this.closedAt.then(() => true as const), timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Closes the connection at once; requests in flight reject. */
  close(): void {
    this.socket.destroy();
  }

  /** Ends the connection politely (FIN, after what is written); requests in flight reject. */
  end(): void {
    this.socket.end();
    this.socket.destroySoon?.();
  }

  #onData(chunk: Buffer): void {
    this.socket.cork();
    try {
      this.#frames(chunk);
    } finally {
      this.socket.uncork();
    }
  }

  /** Splits the byte stream into response frames. */
  #frames(chunk: Buffer): void {
    this.#chunks.push(chunk);
    this.#buffered += chunk.length;
    for (;;) {
      if (this.#need < 0) {
        if (this.#buffered < 4) return;
        const size = this.#take(4).readInt32BE(0);
        if (size < 4 || size > MAX_RESPONSE_BYTES) return this.#fail(() => new Error(`response frame size ${size}`));
        this.#need = size;
      }
      if (this.#buffered < this.#need) return;
      const frame = this.#take(this.#need);
      this.#need = -1;
      const head = this.#pending[this.#head];
      if (!head) return this.#fail(() => new Error('a response with nothing in flight'));
      const corr = frame.readInt32BE(0);
      if (corr !== head.corr) return this.#fail(() => new Error(`response to correlation id ${corr}, expected ${head.corr}`));
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
      // A socket's chunks are fresh memory: a slice of one stays valid.
      out = first.subarray(0, n);
      if (first.length === n) this.#chunks.shift();
      else this.#chunks[0] = first.subarray(n);
    } else {
      if (!this.#reuseBuffers) out = Buffer.allocUnsafe(n);
      else {
        if (this.#assembly.length < n) this.#assembly = Buffer.allocUnsafe(Math.max(n, 2 * this.#assembly.length));
        out = this.#assembly.subarray(0, n);
      }
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

  /** Fails the connection: every request in flight, and every later one, gets the error `make` builds for it. */
  #fail(make: (what: string) => Error): void {
    if (this.#failed) return;
    this.#failed = make;
    const pending = this.#pending.splice(this.#head);
    this.#head = 0;
    this.#pending.length = 0;
    for (const p of pending) p.onError(make(describe(p.apiKey, p.apiVersion)));
    this.socket.destroy();
  }
}

/** Opens a connection and logs in; rejects (closing it) if the login fails. */
export async function connectAndLogin(port: number, mechanism: SaslMechanism, username: string, password: string, opts: ConnectOptions & LoginOptions = {}): Promise<KafkaWireClient> {
  const client = await KafkaWireClient.connect(port, opts);
  try {
    const r = await client.login(mechanism, username, password, opts);
    if (r.errorCode !== KafkaErrorCode.NONE) throw new Error(`${username} could not log in with ${mechanism}: error ${r.errorCode} at ${r.step}`);
  } catch (err) {
    client.close();
    throw err;
  }
  return client;
}

/** Whether `username` can log in right now (a fresh connection, closed afterwards). */
export async function canLogIn(port: number, mechanism: SaslMechanism, username: string, password: string, opts: ConnectOptions = {}): Promise<boolean> {
  const client = await KafkaWireClient.connect(port, opts);
  try {
    return (await client.login(mechanism, username, password)).errorCode === KafkaErrorCode.NONE;
  } catch {
    return false;
  } finally {
    client.close();
  }
}

// --- The client side of SCRAM (RFC 5802) ---------------------------------------------------------

const SCRAM_HASH = { 'SCRAM-SHA-256': { alg: 'sha256', size: 32 }, 'SCRAM-SHA-512': { alg: 'sha512', size: 64 } } as const;

/** SaltedPassword by (mechanism, password, salt, iterations): RFC 5802 section 5.1 lets clients cache it. */
export class ScramKeyCache {
  readonly #salted = new Map<string, Buffer>();

  salted(mechanism: ScramMechanism, password: string, salt: string, iterations: number): Buffer {
    const key = createHash('sha256').update(`${mechanism}\0${salt}\0${iterations}\0`).update(password).digest('base64');
    let v = this.#salted.get(key);
    if (!v) this.#salted.set(key, (v = saltPassword(mechanism, password, salt, iterations)));
    return v;
  }
}

function saltPassword(mechanism: ScramMechanism, password: string, salt: string, iterations: number): Buffer {
  const h = SCRAM_HASH[mechanism];
  return pbkdf2Sync(Buffer.from(password, 'utf8'), Buffer.from(salt, 'base64'), iterations, h.size, h.alg);
}

const saslName = (name: string) => name.replace(/=/g, '=3D').replace(/,/g, '=2C');

/** One SCRAM exchange, client side: client-first, client-final from server-first, then the check of server-final. */
export class ScramClient {
  readonly #mechanism: ScramMechanism;
  readonly #alg: 'sha256' | 'sha512';
  readonly #password: string;
  readonly #cache: ScramKeyCache | undefined;
  readonly #nonce: string;
  readonly #bare: string;
  #authMessage = '';
  #salted: Buffer | undefined;

  constructor(mechanism: ScramMechanism, username: string, password: string, cache?: ScramKeyCache, nonce = randomBytes(24).toString('base64')) {
    this.#mechanism = mechanism;
    this.#alg = SCRAM_HASH[mechanism].alg;
    this.#password = password;
    this.#cache = cache;
    this.#nonce = nonce;
    this.#bare = `n=${saslName(username)},r=${nonce}`;
  }

  /** client-first-message: gs2 header "n,," and the bare message. */
  first(): Buffer {
    return Buffer.from(`n,,${this.#bare}`, 'utf8');
  }

  /** client-final-message, with the proof; throws on a malformed server-first message. */
  final(serverFirst: Buffer | string): Buffer {
    const text = serverFirst.toString();
    const attrs = new Map(text.split(',').map((a) => [a.slice(0, 1), a.slice(2)] as const));
    const combined = attrs.get('r') ?? '';
    const salt = attrs.get('s');
    const iterations = Number(attrs.get('i'));
    if (!combined.startsWith(this.#nonce) || combined.length <= this.#nonce.length || !salt || !Number.isInteger(iterations) || iterations < 1) throw new Error('malformed SCRAM server-first message');
    this.#salted = this.#cache ? this.#cache.salted(this.#mechanism, this.#password, salt, iterations) : saltPassword(this.#mechanism, this.#password, salt, iterations);
    const withoutProof = `c=biws,r=${combined}`;
    this.#authMessage = `${this.#bare},${text},${withoutProof}`;
    const clientKey = createHmac(this.#alg, this.#salted).update('Client Key').digest();
    const storedKey = createHash(this.#alg).update(clientKey).digest();
    const signature = createHmac(this.#alg, storedKey).update(this.#authMessage).digest();
    for (let i = 0; i < clientKey.length; i++) clientKey[i]! ^= signature[i]!;
    return Buffer.from(`${withoutProof},p=${clientKey.toString('base64')}`, 'utf8');
  }

  /** The server-final-message a server that knows the password sends ("v=" and its signature). */
  expectedServerFinal(): Buffer {
    if (!this.#salted) throw new Error('SCRAM: server-final expected before client-final was built');
    const serverKey = createHmac(this.#alg, this.#salted).update('Server Key').digest();
    return Buffer.from(`v=${createHmac(this.#alg, serverKey).update(this.#authMessage).digest('base64')}`, 'utf8');
  }

  /** Throws unless server-final carries the right signature (compared in constant time). */
  verifyServerFinal(serverFinal: Buffer): void {
    const expected = this.expectedServerFinal();
    if (serverFinal.length !== expected.length || !timingSafeEqual(serverFinal, expected)) throw new Error('the SCRAM server signature does not verify');
  }
}
