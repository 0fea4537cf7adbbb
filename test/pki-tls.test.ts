// Certificates as Node's TLS sees them: the dev PKI and issued certificates accepted by real TLS
// clients; listeners whose files are swapped under them (plain renames and Kubernetes' ..data
// symlink swap); protocol versions and client authentication; the identity a client
// certificate names.
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, rmSync, statSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect, createServer, type ConnectionOptions, type PeerCertificate, type Server, type TLSSocket, type TlsOptions } from 'node:tls';
import { after, describe, test } from 'node:test';
import { certificateIdentity } from '../src/auth/certificate-identity.ts';
import { TlsContext, verifiedPeerCertificate, type TlsContextOptions, type TlsFiles } from '../src/pki/tls-context.ts';
import { BulwarkError, isBulwarkError } from '../src/lib/errors.ts';
import { certificateNames, createCa, ensureDevPki, issueCertificate, type PemPair } from '../src/pki/x509.ts';
import { useTempDirs } from './harness/temp.ts';

const tempDir = useTempDirs('tls');
const servers: Server[] = [];
const contexts: TlsContext[] = [];
after(() => {
  contexts.forEach((c) => c.close());
  servers.forEach((s) => s.close());
});

// One CA for most tests; issuing is fast (P-256), but there is no need to repeat it.
const ca = await createCa({ commonName: 'Bulwark test CA', validDays: 30 });
const otherCa = await createCa({ commonName: 'Someone else', validDays: 30 });
const serverCert = (cn = 'broker') => issueCertificate({ ca, commonName: cn, dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'], usage: 'server', validDays: 10 });
const fingerprint = (pem: string) => new X509Certificate(pem).fingerprint256;

/** Replaces a file the way careful writers do: a new file renamed over the old one. */
function replaceFile(path: string, content: string): void {
  writeFileSync(`${path}.new`, content);
  renameSync(`${path}.new`, path);
}

interface Seen {
  authorized: boolean;
  identity: string | undefined;
}

/** A TLS echo server on 127.0.0.1; records, per connection, whether it authenticated and as whom. */
async function echoServer(options: TlsOptions): Promise<{ server: Server; port: number; seen: Seen[] }> {
  const seen: Seen[] = [];
  const server = createServer(options, (socket) => {
    const cert = verifiedPeerCertificate(socket);
    seen.push({ authorized: socket.authorized, identity: cert && certificateIdentity(cert, { source: 'commonName', prefix: '' }) });
    socket.on('error', () => {});
    socket.pipe(socket);
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.address() as { port: number }).port, seen };
}

async function open(port: number, options: ConnectionOptions): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, ...options }, () => resolve(socket));
    socket.once('error', reject);
  });
}

/** Sends a line and waits for it to come back: proof the connection carries data both ways. */
async function echo(socket: TLSSocket, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let got = '';
    const onData = (chunk: Buffer) => {
      got += chunk.toString();
      if (got.length >= text.length) {
        socket.off('data', onData);
        resolve(got);
      }
    };
    socket.on('data', onData);
    socket.once('error', reject);
    socket.once('close', () => reject(new Error(`closed after ${JSON.stringify(got)}`)));
    socket.write(text);
  });
}

type Attempt = { ok: true; fingerprint: string; protocol: string | null } | { ok: false; error: string };

/** Connects, exchanges a line, disconnects. A refusal in TLS 1.3 comes after the client's handshake, so only the exchange tells. */
async function attempt(port: number, options: ConnectionOptions): Promise<Attempt> {
  let socket: TLSSocket | undefined;
  try {
    socket = await open(port, options);
    const fp = socket.getPeerCertificate().fingerprint256;
    const protocol = socket.getProtocol();
    assert.equal(await echo(socket, 'ping'), 'ping');
    return { ok: true, fingerprint: fp, protocol };
  } catch (err) {
    return { ok: false, error: (err as NodeJS.ErrnoException).code ?? String(err) };
  } finally {
    socket?.destroy();
  }
}

