// `bulwark broker`: one broker, configured by file, environment and flags, running until
// SIGINT or SIGTERM, when it stops cleanly (partitions flushed and closed).
//
// Local mode: when the policy directory (--policy-dir, or policy.dir) declares the BrokerCluster
// it compiles for, that BrokerCluster is rendered (src/config/render.ts) into the layer under the
// file, the environment and the flags, and owns its keys (docs/broker.md "Local mode"). Its TLS
// files are found next to the YAML (src/config/local-mounts.ts). Changes to the users, roles,
// grants and tokens are applied live by the policy watcher; a change to what the BrokerCluster
// renders (listeners, limits, audit, topics) needs a restart, and is logged as such.
import { hostname as osHostname } from 'node:os';
import { parseArgs } from 'node:util';
import type { BrokerCluster } from '../api/index.ts';
import { DIRECT_READS, startBroker, type Broker } from '../broker/index.ts';
import { clusterConfigSource, kafkaListenersOf, loadBrokerConfig, localMounts, type BrokerConfig, type BrokerConfigInput, type ClusterConfigSource, type PodIdentity } from '../config/index.ts';
import { BulwarkError, canonicalJson, createLogger, type Logger } from '../lib/index.ts';
import { chooseCluster, findBrokerCluster, readPolicyDirectory } from '../policy/index.ts';
import { formatProblem, type Output } from './policy-commands.ts';

export const BROKER_USAGE = `usage: bulwark broker [--config FILE] [--data-dir DIR] [--kafka-port N] [--http-port N] [--host HOST] [--auto-create-topics] [--policy-dir DIR] [--tls-dir DIR] [--listener-port NAME=PORT]... [--advertised-host HOST] [--broker-id N | --broker-id-from-hostname]`;

const BROKER_HELP = `${BROKER_USAGE}

  --config FILE              configuration file, YAML or JSON (the operator writes JSON); env BULWARK_* and flags override it
  --data-dir DIR             where partitions, the policy snapshot and the broker's own keys live
  --kafka-port N, --http-port N, --host HOST
                             where the kafka and HTTP listeners bind
  --advertised-host HOST     the host clients are told to connect to, for every Kafka listener
  --broker-id N              this broker's id (also env BULWARK_BROKER_ID)
  --broker-id-from-hostname  the id is the number at the end of the host name (a StatefulSet pod: name-2 is broker 2)
  --auto-create-topics       create a topic on first use
  --policy-dir DIR           compile the policy from CR YAML in DIR and reload it on change (local mode)
  --tls-dir DIR              local mode: TLS files for the BrokerCluster's listeners (default DIR/tls)
  --listener-port NAME=PORT  local mode: the port of the BrokerCluster's listener NAME
SIGTERM or SIGINT stops the broker: listeners stop accepting, answers in flight are written, partitions are flushed.`;

/** The broker id a StatefulSet pod's host name carries (\`bulwark-2\` → 2); throws naming the host name otherwise. */
export function brokerIdFromHostname(name: string): number {
  const m = /-(\d{1,9})$/.exec(name);
  if (!m) throw new BulwarkError('BWK_ERR_CONFIG_INVALID', { detail: `--broker-id-from-hostname: the host name ${JSON.stringify(name)} does not end in -<number> (a StatefulSet pod name such as bulwark-0)` });
  return Number(m[1]);
}

/** What the flags say about the BrokerCluster of a policy directory (local mode). */
export interface LocalModeFlags {
  tlsDir?: string;
  /** --listener-port NAME=PORT: the port of the BrokerCluster's listener NAME (0: the OS chooses). */
  ports: Record<string, number>;
  advertisedHost?: string;
  host?: string;
}

