// A real broker for tests: its own data directory and free ports, Kafka and HTTP listeners.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startBroker, type Broker } from '../../src/broker/index.ts';
import { loadBrokerConfig, type BrokerConfigInput } from '../../src/config/index.ts';

export interface TestBroker {
  broker: Broker;
  bootstrap: string;
  http: string;
  dataDir: string;
  restart(): Promise<void>;
  stop(): Promise<void>;
}

/** A policy where anonymous clients may do anything with topics and groups: for tests of everything but security. */
export const OPEN_POLICY_DIR = join(import.meta.dirname, '..', 'fixtures', 'policy-open');

/**
 * A broker on free ports. Left to the defaults it runs the open policy with anonymous Kafka and
 * HTTP access; security tests pass their own listeners and policy.
 */
export async function startTestBroker(overrides: BrokerConfigInput = {}): Promise<TestBroker> {
  const dataDir = mkdtempSync(join(tmpdir(), 'bulwark-broker-'));
  const config = (kafkaPort = 0) =>
    loadBrokerConfig({
      overrides: {
        dataDir,
        policy: { dir: OPEN_POLICY_DIR },
        ...overrides,
        kafka: { authentication: ['anonymous'], ...overrides.kafka, port: kafkaPort || overrides.kafka?.port || 0 },
        http: { port: 0, authentication: ['anonymous'], ...overrides.http },
        groups: { initialRebalanceDelayMs: 50, minSessionTimeoutMs: 1000, ...overrides.groups },
      },
    });
  const t: TestBroker = {
    broker: await startBroker(config(), { log: () => undefined }),
    get bootstrap() {
      return `127.0.0.1:${t.broker.kafkaPort}`;
    },
    get http() {
      return `http://127.0.0.1:${t.broker.httpPort}`;
    },
    dataDir,
    async restart() {
      const port = t.broker.kafkaPort;
      await t.broker.stop();
      t.broker = await startBroker(config(port), { log: () => undefined });
    },
    async stop() {
      await t.broker.stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
  return t;
}