type Report = { kind: 'reload'; fingerprint: string } | { kind: 'error'; error: BulwarkError };

/** Collects a TlsContext's reload and error reports, to wait for them in order. */
class Reports {
  readonly events: Report[] = [];
  #read = 0;
  readonly options: TlsContextOptions = {
    debounceMs: 20,
    pollIntervalMs: 250,
    onReload: (c) => this.events.push({ kind: 'reload', fingerprint: c.fingerprint256 }),
    onError: (error) => this.events.push({ kind: 'error', error }),
  };
  /** The next report of this kind not yet taken (skipping others), waiting for it up to 5 s. */
  async next<K extends Report['kind']>(kind: K): Promise<Extract<Report, { kind: K }>> {
    const deadline = Date.now() + 5000;
    for (;;) {
      while (this.#read < this.events.length) {
        const e = this.events[this.#read++]!;
        if (e.kind === kind) return e as Extract<Report, { kind: K }>;
      }
      if (Date.now() > deadline) throw new Error(`no ${kind} report within 5 s; have ${JSON.stringify(this.events)}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}

function writePair(dir: string, pair: PemPair, names = { cert: 'tls.crt', key: 'tls.key' }): { certFile: string; keyFile: string } {
  const certFile = join(dir, names.cert);
  const keyFile = join(dir, names.key);
  writeFileSync(certFile, pair.certPem);
  writeFileSync(keyFile, pair.keyPem);
  return { certFile, keyFile };
}

/** A listener on `files`, with its context attached and watching. */
async function listener(files: TlsFiles) {
  const reports = new Reports();
  const ctx = new TlsContext(files, reports.options);
  contexts.push(ctx);
  const { server, port, seen } = await echoServer(ctx.serverOptions());
  ctx.attach(server);
  return { ctx, port, seen, reports };
}

const trustCa: ConnectionOptions = { ca: ca.certPem, servername: 'localhost', rejectUnauthorized: true };

describe('pki: issued certificates', () => {
  test('a CA is a CA and signs leaves; leaves carry what they were asked for', async () => {
    const caCert = new X509Certificate(ca.certPem);
    assert.equal(caCert.ca, true);
    assert.equal(caCert.subject, 'CN=Bulwark test CA');
    const leaf = await issueCertificate({
      ca,
      commonName: 'alice',
      dnsNames: ['alice.example', '*.alice.example'],
      ipAddresses: ['10.0.0.1', '::1'],
      uris: ['spiffe://example.org/ns/apps/sa/alice'],
      usage: 'both',
      validDays: 7,
    });
    const x = new X509Certificate(leaf.certPem);
    assert.equal(x.ca, false);
    assert.equal(x.subject, 'CN=alice');
    assert.ok(x.checkIssued(caCert) && x.verify(caCert.publicKey), 'signed by the CA');
    assert.deepEqual(x.keyUsage, ['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2'], 'extKeyUsage serverAuth and clientAuth');
    assert.equal(x.checkHost('alice.example'), 'alice.example');
    assert.equal(x.checkHost('www.alice.example'), '*.alice.example');
    assert.equal(x.checkIP('10.0.0.1'), '10.0.0.1');
    assert.ok(x.checkIP('::1'));
    assert.deepEqual(certificateNames(x.raw)?.uris, ['spiffe://example.org/ns/apps/sa/alice']);
    const days = (Date.parse(x.validTo) - Date.now()) / 86_400_000;
    assert.ok(days > 6.9 && days <= 7.01, `valid for 7 days, got ${days}`);
    assert.match(leaf.keyPem, /^-----BEGIN PRIVATE KEY-----\n/);
  });

  test('a leaf never outlives its CA', async () => {
    const leaf = await issueCertificate({ ca, commonName: 'long', usage: 'client', validDays: 3650 });
    assert.equal(new X509Certificate(leaf.certPem).validTo, new X509Certificate(ca.certPem).validTo);
  });

  test('organizations go into the subject before the CN (Kubernetes reads them as groups); the clock is injected', async () => {
    const now = new Date('2030-01-01T00:00:00Z');
    const futureCa = await createCa({ commonName: 'future', validDays: 30, now });
    const leaf = await issueCertificate({ ca: futureCa, commonName: 'admin', organizations: ['system:masters', 'ops'], usage: 'client', validDays: 1, now });
    const cert = new X509Certificate(leaf.certPem);
    assert.equal(cert.subject, 'O=system:masters\nO=ops\nCN=admin');
    assert.equal(new Date(cert.validFrom).toISOString(), '2029-12-31T23:55:00.000Z');
    const oldCa = await createCa({ commonName: 'then', validDays: 1, now: new Date('2020-06-01T00:00:00Z') });
    assert.equal(new Date(new X509Certificate(oldCa.certPem).validTo).toISOString(), '2020-06-02T00:00:00.000Z');
    await assert.rejects(issueCertificate({ ca, commonName: 'x', organizations: [''], usage: 'client', validDays: 1 }), (err) => isBulwarkError(err, 'BWK_ERR_PKI_REQUEST_INVALID') && /organizations\[0\]/.test(err.message));
  });

  test('bad requests and unusable CAs are refused with a code naming the problem, and no key material', async () => {
    const bad = [
      { commonName: '', detail: /commonName/ },
      { commonName: 'x'.repeat(65), detail: /commonName/ },
      { commonName: 'ok', dnsNames: ['not a name'], detail: /dnsNames\[0\]/ },
      { commonName: 'ok', ipAddresses: ['10.0.0.300'], detail: /ipAddresses\[0\]/ },
      { commonName: 'ok', uris: ['no-scheme'], detail: /uris\[0\]/ },
      { commonName: 'ok', validDays: 0, detail: /validDays/ },
    ];
    for (const { detail, ...req } of bad) {
      await assert.rejects(
        issueCertificate({ ca, usage: 'server', validDays: 1, ...req }),
        (err) => isBulwarkError(err, 'BWK_ERR_PKI_REQUEST_INVALID') && detail.test(err.message),
        JSON.stringify(req),
      );
    }
    const leaf = await serverCert();
    const unusable: PemPair[] = [
      { certPem: ca.certPem, keyPem: otherCa.keyPem }, // key of another CA
      { certPem: leaf.certPem, keyPem: leaf.keyPem }, // not a CA
      { certPem: ca.certPem, keyPem: 'garbage' },
    ];
    for (const pair of unusable) {
      await assert.rejects(issueCertificate({ ca: pair, commonName: 'x', usage: 'server', validDays: 1 }), (err) => {
        assert.ok(isBulwarkError(err, 'BWK_ERR_PKI_CA_INVALID'), String(err));
        assert.ok(!err.message.includes(pair.keyPem.split('\n')[1]?.slice(0, 20) ?? pair.keyPem), 'no key material in the message');
        return true;
      });
    }
  });
});

describe('pki: bulwark dev', () => {
  test('first run makes a CA and a server certificate that Node TLS clients verify for localhost and 127.0.0.1', async () => {
    const dir = join(tempDir(), 'tls');
    const pki = await ensureDevPki(dir, {});
    assert.deepEqual(pki, { caFile: join(dir, 'ca.crt'), certFile: join(dir, 'server.crt'), keyFile: join(dir, 'server.key'), created: true, renewed: true });
    assert.equal(statSync(join(dir, 'ca.key')).mode & 0o777, 0o600);
    assert.equal(statSync(pki.keyFile).mode & 0o777, 0o600);

    const { port } = await echoServer({ cert: readFileSync(pki.certFile), key: readFileSync(pki.keyFile) });
    const caPem = readFileSync(pki.caFile);
    // Without servername the client checks the certificate against the IP it dialled.
    assert.equal((await attempt(port, { ca: caPem, rejectUnauthorized: true })).ok, true);
    assert.equal((await attempt(port, { ca: caPem, rejectUnauthorized: true, servername: 'localhost' })).ok, true);
    // The checks are real: another name, or not trusting the CA, fails.
    assert.deepEqual(await attempt(port, { ca: caPem, rejectUnauthorized: true, servername: 'example.com' }), { ok: false, error: 'ERR_TLS_CERT_ALTNAME_INVALID' });
    assert.deepEqual(await attempt(port, { rejectUnauthorized: true, servername: 'localhost' }), { ok: false, error: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' });
  });

  test('later runs reuse the files; an expiring server certificate or new hosts get a new one from the same CA', async () => {
    const dir = tempDir();
    await ensureDevPki(dir, {});
    const read = () => ({ ca: readFileSync(join(dir, 'ca.crt'), 'utf8'), caKey: readFileSync(join(dir, 'ca.key'), 'utf8'), cert: readFileSync(join(dir, 'server.crt'), 'utf8') });
    const first = read();

    assert.deepEqual(await ensureDevPki(dir, {}), { ...(await ensureDevPki(dir, {})), created: false, renewed: false });
    assert.deepEqual(read(), first, 'nothing rewritten');

    // A server certificate with 10 days left is issued again, still by the same CA.
    const caPair = { certPem: first.ca, keyPem: first.caKey };
    const expiring = await issueCertificate({ ca: caPair, commonName: 'old', dnsNames: ['localhost'], ipAddresses: ['127.0.0.1', '::1'], usage: 'server', validDays: 10 });
    writeFileSync(join(dir, 'server.crt'), expiring.certPem);
    writeFileSync(join(dir, 'server.key'), expiring.keyPem);
    const renewed = await ensureDevPki(dir, {});
    assert.equal(renewed.created, false);
    assert.equal(renewed.renewed, true);
    const now = read();
    assert.equal(now.ca, first.ca);
    const cert = new X509Certificate(now.cert);
    assert.ok(Date.parse(cert.validTo) - Date.now() > 300 * 86_400_000, 'a year of validity again');
    assert.ok(cert.checkIssued(new X509Certificate(first.ca)));

    // A host the certificate does not cover.
    const moreHosts = await ensureDevPki(dir, { hosts: ['broker.local', '192.168.7.7'] });
    assert.equal(moreHosts.renewed, true);
    const covering = new X509Certificate(readFileSync(join(dir, 'server.crt')));
    assert.equal(covering.checkHost('broker.local', { subject: 'never' }), 'broker.local');
    assert.equal(covering.checkIP('192.168.7.7'), '192.168.7.7');
    assert.equal(covering.checkHost('localhost', { subject: 'never' }), 'localhost', 'the defaults stay');
    assert.equal((await ensureDevPki(dir, { hosts: ['broker.local'] })).renewed, false, 'a subset is covered already');

    // A server key that does not match its certificate (a crash between the two writes).
    writeFileSync(join(dir, 'server.key'), expiring.keyPem);
    assert.equal((await ensureDevPki(dir, {})).renewed, true);
  });

  test('a CA whose key is missing or wrong is an error, and is left in place', async () => {
    const dir = tempDir();
    await ensureDevPki(dir, {});
    const caPem = readFileSync(join(dir, 'ca.crt'), 'utf8');
    writeFileSync(join(dir, 'ca.key'), otherCa.keyPem);
    await assert.rejects(ensureDevPki(dir, {}), (err) => isBulwarkError(err, 'BWK_ERR_PKI_CA_INVALID') && /does not match/.test(err.message) && !err.message.includes('PRIVATE KEY'));
    unlinkSync(join(dir, 'ca.key'));
    await assert.rejects(ensureDevPki(dir, {}), (err) => isBulwarkError(err, 'BWK_ERR_PKI_CA_INVALID') && /ENOENT/.test(err.message));
    assert.equal(readFileSync(join(dir, 'ca.crt'), 'utf8'), caPem);
  });
});

describe('tls: hot reload', () => {
  test('after a swap new connections get the new certificate; a connection made before keeps working', async () => {
    const dir = tempDir();
    const first = await serverCert('first');
    const files = writePair(dir, first);
    const { ctx, port, reports } = await listener({ ...files, clientAuth: 'none' });
    assert.equal(ctx.certificate.fingerprint256, fingerprint(first.certPem));

    const before = await open(port, trustCa);
    assert.equal(before.getPeerCertificate().fingerprint256, fingerprint(first.certPem));
    assert.equal(await echo(before, 'hello'), 'hello');

    const second = await serverCert('second');
    // Key first then certificate: between the two the pair does not match, and that is not served.
    replaceFile(files.keyFile, second.keyPem);
    replaceFile(files.certFile, second.certPem);
    assert.deepEqual(await reports.next('reload'), { kind: 'reload', fingerprint: fingerprint(second.certPem) });

    const after = await attempt(port, trustCa);
    assert.deepEqual(after, { ok: true, fingerprint: fingerprint(second.certPem), protocol: 'TLSv1.3' });
    assert.equal(await echo(before, 'still here'), 'still here', 'the old connection exchanges bytes after the swap');
    assert.equal(before.getPeerCertificate().fingerprint256, fingerprint(first.certPem));
    before.destroy();
  });

  test("Kubernetes' Secret update (the ..data symlink renamed into place) is picked up", async () => {
    const dir = tempDir();
    const v1 = await serverCert('v1');
    mkdirSync(join(dir, '..v1'));
    writePair(join(dir, '..v1'), v1);
    symlinkSync('..v1', join(dir, '..data'));
    symlinkSync('..data/tls.crt', join(dir, 'tls.crt'));
    symlinkSync('..data/tls.key', join(dir, 'tls.key'));
    const { port, reports } = await listener({ certFile: join(dir, 'tls.crt'), keyFile: join(dir, 'tls.key'), clientAuth: 'none' });
    assert.deepEqual(await attempt(port, trustCa), { ok: true, fingerprint: fingerprint(v1.certPem), protocol: 'TLSv1.3' });

    // What the kubelet does: a new timestamped directory, a new link to it, renamed over ..data.
    const v2 = await serverCert('v2');
    mkdirSync(join(dir, '..v2'));
    writePair(join(dir, '..v2'), v2);
    symlinkSync('..v2', join(dir, '..data_tmp'));
    renameSync(join(dir, '..data_tmp'), join(dir, '..data'));
    rmSync(join(dir, '..v1'), { recursive: true });

    assert.deepEqual(await reports.next('reload'), { kind: 'reload', fingerprint: fingerprint(v2.certPem) });
    assert.deepEqual(await attempt(port, trustCa), { ok: true, fingerprint: fingerprint(v2.certPem), protocol: 'TLSv1.3' });
  });

  test('a change no directory watch can see (a symlinked directory repointed) is found by the poll', async () => {
    const dir = tempDir();
    const v1 = await serverCert('v1');
    const v2 = await serverCert('v2');
    mkdirSync(join(dir, 'v1'));
    mkdirSync(join(dir, 'v2'));
    writePair(join(dir, 'v1'), v1);
    writePair(join(dir, 'v2'), v2);
    symlinkSync('v1', join(dir, 'current'));
    // The watch is on current/, which resolves to v1/: repointing current happens elsewhere.
    const { port, reports } = await listener({ certFile: join(dir, 'current', 'tls.crt'), keyFile: join(dir, 'current', 'tls.key'), clientAuth: 'none' });
    symlinkSync('v2', join(dir, 'next'));
    renameSync(join(dir, 'next'), join(dir, 'current'));
    assert.deepEqual(await reports.next('reload'), { kind: 'reload', fingerprint: fingerprint(v2.certPem) });
    assert.equal((await attempt(port, trustCa) as { fingerprint: string }).fingerprint, fingerprint(v2.certPem));
  });

  test('a new key that does not match keeps the old certificate, is reported without key material, and the next change is tried again', async () => {
    const dir = tempDir();
    const first = await serverCert('first');
    const files = writePair(dir, first);
    const { ctx, port, reports } = await listener({ ...files, clientAuth: 'none' });

    const second = await serverCert('second');
    replaceFile(files.keyFile, second.keyPem);
    const { error } = await reports.next('error');
    assert.equal(error.code, 'BWK_ERR_TLS_RELOAD_FAILED');
    assert.match(error.message, /tls\.key: the key does not match the certificate/);
    for (const pem of [first.keyPem, second.keyPem]) assert.ok(!error.message.includes(pem.split('\n')[1]!.slice(0, 16)), 'no key material');
    assert.equal((await attempt(port, trustCa) as { fingerprint: string }).fingerprint, fingerprint(first.certPem), 'still the old certificate');
    assert.equal(ctx.certificate.fingerprint256, fingerprint(first.certPem));

    // Half a file is refused the same way.
    replaceFile(files.certFile, second.certPem.slice(0, 200));
    assert.match((await reports.next('error')).error.message, /tls\.crt: not a PEM certificate/);

    // The rest of the change arrives: now it loads.
    replaceFile(files.certFile, second.certPem);
    assert.deepEqual(await reports.next('reload'), { kind: 'reload', fingerprint: fingerprint(second.certPem) });
    assert.equal((await attempt(port, trustCa) as { fingerprint: string }).fingerprint, fingerprint(second.certPem));
    // Each bad content was reported once, however many polls saw it; unchanged files report nothing.
    await new Promise((r) => setTimeout(r, 600));
    assert.deepEqual(reports.events.map((e) => e.kind), ['error', 'error', 'reload']);
  });

  test('files that cannot be used at start-up are refused with a code naming the file', async () => {
    const dir = tempDir();
    const a = await serverCert('a');
    const b = await serverCert('b');
    const files = writePair(dir, { certPem: a.certPem, keyPem: b.keyPem });
    const cases: [TlsFiles, RegExp][] = [
      [{ ...files, clientAuth: 'none' }, /tls\.key: the key does not match/],
      [{ ...files, certFile: join(dir, 'missing.crt'), clientAuth: 'none' }, /missing\.crt: cannot read it \(ENOENT\)/],
      [{ certFile: files.certFile, keyFile: files.certFile, clientAuth: 'none' }, /not a PEM private key/],
    ];
    for (const [f, message] of cases) {
      assert.throws(() => new TlsContext(f), (err) => isBulwarkError(err, 'BWK_ERR_TLS_FILES_INVALID') && message.test(err.message) && !err.message.includes(b.keyPem.split('\n')[1]!.slice(0, 16)));
    }
    const good = writePair(dir, a, { cert: 'good.crt', key: 'good.key' });
    writeFileSync(join(dir, 'junk-ca.pem'), 'not a certificate');
    assert.throws(() => new TlsContext({ ...good, clientAuth: 'required' }), (err) => isBulwarkError(err, 'BWK_ERR_TLS_FILES_INVALID') && /needs a caFile/.test(err.message));
    assert.throws(() => new TlsContext({ ...good, caFile: join(dir, 'junk-ca.pem'), clientAuth: 'optional' }), (err) => isBulwarkError(err, 'BWK_ERR_TLS_FILES_INVALID') && /no PEM certificate/.test(err.message));
  });
});

describe('tls: versions and client certificates', async () => {
  const setup = async (extra: Partial<TlsFiles>) => {
    const dir = tempDir();
    const files = writePair(dir, await serverCert());
    writeFileSync(join(dir, 'clients-ca.crt'), ca.certPem);
    return listener({ ...files, caFile: join(dir, 'clients-ca.crt'), clientAuth: 'none', ...extra });
  };
  const alice = await issueCertificate({ ca, commonName: 'alice', usage: 'client', validDays: 1 });
  const mallory = await issueCertificate({ ca: otherCa, commonName: 'alice', usage: 'client', validDays: 1 });
  const serverOnly = await issueCertificate({ ca, commonName: 'alice', usage: 'server', validDays: 1 });
  const as = (pair: PemPair): ConnectionOptions => ({ ...trustCa, cert: pair.certPem, key: pair.keyPem });

  test('minVersion TLSv1.3 refuses a client capped at TLSv1.2; the default accepts it', async () => {
    const strict = await setup({ minVersion: 'TLSv1.3' });
    assert.equal((await attempt(strict.port, { ...trustCa, maxVersion: 'TLSv1.2' })).ok, false);
    assert.equal((await attempt(strict.port, trustCa) as { protocol: string }).protocol, 'TLSv1.3');
    const lenient = await setup({});
    assert.equal((await attempt(lenient.port, { ...trustCa, maxVersion: 'TLSv1.2' }) as { protocol: string }).protocol, 'TLSv1.2');
    assert.equal((await attempt(lenient.port, trustCa) as { protocol: string }).protocol, 'TLSv1.3', 'TLS 1.3 is preferred');
  });

  test('clientAuth required: no certificate, a certificate from another CA, or one not for client use are refused', async () => {
    const { port, seen } = await setup({ clientAuth: 'required' });
    assert.equal((await attempt(port, trustCa)).ok, false);
    assert.equal((await attempt(port, as(mallory))).ok, false);
    assert.equal((await attempt(port, as(serverOnly))).ok, false);
    assert.equal((await attempt(port, { ...as(alice), maxVersion: 'TLSv1.2' })).ok, true);
    assert.equal((await attempt(port, as(alice))).ok, true);
    assert.deepEqual(seen, [
      { authorized: true, identity: 'alice' },
      { authorized: true, identity: 'alice' },
    ]);
  });

  test('clientAuth optional: anyone connects, only a verified certificate names someone', async () => {
    const { port, seen } = await setup({ clientAuth: 'optional' });
    for (const options of [trustCa, as(mallory), as(serverOnly), as(alice)]) assert.equal((await attempt(port, options)).ok, true);
    assert.deepEqual(seen, [
      { authorized: false, identity: undefined },
      { authorized: false, identity: undefined },
      { authorized: false, identity: undefined },
      { authorized: true, identity: 'alice' },
    ]);
  });

  test('clientAuth none asks for no certificate', async () => {
    const { port, seen } = await setup({ clientAuth: 'none' });
    assert.equal((await attempt(port, as(alice))).ok, true);
    assert.deepEqual(seen, [{ authorized: false, identity: undefined }]);
  });
});

describe('certificate identity', async () => {
  // Certificates with shapes issueCertificate does not make: built with the library directly
  // (pki.ts, imported above, has made it loadable).
  const x509 = await import('@peculiar/x509');
  const keys = await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify']);
  const custom = async (name: import('@peculiar/x509').JsonNameParams, sans: import('@peculiar/x509').JsonGeneralNames[] = []) =>
    new Uint8Array(
      (
        await x509.X509CertificateGenerator.createSelfSigned({
          name: new x509.Name(name),
          keys,
          signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
          extensions: sans.map((s) => new x509.SubjectAlternativeNameExtension(s)),
        })
      ).rawData,
    );
  const issued = async (commonName: string, sans: { dnsNames?: string[]; uris?: string[] }) => new X509Certificate((await issueCertificate({ ca, commonName, usage: 'client', validDays: 1, ...sans })).certPem).raw;

  const spiffe = 'spiffe://example.org/ns/apps/sa/';
  const table: [string, Uint8Array | PeerCertificate, { source: 'commonName' | 'sanDns' | 'sanUri'; prefix: string }, string | undefined][] = [
    ['CN', await issued('alice', {}), { source: 'commonName', prefix: '' }, 'alice'],
    ['CN with its prefix stripped', await issued('svc-billing', {}), { source: 'commonName', prefix: 'svc-' }, 'billing'],
    ['CN without the prefix', await issued('alice', {}), { source: 'commonName', prefix: 'svc-' }, undefined],
    ['CN with commas, quotes and an equals sign, read exactly', await custom([{ CN: [{ utf8String: 'a, b="c"+d' }] }]), { source: 'commonName', prefix: '' }, 'a, b="c"+d'],
    ['CN issued with quotes, a comma and a leading #, kept as given', await issued('#ops "blue", team', {}), { source: 'commonName', prefix: '#ops ' }, '"blue", team'],
    ['a CN that is not a string', await custom([{ CN: ['#0101ff'] }]), { source: 'commonName', prefix: '' }, undefined],
    ['two CNs', await custom([{ CN: ['alice'] }, { CN: ['root'] }]), { source: 'commonName', prefix: '' }, undefined],
    ['no CN', await custom([{ O: ['Acme'] }]), { source: 'commonName', prefix: '' }, undefined],
    ['the only SAN DNS name', await issued('x', { dnsNames: ['alice.clients.example'] }), { source: 'sanDns', prefix: '' }, 'alice.clients.example'],
    ['the one SAN DNS name with the prefix', await issued('x', { dnsNames: ['web.internal', 'user-alice'] }), { source: 'sanDns', prefix: 'user-' }, 'alice'],
    ['two SAN DNS names: which one?', await issued('x', { dnsNames: ['alice.example', 'bob.example'] }), { source: 'sanDns', prefix: '' }, undefined],
    ['a SPIFFE URI with its prefix stripped', await issued('x', { uris: [`${spiffe}billing`], dnsNames: ['billing.apps'] }), { source: 'sanUri', prefix: spiffe }, 'billing'],
    ['a SPIFFE URI of another trust domain', await issued('x', { uris: ['spiffe://evil.example/ns/apps/sa/billing'] }), { source: 'sanUri', prefix: spiffe }, undefined],
    ['two SPIFFE URIs', await issued('x', { uris: [`${spiffe}billing`, `${spiffe}root`] }), { source: 'sanUri', prefix: spiffe }, undefined],
    ['a URI that renders like two', await custom([{ CN: ['x'] }], [[{ type: 'url', value: `${spiffe}a, URI:${spiffe}root` }]]), { source: 'sanUri', prefix: spiffe }, `a, URI:${spiffe}root`],
    ['the prefix alone', await issued('x', { uris: [spiffe] }), { source: 'sanUri', prefix: spiffe }, undefined],
    ['no SAN of that kind', await issued('alice', { dnsNames: ['alice.example'] }), { source: 'sanUri', prefix: '' }, undefined],
    ['two SAN extensions', await custom([{ CN: ['x'] }], [[{ type: 'dns', value: 'alice' }], [{ type: 'dns', value: 'root' }]]), { source: 'sanDns', prefix: '' }, undefined],
    ['not DER', new Uint8Array([0x30, 0x03, 0x02, 0x01, 0x00]), { source: 'commonName', prefix: '' }, undefined],
    ['no certificate (getPeerCertificate of an anonymous client)', {} as PeerCertificate, { source: 'commonName', prefix: '' }, undefined],
  ];
  for (const [name, cert, mapping, expected] of table) {
    test(`${name} -> ${expected ?? 'no identity'}`, () => assert.equal(certificateIdentity(cert, mapping), expected));
  }
});
