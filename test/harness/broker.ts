// A real broker for tests: its own data directory and free ports, Kafka and HTTP listeners.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Broker } from '../../src/broker/broker.ts';
import { loadBrokerConfig, type BrokerConfigInput } from '../../src/broker/config.ts';
import { startKafkaListener } from '../../src/broker/kafka/server.ts';

export interface TestBroker {
  broker: Broker;
  bootstrap: string;
  http: string;
  dataDir: string;
  restart(): Promise<void>;
  stop(): Promise<void>;
}

export async function startTestBroker(overrides: BrokerConfigInput = {}): Promise<TestBroker> {
  const dataDir = mkdtempSync(join(tmpdir(), 'bulwark-broker-'));
  const config = (kafkaPort = 0) =>
    loadBrokerConfig({
      overrides: { dataDir, kafka: { port: kafkaPort }, http: { port: 0 }, groups: { initialRebalanceDelayMs: 50, minSessionTimeoutMs: 1000 }, ...overrides },
    });
  const t: TestBroker = {
    broker: await Broker.start(config(), startKafkaListener),
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
      t.broker = await Broker.start(config(port), startKafkaListener);
    },
    async stop() {
      await t.broker.stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
  return t;
}
