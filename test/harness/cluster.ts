// A cluster of real brokers in operator mode, in the test process, with the test playing the
// operator: each broker has its own data directory, an anonymous `kafka` listener and an internal
// listener (mTLS, the shared test PKI) on OS-chosen ports. `startTestCluster()` pushes the open
// policy (test/fixtures/policy-open, compiled with src/policy as the operator does) to every
// broker; the ClusterState is the test's to push (`push`), built with `state()` from the
// contract's own placement (assignPartitions).
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startBroker, type Broker } from '../../src/broker/index.ts';
import {
  assignPartitions,
  pushClusterState,
  type BrokerInfo,
  type ClusterState,
  type ClusterStatePushResult,
  type TopicState,
} from '../../src/cluster/index.ts';
import { loadBrokerConfig, type BrokerConfigInput } from '../../src/config/index.ts';
import { createLogger, type DistributionTarget, type DistributionTls } from '../../src/lib/index.ts';
import { loadPolicyDirectory, pushSnapshot, sealSnapshot } from '../../src/policy/index.ts';
import { OPEN_POLICY_DIR } from './broker.ts';
import { sharedTestPki } from './pki.ts';

export const OPERATOR_CN = 'bulwark-operator';

export interface ClusterBroker {
  readonly id: number;
  broker: Broker;
  readonly dataDir: string;
  /** Every line the broker logged (JSON, after redaction), across restarts. */
  readonly logs: string[];
  /** 127.0.0.1:port of its kafka listener. */
  readonly bootstrap: string;
  readonly kafkaPort: number;
  /** Its internal listener, for the contract's client functions. */
  readonly target: DistributionTarget;
  /** This broker as a ClusterState lists it. */
  readonly info: BrokerInfo;
  /** Stops it and starts it again on the same data and ports. */
  restart(): Promise<void>;
}

export interface TestCluster {
  readonly clusterId: string;
  readonly brokers: ClusterBroker[];
  /** The operator's TLS material (its client certificate, the CA). */
  readonly operatorTls: DistributionTls;
  /**
   * A ClusterState of this cluster (controller: broker 0) with these topics, placed by
   * assignPartitions. Keep a topic's id from one version to the next: a new id is a new topic,
   * and the old one's data is deleted.
   */
  state(version: number, topics: { name: string; id: string; partitions: number; config?: TopicState['config'] }[]): ClusterState;
  /** Pushes a ClusterState to every broker, as the operator would. */
  push(state: ClusterState): Promise<ClusterStatePushResult[]>;
  stop(): Promise<void>;
}

export interface TestClusterOptions {
  size?: number;
  clusterId?: string;
  /** Config of every broker, merged over the defaults one level deep. */
  config?: BrokerConfigInput;
  /** Called with each broker's data directory before it first starts (to leave data there). */
  prepare?: (id: number, dataDir: string) => Promise<void> | void;
}

const isSection = (v: unknown): v is object => typeof v === 'object' && v !== null && !Array.isArray(v);
function merge(a: BrokerConfigInput, b: BrokerConfigInput): BrokerConfigInput {
  const out: Record<string, unknown> = { ...a };
  for (const [k, v] of Object.entries(b)) out[k] = isSection(out[k]) && isSection(v) ? { ...(out[k] as object), ...v } : v;
  return out as BrokerConfigInput;
}

/** A topic id as a ClusterState carries it: 32 hex digits. */
export const topicId = () => randomBytes(16).toString('hex');

export async function startTestCluster(opts: TestClusterOptions = {}): Promise<TestCluster> {
  const pki = await sharedTestPki();
  const operator = await pki.client(OPERATOR_CN);
  const operatorTls: DistributionTls = { ca: pki.ca.certPem, cert: operator.certPem, key: operator.keyPem };
  const clusterId = opts.clusterId ?? 'bulwark-test-cluster';
  const root = mkdtempSync(join(tmpdir(), 'bulwark-cluster-'));
  const brokers: ClusterBroker[] = [];

  const startOne = async (id: number): Promise<ClusterBroker> => {
    const dataDir = join(root, `broker-${id}`);
    mkdirSync(dataDir, { recursive: true });
    await opts.prepare?.(id, dataDir);
    const logs: string[] = [];
    const logger = createLogger({ level: 'debug', destination: { write: (line: string) => void logs.push(line) } });
    const input = (ports?: { kafka: number; internal: number }): BrokerConfigInput =>
      merge(
        {
          brokerId: id,
          clusterId,
          dataDir,
          kafka: { port: ports?.kafka ?? 0, authentication: ['anonymous'] },
          http: { enabled: false },
          internal: { enabled: true, port: ports?.internal ?? 0, tls: { ...pki.serverTls, caFile: pki.caFile, clientAuth: 'required' }, clients: [OPERATOR_CN] },
          auth: { rootUser: false },
          groups: { initialRebalanceDelayMs: 50, minSessionTimeoutMs: 1000 },
        },
        merge(opts.config ?? {}, ports ? { kafka: { port: ports.kafka }, internal: { port: ports.internal } } : {}),
      );
    const start = (ports?: { kafka: number; internal: number }) => startBroker(loadBrokerConfig({ overrides: input(ports) }), { logger, env: {} });
    const first = await start();
    const kafkaPort = first.kafkaPort!;
    const internalPort = first.internalPort!;
    const b: ClusterBroker = {
      id,
      broker: first,
      dataDir,
      logs,
      bootstrap: `127.0.0.1:${kafkaPort}`,
      kafkaPort,
      target: { host: '127.0.0.1', port: internalPort },
      info: { id, host: '127.0.0.1', port: kafkaPort, rack: null },
      async restart() {
        await b.broker.stop();
        b.broker = await start({ kafka: kafkaPort, internal: internalPort });
      },
    };
    return b;
  };

  try {
    for (let id = 0; id < (opts.size ?? 3); id++) brokers.push(await startOne(id));
    // The operator's first push: the open policy, compiled from its CR YAML.
    const policy = sealSnapshot((await loadPolicyDirectory(OPEN_POLICY_DIR, { saltKey: randomBytes(32) })).snapshot, 1);
    for (const b of brokers) {
      const r = await pushSnapshot(b.target, operatorTls, policy);
      if (r.outcome !== 'applied') throw new Error(`policy push to broker ${b.id}: ${JSON.stringify(r)}`);
    }
  } catch (err) {
    for (const b of brokers) await b.broker.stop();
    rmSync(root, { recursive: true, force: true });
    throw err;
  }

  const infos = () => brokers.map((b) => b.info);
  return {
    clusterId,
    brokers,
    operatorTls,
    state(version, topics) {
      return {
        clusterId,
        version,
        controllerId: 0,
        brokers: infos(),
        topics: topics.map((t) => ({ name: t.name, id: t.id, partitions: assignPartitions(infos(), t.name, t.partitions, 1), config: t.config ?? {} })),
      };
    },
    push: (state) => Promise.all(brokers.map((b) => pushClusterState(b.target, operatorTls, state))),
    async stop() {
      for (const b of brokers) await b.broker.stop();
      rmSync(root, { recursive: true, force: true });
    },
  };
}
