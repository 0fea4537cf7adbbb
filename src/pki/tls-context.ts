// TLS for the broker's listeners, reloaded from disk while the listener runs.
//
// Contract:
// - A TlsContext loads a certificate (chain), its key and, for client authentication, a CA
//   bundle from files. Construction fails with BWK_ERR_TLS_FILES_INVALID if they cannot be
//   used: a file missing, PEM that does not parse, a key that does not match the certificate,
//   or client authentication without a caFile (never fall back to the public roots for client
//   certificates: any publicly trusted certificate would then authenticate).
// - Protocols: minVersion as configured (TLSv1.2 by default), maxVersion TLSv1.3, so clients
//   that can speak 1.3 do.
// - clientAuth: 'none' asks for no certificate; 'required' asks and refuses a connection whose
//   certificate is missing or does not verify against caFile; 'optional' asks and accepts the
//   connection either way. With 'optional' a connection is authenticated by its certificate only
//   when `socket.authorized` is true: read the certificate through verifiedPeerCertificate(),
//   which returns nothing otherwise.
// - attach(server) watches the files' directories (fs.watch) and polls them as a fallback (a
//   watch misses changes on some file systems and dies when its directory is replaced). A
//   change is noticed by the content hash of all the files, so Kubernetes' swap of a mounted
//   Secret (a new ..data symlink renamed into place) counts, and a touch without a change does
//   not. A new set that loads is given to every attached server through setSecureContext: new
//   connections get it, open connections keep the one they were made with. A new set that does
//   not load (half written, key and certificate from different pairs) is reported through
//   onError as BWK_ERR_TLS_RELOAD_FAILED, once per distinct content; the old context stays in
//   force and the next change is tried again. Messages name files and reasons, never key
//   material.
// - close() stops watching and polling; the servers keep the context they have.
import { createHash, createPrivateKey, X509Certificate } from 'node:crypto';
import { readFileSync, watch, type FSWatcher } from 'node:fs';
import { dirname } from 'node:path';
import { createSecureContext, type DetailedPeerCertificate, type SecureContextOptions, type TlsOptions, type TLSSocket } from 'node:tls';
import { BulwarkError } from '../lib/index.ts';

export type ClientAuth = 'none' | 'optional' | 'required';
export type TlsMinVersion = 'TLSv1.2' | 'TLSv1.3';

/** The files of one listener's TLS; the shape of the broker config's `tls` sections. */
export interface TlsFiles {
  certFile: string;
  keyFile: string;
  /** CA bundle that signs client certificates; needed when clientAuth is optional or required. */
  caFile?: string | undefined;
  clientAuth: ClientAuth;
  /** Default TLSv1.2. */
  minVersion?: TlsMinVersion | undefined;
}

export interface TlsContextOptions {
  /** A reload that failed; the previous certificate stays in force. */
  onError?: (err: BulwarkError) => void;
  /** A reload that succeeded: attached servers now hand out this certificate. */
  onReload?: (certificate: TlsCertificateInfo) => void;
  /** How often the files are read in case a watch event was missed. Default 10 s. */
  pollIntervalMs?: number;
  /** Events within this window make one reload (a Secret update is several renames). Default 100 ms. */
  debounceMs?: number;
}

/** What a listener serves, for logs and metrics: never key material. */
export interface TlsCertificateInfo {
  /** SHA-256 fingerprint of the leaf certificate, colon-separated hex as Node prints it. */
  fingerprint256: string;
  subject: string;
  validTo: Date;
}

/** Anything with setSecureContext: tls.Server, https.Server (fastify's `server` with `https`). */
export interface SecureContextTarget {
  setSecureContext(options: SecureContextOptions): void;
}

export type ReloadOutcome =
  | { changed: false }
  | { changed: true; reloaded: true; certificate: TlsCertificateInfo }
  | { changed: true; reloaded: false; error: BulwarkError };

interface Loaded {
  hash: string;
  options: SecureContextOptions;
  certificate: TlsCertificateInfo;
}

const DEFAULT_POLL_MS = 10_000;
const DEFAULT_DEBOUNCE_MS = 100;
const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g;

