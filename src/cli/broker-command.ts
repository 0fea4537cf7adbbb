// `bulwark broker`: one broker, configured by file, environment and flags, running until
// SIGINT or SIGTERM, when it stops cleanly (partitions flushed and closed).
import { parseArgs } from 'node:util';
import { DIRECT_READS, startBroker, type Broker } from '../broker/index.ts';
import { loadBrokerConfig, type BrokerConfig, type BrokerConfigInput } from '../config/index.ts';
import { BulwarkError, createLogger, type Logger } from '../lib/index.ts';
import type { Output } from './policy-commands.ts';

export const BROKER_USAGE = `usage: bulwark broker [--config FILE] [--data-dir DIR] [--kafka-port N] [--http-port N] [--host HOST] [--auto-create-topics] [--policy-dir DIR]`;

export function brokerFlags(argv: string[]): { file?: string; overrides: BrokerConfigInput } {
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
    },
  });
  if (positionals.length > 0) throw new BulwarkError('BWK_ERR_CLI_USAGE', { detail: BROKER_USAGE });
  const port = (flag: string, v: string | undefined) => {
    if (v === undefined) return undefined;
    if (!/^\d{1,5}$/.test(v)) throw new BulwarkError('BWK_ERR_CONFIG_INVALID', { detail: `--${flag}: expected a port number, got ${JSON.stringify(v)}` });
    return Number(v);
  };
  const overrides: BrokerConfigInput = {};
  if (values['data-dir']) overrides.dataDir = values['data-dir'];
  const kafkaPort = port('kafka-port', values['kafka-port']);
  const httpPort = port('http-port', values['http-port']);
  if (kafkaPort !== undefined || values.host) overrides.kafka = { ...(kafkaPort !== undefined ? { port: kafkaPort } : {}), ...(values.host ? { host: values.host } : {}) };
  if (httpPort !== undefined || values.host) overrides.http = { ...(httpPort !== undefined ? { port: httpPort } : {}), ...(values.host ? { host: values.host } : {}) };
  if (values['auto-create-topics']) overrides.topics = { autoCreate: true };
  if (values['policy-dir']) overrides.policy = { dir: values['policy-dir'] };
  return { ...(values.config ? { file: values.config } : {}), overrides };
}

/** Starts a broker and resolves with its exit code once a signal has stopped it. Its log: JSON lines on stderr unless `logger` says otherwise. */
export async function runBroker(config: BrokerConfig, io: Output, banner?: (b: Broker) => string[], logger: Logger = createLogger()): Promise<number> {
  const broker = await startBroker(config, { logger });
  for (const r of broker.topics.reports) for (const n of r.notes.filter((x) => x.action !== 'scanned')) io.err(`recovery: ${r.partition}: ${n.file}: ${n.detail}`);
  for (const r of broker.topics.reports) if (r.fenced) io.err(`recovery: ${r.partition} is FENCED: ${r.fenced.message}`);
  if (!DIRECT_READS) io.err("bulwark: build/sockfd.node is not built, so plaintext Kafka listeners read through Node's own buffers: the same results, about half the ingest rate with large batches (`npm start` builds it; docs/broker.md)");
  const lines = banner?.(broker) ?? [`bulwark broker ${config.brokerId}: Kafka on ${config.kafka.host}:${broker.kafkaPort}, HTTP on ${config.http.host}:${broker.httpPort}, data in ${config.dataDir}`];
  for (const l of lines) io.out(l);
  // The generated root password is shown once, here, and never again (only its hashes are kept).
  if (!banner && broker.generatedRootPassword) io.out(`root password (shown once; set BULWARK_ROOT_PASSWORD to choose one): ${broker.generatedRootPassword}`);
  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  io.out('bulwark: stopping (flushing partitions)…');
  await broker.stop();
  io.out('bulwark: stopped');
  return 0;
}

export async function brokerCommand(argv: string[], io: Output): Promise<number> {
  const { file, overrides } = brokerFlags(argv);
  return runBroker(loadBrokerConfig({ ...(file ? { file } : {}), env: process.env, overrides }), io);
}
