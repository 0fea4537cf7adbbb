// Certificates for tests: a CA and the certificates it signs, made with src/pki (createCa,
// issueCertificate) and written to a temporary directory, so a broker reads real files.
//
// The server certificate names localhost and 127.0.0.1, so clients may connect to 127.0.0.1 or
// verify the name localhost (kafkajs' servername). Client certificates are made on demand, once
// per common name.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createCa, issueCertificate, type PemPair } from '../../src/pki/index.ts';
import { processTempDir } from './temp.ts';

export interface TestCert extends PemPair {
  certFile: string;
  keyFile: string;
}

export interface TestPki {
  /** Where the files are; removed when the process exits. */
  dir: string;
  ca: PemPair;
  caFile: string;
  server: PemPair;
  serverCertFile: string;
  serverKeyFile: string;
  /** The server certificate as a listener's `tls` config ({ certFile, keyFile }). */
  serverTls: { certFile: string; keyFile: string };
  /** A client certificate signed by the CA, with this common name; files written once. */
  client(commonName: string): Promise<TestCert>;
}

/** A new CA, its server certificate, and client certificates on demand. */
export async function createTestPki(name = 'Bulwark test CA'): Promise<TestPki> {
  const dir = processTempDir('pki');
  const ca = await createCa({ commonName: name, validDays: 2 });
  const server = await issueCertificate({ ca, commonName: 'broker', dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'], usage: 'server', validDays: 1 });
  const file = (fileName: string, text: string) => {
    const p = join(dir, fileName);
    writeFileSync(p, text, { mode: 0o600 });
    return p;
  };
  const serverCertFile = file('server.crt', server.certPem);
  const serverKeyFile = file('server.key', server.keyPem);
  const clients = new Map<string, Promise<TestCert>>();
  return {
    dir,
    ca,
    caFile: file('ca.crt', ca.certPem),
    server,
    serverCertFile,
    serverKeyFile,
    serverTls: { certFile: serverCertFile, keyFile: serverKeyFile },
    client(commonName: string) {
      let c = clients.get(commonName);
      if (!c) {
        c = issueCertificate({ ca, commonName, usage: 'client', validDays: 1 }).then((pair) => {
          const safe = commonName.replace(/[^a-zA-Z0-9.-]/g, '_');
          return { ...pair, certFile: file(`${safe}.crt`, pair.certPem), keyFile: file(`${safe}.key`, pair.keyPem) };
        });
        clients.set(commonName, c);
      }
      return c;
    },
  };
}

let shared: Promise<TestPki> | undefined;

/** One CA and server certificate per test process, shared by every broker it starts (key generation is the slow part). */
export function sharedTestPki(): Promise<TestPki> {
  shared ??= createTestPki('Bulwark tests CA');
  return shared;
}