export function brokerFlags(argv: string[], hostname: () => string = osHostname): { file?: string; overrides: BrokerConfigInput; local: LocalModeFlags } {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      config: { type: 'string' },
      'data-dir': { type: 'string' },
      'kafka-port': { type: 'string' },
      'http-port': { type: 'string' },
      host: { type: 'string' },
      'auto-create-topics': { type: 'boolean' },
      'policy-dir': { type: 'string' },
      'tls-dir': { type: 'string' },
      'listener-port': { type: 'string', multiple: true },
      'advertised-host': { type: 'string' },
      'broker-id': { type: 'string' },
      'broker-id-from-hostname': { type: 'boolean' },
    },
  });
  if (positionals.length > 0) throw new BulwarkError('BWK_ERR_CLI_USAGE', { detail: BROKER_USAGE });
  const port = (flag: string, v: string | undefined) => {
    if (v === undefined) return undefined;
    if (!/^\d{1,5}$/.test(v) || Number(v) > 65535) throw new BulwarkError('BWK_ERR_CONFIG_INVALID', { detail: `--${flag}: expected a port number, got ${JSON.stringify(v)}` });
    return Number(v);
  };
  const overrides: BrokerConfigInput = {};
  if (values['data-dir']) overrides.dataDir = values['data-dir'];
  const kafkaPort = port('kafka-port', values['kafka-port']);
  const httpPort = port('http-port', values['http-port']);
  if (kafkaPort !== undefined || values.host) overrides.kafka = { ...(kafkaPort !== undefined ? { port: kafkaPort } : {}), ...(values.host ? { host: values.host } : {}) };
  if (httpPort !== undefined || values.host) overrides.http = { ...(httpPort !== undefined ? { port: httpPort } : {}), ...(values.host ? { host: values.host } : {}) };
  if (values['advertised-host']) overrides.kafka = { ...overrides.kafka, advertisedHost: values['advertised-host'] };
  if (values['auto-create-topics']) overrides.topics = { autoCreate: true };
  if (values['broker-id'] !== undefined && values['broker-id-from-hostname']) throw new BulwarkError('BWK_ERR_CONFIG_INVALID', { detail: '--broker-id and --broker-id-from-hostname: give one of them' });
  if (values['broker-id'] !== undefined) {
    const id = values['broker-id'];
    if (!/^\d{1,10}$/.test(id) || Number(id) > 2 ** 31 - 1) throw new BulwarkError('BWK_ERR_CONFIG_INVALID', { detail: `--broker-id: expected a number from 0 to ${2 ** 31 - 1}, got ${JSON.stringify(id)}` });
    overrides.brokerId = Number(id);
  }
  if (values['broker-id-from-hostname']) overrides.brokerId = brokerIdFromHostname(hostname());
  if (values['policy-dir']) overrides.policy = { dir: values['policy-dir'] };
  const ports: Record<string, number> = {};
  for (const text of values['listener-port'] ?? []) {
    const m = /^([a-z0-9-]{1,32})=(.*)$/.exec(text);
    if (!m) throw new BulwarkError('BWK_ERR_CONFIG_INVALID', { detail: `--listener-port: expected NAME=PORT (a BrokerCluster listener name), got ${JSON.stringify(text)}` });
    ports[m[1]!] = port('listener-port', m[2])!;
  }
  const local: LocalModeFlags = {
    ports,
    ...(values['tls-dir'] ? { tlsDir: values['tls-dir'] } : {}),
    ...(values['advertised-host'] ? { advertisedHost: values['advertised-host'] } : {}),
    ...(values.host ? { host: values.host } : {}),
  };
  return { ...(values.config ? { file: values.config } : {}), overrides, local };
}

/** The BrokerCluster a policy directory declares for the cluster it compiles, or undefined (then the configuration is as without one). */
export async function directoryBrokerCluster(dir: string): Promise<BrokerCluster | undefined> {
  const directory = await readPolicyDirectory(dir);
  // Without its BrokerCluster the listeners are unknown: a broken one stops the start, whatever fail-static keeps of the policy.
  const broken = directory.problems.filter((p) => p.severity === 'error' && p.kind === 'BrokerCluster');
  if (broken.length > 0) throw new BulwarkError('BWK_ERR_CONFIG_INVALID', { detail: `the BrokerCluster in ${dir} is invalid: ${broken.map(formatProblem).join('; ')}` });
  if (!directory.resources.some((r) => r.kind === 'BrokerCluster')) return undefined;
  return findBrokerCluster(directory.resources, chooseCluster(directory.resources));
}

