// A real broker for tests, in the test process: its own data directory, ports chosen by the OS,
// and every line it logs collected in `logs`.
//
// Two shapes, one function:
// - startTestBroker() / startTestBroker({ config }): the open policy (test/fixtures/policy-open),
//   anonymous Kafka and HTTP: for tests of everything but security.
// - startTestBroker({ security: { policy } }): security on, as the security tests need it: TLS
//   from the shared test PKI (harness/pki.ts), a policy directory written from the given files
//   (harness/policy.ts), an audit file and the __audit topic. Listeners (all on 127.0.0.1):
//     kafka  plaintext, SCRAM-SHA-256 and SCRAM-SHA-512
//     tls    TLS (client certificates optional), PLAIN, SCRAM and mtls
//     anon   plaintext, anonymous only
//     http   HTTPS, password login (/v1/login) and Bearer
// `config` merges over either set of defaults one level deep: { audit: { logAllowed: true } }
// keeps the audit file; a list (listeners) replaces the default list.
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startBroker, type Broker } from '../../src/broker/index.ts';
import { loadBrokerConfig, type BrokerConfigInput } from '../../src/config/index.ts';
import { createLogger } from '../../src/lib/index.ts';
import { sharedTestPki, type TestPki } from './pki.ts';
import { PolicyDir } from './policy.ts';

/** A policy where anonymous clients may do anything with topics and groups: for tests of everything but security. */
export const OPEN_POLICY_DIR = join(import.meta.dirname, '..', 'fixtures', 'policy-open');

export interface TestBrokerOptions {
  /** Config overrides, merged over the defaults one level deep. */
  config?: BrokerConfigInput;
  /** Security on (see above), with these policy files: name → YAML text. */
  security?: { policy: Record<string, string> };
  /** The broker's environment (secret references resolve against it); default {} with security, else the process's. */
  env?: NodeJS.ProcessEnv;
}

export interface TestBroker {
  broker: Broker;
  /** 127.0.0.1:port of the kafka listener. */
  readonly bootstrap: string;
  /** http://127.0.0.1:port (https:// when the HTTP listener has TLS). */
  readonly http: string;
  dataDir: string;
  /** Every line the broker logged, as written: JSON, after redaction (what an operator reads). */
  logs: string[];
  /** The port of a Kafka listener by name (default kafka); throws if it is not configured. */
  port(listener?: string): number;
  /** 127.0.0.1:port of a Kafka listener by name (default kafka). */
  address(listener?: string): string;
  /** Stops the broker and starts it again on the same data and kafka port. */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

export interface SecureTestBroker extends TestBroker {
  pki: TestPki;
  policy: PolicyDir;
  auditFile: string;
  /** Resolves once the policy in force has a version above `version` (a reload of the directory happened). */
  policyAfter(version: number, timeoutMs?: number): Promise<number>;
  /** The audit file's events, after flushing what is queued. */
  auditEvents(): Promise<Record<string, unknown>[]>;
}

const isSection = (v: unknown): v is object => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Sections merge one level deep; anything else (a list, a string) replaces. */
function mergeConfig(defaults: BrokerConfigInput, overrides: BrokerConfigInput): BrokerConfigInput {
  const merged: Record<string, unknown> = { ...defaults };
  for (const [key, value] of Object.entries(overrides)) {
    const base = merged[key];
    merged[key] = isSection(base) && isSection(value) ? { ...base, ...value } : value;
  }
  return merged as BrokerConfigInput;
}

export function startTestBroker(opts: TestBrokerOptions & { security: NonNullable<TestBrokerOptions['security']> }): Promise<SecureTestBroker>;
export function startTestBroker(opts?: TestBrokerOptions): Promise<TestBroker>;
export async function startTestBroker(opts: TestBrokerOptions = {}): Promise<TestBroker | SecureTestBroker> {
  const root = mkdtempSync(join(tmpdir(), 'bulwark-broker-'));
  const dataDir = join(root, 'data');
  mkdirSync(dataDir);
  const auditFile = join(root, 'audit.log');
  const pki = opts.security ? await sharedTestPki() : undefined;
  const policy = opts.security ? new PolicyDir(opts.security.policy) : undefined;
  const groups = { initialRebalanceDelayMs: 50, minSessionTimeoutMs: 1000 };
  let defaults: BrokerConfigInput;
  if (pki && policy) {
    defaults = {
      dataDir,
      kafka: { port: 0, authentication: ['scram-sha-256', 'scram-sha-512'] },
      listeners: [
        { name: 'tls', port: 0, tls: { ...pki.serverTls, caFile: pki.caFile, clientAuth: 'optional' }, authentication: ['plain', 'mtls', 'scram-sha-256', 'scram-sha-512'] },
        { name: 'anon', port: 0, authentication: ['anonymous'] },
      ],
      http: { port: 0, tls: pki.serverTls, authentication: ['password', 'bearer'] },
      policy: { dir: policy.path, reloadDebounceMs: 100 },
      audit: { file: auditFile, topic: true },
      groups,
    };
  } else {
    defaults = {
      dataDir,
      policy: { dir: OPEN_POLICY_DIR },
      kafka: { port: 0, authentication: ['anonymous'] },
      http: { port: 0, authentication: ['anonymous'] },
      groups,
    };
  }
  const input = mergeConfig(defaults, opts.config ?? {});
  const env = opts.env ?? (opts.security ? {} : undefined);
  const logs: string[] = [];
  const logger = createLogger({ level: 'debug', destination: { write: (line: string) => void logs.push(line) } });
  const start = (kafkaPort?: number) =>
    startBroker(loadBrokerConfig({ overrides: kafkaPort ? mergeConfig(input, { kafka: { port: kafkaPort } }) : input }), {
      logger,
      ...(env ? { env } : {}),
    });
  const cleanUp = () => {
    policy?.dispose();
    rmSync(root, { recursive: true, force: true });
  };

  let broker: Broker;
  try {
    broker = await start();
  } catch (err) {
    cleanUp();
    throw err;
  }
  const scheme = isSection(input.http) && 'tls' in input.http && input.http.tls ? 'https' : 'http';
  const t: TestBroker = {
    broker,
    get bootstrap() {
      return t.address();
    },
    get http() {
      return `${scheme}://127.0.0.1:${t.broker.httpPort}`;
    },
    dataDir,
    logs,
    port(listener = 'kafka') {
      const n = t.broker.listenerPort(listener);
      if (n === undefined) throw new Error(`listener ${listener} is not configured`);
      return n;
    },
    address: (listener) => `127.0.0.1:${t.port(listener)}`,
    async restart() {
      const port = t.broker.kafkaPort;
      await t.broker.stop();
      t.broker = await start(port);
    },
    async stop() {
      await t.broker.stop();
      cleanUp();
    },
  };
  if (!pki || !policy) return t;

  const policyAfter = async (version: number, timeoutMs = 5000) => {
    const deadline = Date.now() + timeoutMs;
    while (t.broker.policy.applied.version <= version) {
      if (Date.now() > deadline) throw new Error(`policy still at version ${t.broker.policy.applied.version} after ${timeoutMs} ms; broker log:\n${logs.join('\n')}`);
      await new Promise((r) => setTimeout(r, 10));
    }
    return t.broker.policy.applied.version;
  };
  const auditEvents = async () => {
    await t.broker.security.audit.flush();
    let text = '';
    try {
      text = readFileSync(auditFile, 'utf8');
    } catch {
      return [];
    }
    return text
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  };
  // Object.assign keeps t's getters (bootstrap, http) live.
  return Object.assign(t, { pki, policy, auditFile, policyAfter, auditEvents });
}