export class TlsContext {
  readonly files: Readonly<TlsFiles>;
  readonly #options: TlsContextOptions;
  #current: Loaded;
  /** Content hash (or read failure) already reported: not reported again until something changes. */
  #failed: string | undefined;
  readonly #servers = new Set<SecureContextTarget>();
  #watchers: FSWatcher[] = [];
  #poll: NodeJS.Timeout | undefined;
  #debounce: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(files: TlsFiles, options: TlsContextOptions = {}) {
    // Config is parsed with zod before it gets here; this guards callers that build it by hand.
    if (!['none', 'optional', 'required'].includes(files.clientAuth) || ![undefined, 'TLSv1.2', 'TLSv1.3'].includes(files.minVersion)) {
      throw new BulwarkError('BWK_ERR_TLS_FILES_INVALID', { detail: 'clientAuth must be none, optional or required, and minVersion TLSv1.2 or TLSv1.3' });
    }
    if (files.clientAuth !== 'none' && !files.caFile) {
      throw new BulwarkError('BWK_ERR_TLS_FILES_INVALID', { detail: `clientAuth ${files.clientAuth} needs a caFile (the CA that signs client certificates)` });
    }
    this.files = Object.freeze({ ...files });
    this.#options = options;
    const read = readFiles(this.files);
    if (!read.ok) throw new BulwarkError('BWK_ERR_TLS_FILES_INVALID', { detail: read.detail });
    const loaded = build(this.files, read.contents, read.hash);
    if (!loaded.ok) throw new BulwarkError('BWK_ERR_TLS_FILES_INVALID', { detail: loaded.detail });
    this.#current = loaded.value;
  }

  /** The certificate new connections get. */
  get certificate(): TlsCertificateInfo {
    return this.#current.certificate;
  }

  /** Options for tls.createSecureContext / server.setSecureContext, from the files as last loaded. */
  secureContextOptions(): SecureContextOptions {
    return { ...this.#current.options };
  }

  /** Options for tls.createServer, or fastify's `https` option. */
  serverOptions(): TlsOptions {
    return {
      ...this.#current.options,
      requestCert: this.files.clientAuth !== 'none',
      rejectUnauthorized: this.files.clientAuth === 'required',
    };
  }

  /**
   * Keeps `server` on the current files from now on. The server must have been made from
   * serverOptions() (which sets requestCert and rejectUnauthorized: a reload changes only the
   * certificate, key, CA and protocol versions). Starts watching on the first call.
   */
  attach(server: SecureContextTarget): void {
    if (this.#closed) throw new Error('TlsContext.attach after close');
    this.#servers.add(server);
    // The files may have changed between serverOptions() and now.
    server.setSecureContext(this.#current.options);
    if (this.#poll === undefined) this.#startWatching();
  }

  /** Reads the files now and reloads if their content changed; what the watchers call. */
  checkNow(): ReloadOutcome {
    if (this.#closed) return { changed: false };
    const read = readFiles(this.files);
    if (!read.ok) return this.#fail(`read:${read.detail}`, read.detail);
    if (read.hash === this.#current.hash) {
      // Back to what is served (a bad change undone): a later bad change is news again.
      this.#failed = undefined;
      return { changed: false };
    }
    if (read.hash === this.#failed) return { changed: false };
    const loaded = build(this.files, read.contents, read.hash);
    if (!loaded.ok) return this.#fail(read.hash, loaded.detail);
    for (const server of this.#servers) server.setSecureContext(loaded.value.options);
    this.#current = loaded.value;
    this.#failed = undefined;
    this.#options.onReload?.(loaded.value.certificate);
    return { changed: true, reloaded: true, certificate: loaded.value.certificate };
  }

  /** Stops watching. Attached servers keep serving the last good context. */
  close(): void {
    this.#closed = true;
    clearInterval(this.#poll);
    clearTimeout(this.#debounce);
    for (const w of this.#watchers) w.close();
    this.#watchers = [];
  }

  #fail(key: string, detail: string): ReloadOutcome {
    if (key === this.#failed) return { changed: false };
    this.#failed = key;
    const error = new BulwarkError('BWK_ERR_TLS_RELOAD_FAILED', { detail });
    this.#options.onError?.(error);
    return { changed: true, reloaded: false, error };
  }

  #startWatching(): void {
    const schedule = () => {
      if (this.#closed) return;
      clearTimeout(this.#debounce);
      this.#debounce = setTimeout(() => this.checkNow(), this.#options.debounceMs ?? DEFAULT_DEBOUNCE_MS);
      this.#debounce.unref();
    };
    this.#watchDirectories(schedule);
    this.#poll = setInterval(() => {
      // A watch that died (its directory was replaced) is set up again here.
      if (this.#watchers.length === 0) this.#watchDirectories(schedule);
      this.checkNow();
    }, this.#options.pollIntervalMs ?? DEFAULT_POLL_MS);
    this.#poll.unref();
  }

  /**
   * Watches the directories, not the files: Kubernetes replaces a Secret's files by renaming a
   * symlink in the directory, which a watch on the old file would never see.
   */
  #watchDirectories(onEvent: () => void): void {
    const dirs = new Set([this.files.certFile, this.files.keyFile, ...(this.files.caFile ? [this.files.caFile] : [])].map((f) => dirname(f)));
    for (const dir of dirs) {
      try {
        const watcher = watch(dir, { persistent: false }, onEvent);
        watcher.on('error', () => {
          watcher.close();
          this.#watchers = this.#watchers.filter((w) => w !== watcher);
        });
        this.#watchers.push(watcher);
      } catch {
        // No watch (directory gone, inotify limits): the poll still sees changes.
      }
    }
  }
}

/**
 * The client certificate of a connection, only if it verified against the listener's CA.
 * With clientAuth 'optional' a client may present a certificate that does not verify and still
 * be connected; that certificate must not name anyone, so it is not returned.
 */
export function verifiedPeerCertificate(socket: TLSSocket): DetailedPeerCertificate | undefined {
  if (socket.authorized !== true) return undefined;
  const cert = socket.getPeerCertificate(true);
  if (!cert || !cert.raw || cert.raw.length === 0) return undefined;
  return cert;
}

// --- Loading ------------------------------------------------------------------------------------

interface Contents {
  cert: Buffer;
  key: Buffer;
  ca: Buffer | undefined;
}

type Result<T> = { ok: true; value: T } | { ok: false; detail: string };

function readFiles(files: TlsFiles): { ok: true; contents: Contents; hash: string } | { ok: false; detail: string } {
  const read = (file: string): Buffer | string => {
    try {
      return readFileSync(file);
    } catch (err) {
      return `${file}: cannot read it (${(err as NodeJS.ErrnoException).code ?? 'error'})`;
    }
  };
  const cert = read(files.certFile);
  if (typeof cert === 'string') return { ok: false, detail: cert };
  const key = read(files.keyFile);
  if (typeof key === 'string') return { ok: false, detail: key };
  const ca = files.caFile ? read(files.caFile) : undefined;
  if (typeof ca === 'string') return { ok: false, detail: ca };
  // Reading a few kilobytes and hashing them is cheaper than reasoning about mtimes, inodes and
  // symlinks, and it cannot be fooled by a same-second rewrite.
  const hash = createHash('sha256');
  for (const part of [cert, key, ca ?? Buffer.alloc(0)]) hash.update(`${part.length}:`).update(part);
  return { ok: true, contents: { cert, key, ca }, hash: hash.digest('hex') };
}

function build(files: TlsFiles, contents: Contents, hash: string): Result<Loaded> {
  let leaf: X509Certificate;
  try {
    leaf = new X509Certificate(contents.cert);
  } catch {
    return { ok: false, detail: `${files.certFile}: not a PEM certificate` };
  }
  try {
    if (!leaf.checkPrivateKey(createPrivateKey(contents.key))) return { ok: false, detail: `${files.keyFile}: the key does not match the certificate in ${files.certFile}` };
  } catch {
    return { ok: false, detail: `${files.keyFile}: not a PEM private key` };
  }
  if (contents.ca) {
    // Node ignores what it cannot parse in `ca`; a bundle that silently trusts nothing (or less
    // than intended) is refused instead.
    const blocks = contents.ca.toString('latin1').match(PEM_CERTIFICATE) ?? [];
    if (blocks.length === 0) return { ok: false, detail: `${files.caFile}: no PEM certificate in the CA bundle` };
    for (const [i, block] of blocks.entries()) {
      try {
        new X509Certificate(block);
      } catch {
        return { ok: false, detail: `${files.caFile}: certificate ${i + 1} of the CA bundle does not parse` };
      }
    }
  }
  const options: SecureContextOptions = {
    cert: contents.cert,
    key: contents.key,
    ...(contents.ca ? { ca: contents.ca } : {}),
    minVersion: files.minVersion ?? 'TLSv1.2',
    maxVersion: 'TLSv1.3',
  };
  try {
    // What setSecureContext will do: catches what the checks above do not (a broken chain PEM).
    createSecureContext(options);
  } catch (err) {
    // OpenSSL's code names the reason (ERR_OSSL_PEM_BAD_END_LINE); its message is not passed on.
    return { ok: false, detail: `${files.certFile}, ${files.keyFile}: rejected by OpenSSL (${(err as { code?: string }).code ?? 'unknown reason'})` };
  }
  return { ok: true, value: { hash, options, certificate: { fingerprint256: leaf.fingerprint256, subject: leaf.subject, validTo: new Date(leaf.validTo) } } };
}