function localSource(cluster: BrokerCluster, policyDir: string, local: LocalModeFlags): ClusterConfigSource {
  const pod: PodIdentity = {
    bindHost: local.host ?? '127.0.0.1',
    ...(local.advertisedHost ? { advertisedHost: local.advertisedHost } : {}),
    ports: local.ports,
  };
  const unknown = Object.keys(local.ports).filter((name) => !cluster.spec.listeners.some((l) => l.name === name));
  if (unknown.length > 0) throw new BulwarkError('BWK_ERR_CONFIG_INVALID', { detail: `--listener-port: BrokerCluster ${cluster.metadata.namespace}/${cluster.metadata.name} has no listener ${unknown.join(', ')} (it has ${cluster.spec.listeners.map((l) => l.name).join(', ')})` });
  return clusterConfigSource(cluster, localMounts(cluster, { policyDir, ...(local.tlsDir ? { tlsDir: local.tlsDir } : {}) }), pod);
}

/** The broker's configuration from file, environment and flags, over the policy directory's BrokerCluster when it has one. */
export async function brokerConfigFromFlags(argv: string[], env: NodeJS.ProcessEnv): Promise<{ config: BrokerConfig; local: LocalModeFlags; cluster?: { resource: BrokerCluster; source: ClusterConfigSource } }> {
  const { file, overrides, local } = brokerFlags(argv);
  const sources = { ...(file ? { file } : {}), env, overrides };
  const plain = loadBrokerConfig(sources);
  const dir = plain.policy.dir;
  const resource = dir ? await directoryBrokerCluster(dir) : undefined;
  if (!dir || !resource) {
    if (Object.keys(local.ports).length > 0 || local.tlsDir) throw new BulwarkError('BWK_ERR_CONFIG_INVALID', { detail: '--listener-port and --tls-dir apply to the BrokerCluster of --policy-dir, and there is none' });
    // A pod's own name, for every Kafka listener (the operator's config file is the same for every pod).
    const advertisedHost = local.advertisedHost;
    const config = advertisedHost ? { ...plain, listeners: plain.listeners.map((l) => ({ ...l, advertisedHost })) } : plain;
    return { config, local };
  }
  const source = localSource(resource, dir, local);
  return { config: loadBrokerConfig({ ...sources, cluster: source }), local, cluster: { resource, source } };
}

/**
 * Local mode: a check, run by the policy watcher on every new content of the directory, that says
 * when the directory's BrokerCluster renders to something else than the configuration in force
 * (listeners cannot be changed live, so a restart is needed).
 */
function clusterChangeCheck(dir: string, local: LocalModeFlags, dataDir: string, inForce: string, log: (line: string) => void): () => void {
  let lastReported = inForce;
  const check = async () => {
    let now: string;
    let what: string;
    try {
      const resource = await directoryBrokerCluster(dir);
      now = resource ? canonicalJson(localSource(resource, dir, local).render({ dataDir })) : 'none';
      what = resource ? `BrokerCluster ${resource.metadata.namespace}/${resource.metadata.name} changed` : 'the BrokerCluster was removed';
    } catch (err) {
      now = `error:${(err as Error).message}`;
      what = `the BrokerCluster changed and would be refused at the next start (${(err as Error).message})`;
    }
    if (now === lastReported) return;
    lastReported = now;
    if (now === inForce) log(`bulwark: the BrokerCluster in ${dir} is back to the configuration in force`);
    else log(`bulwark: ${what}: its listeners, limits, audit and topic settings apply only at start; restart the broker to apply them (users, roles, grants and tokens are applied live)`);
  };
  return () => void check();
}

export interface RunOptions {
  /** The lines printed once the broker is up; a one-line summary (and a generated root password) by default. */
  banner?: (b: Broker) => string[];
  /** JSON lines on stderr by default. */
  logger?: Logger;
  onPolicyDirectoryChange?: () => void;
  /** How long a stop may take before the command gives up and exits 1 (default STOP_TIMEOUT_MS). */
  stopTimeoutMs?: number;
}

/** How long `bulwark broker` waits for a stop (drain, flush, close) after SIGTERM. */
export const STOP_TIMEOUT_MS = 20_000;

/** Starts a broker and resolves with its exit code once a signal has stopped it. */
export async function runBroker(config: BrokerConfig, io: Output, opts: RunOptions = {}): Promise<number> {
  const { banner } = opts;
  const broker = await startBroker(config, { logger: opts.logger ?? createLogger(), ...(opts.onPolicyDirectoryChange ? { onPolicyDirectoryChange: opts.onPolicyDirectoryChange } : {}) });
  for (const r of broker.topics.reports) for (const n of r.notes.filter((x) => x.action !== 'scanned')) io.err(`recovery: ${r.partition}: ${n.file}: ${n.detail}`);
  for (const r of broker.topics.reports) if (r.fenced) io.err(`recovery: ${r.partition} is FENCED: ${r.fenced.message}`);
  if (!DIRECT_READS) io.err("bulwark: build/sockfd.node is not built, so plaintext Kafka listeners read through Node's own buffers: the same results, about half the ingest rate with large batches (`npm start` builds it; docs/broker.md)");
  const http = config.http.enabled ? `HTTP${config.http.tls ? 'S' : ''} on ${config.http.host}:${broker.httpPort}` : 'no HTTP listener';
  const probes = config.probes ? `, probes on ${config.probes.host}:${broker.listenerPort('probes')}` : '';
  const metrics = config.metrics ? `, metrics on ${config.metrics.host}:${broker.listenerPort('metrics')}` : '';
  const lines = banner?.(broker) ?? [`bulwark broker ${config.brokerId}: Kafka on ${config.kafka.host}:${broker.kafkaPort}, ${http}${probes}${metrics}, data in ${config.dataDir}`];
  for (const l of lines) io.out(l);
  // The generated root password is shown once, here, and never again (only its hashes are kept).
  if (!banner && broker.generatedRootPassword) io.out(`root password (shown once; set BULWARK_ROOT_PASSWORD to choose one): ${broker.generatedRootPassword}`);
  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  io.out('bulwark: stopping (flushing partitions)…');
  // Bounded, well inside Kubernetes' default 30 s grace period: a stop that hangs is reported
  // and the process exits non-zero rather than being killed mid-write without a word.
  let timer: NodeJS.Timeout | undefined;
  const stopped = await Promise.race([
    broker.stop().then(() => true),
    new Promise<false>((resolve) => {
      timer = setTimeout(() => resolve(false), opts.stopTimeoutMs ?? STOP_TIMEOUT_MS);
    }),
  ]);
  clearTimeout(timer);
  if (!stopped) {
    io.err(`bulwark: did not stop within ${opts.stopTimeoutMs ?? STOP_TIMEOUT_MS} ms; exiting anyway`);
    // Whatever hangs may hold the event loop open: leave regardless.
    setTimeout(() => process.exit(1), 100).unref();
    return 1;
  }
  io.out('bulwark: stopped');
  return 0;
}

export async function brokerCommand(argv: string[], io: Output): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    io.out(BROKER_HELP);
    return 0;
  }
  const { config, local, cluster } = await brokerConfigFromFlags(argv, process.env);
  if (!cluster) return runBroker(config, io);
  const { resource } = cluster;
  const listeners = kafkaListenersOf(config).map((l) => `${l.name} (kafka${l.tls ? '+tls' : ''} ${l.host}:${l.port}: ${l.authentication.join(', ') || 'no mechanism'})`);
  if (config.http.enabled) listeners.push(`http (http${config.http.tls ? 's' : ''} ${config.http.host}:${config.http.port}: ${config.http.authentication.join(', ') || 'no mechanism'})`);
  io.out(`bulwark: BrokerCluster ${resource.metadata.namespace}/${resource.metadata.name} from ${config.policy.dir}: listeners ${listeners.join('; ')}`);
  const onPolicyDirectoryChange = clusterChangeCheck(config.policy.dir!, local, config.dataDir, canonicalJson(cluster.source.render({ dataDir: config.dataDir })), io.err);
  return runBroker(config, io, { onPolicyDirectoryChange });
}
