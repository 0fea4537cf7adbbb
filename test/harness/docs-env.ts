// Where the docs' commands run: a scratch directory whose entries are links to the repository's
// (so `kubectl apply -k manifests/...` and `examples/...` work as written, and files the commands
// write land in the scratch directory, not in the clone), and a PATH with the tools the docs name:
// `bulwark` (this checkout's bin/bulwark.js), kubectl (scripts/controlplane-build.sh), helm
// (scripts/helm-build.sh), and the
// Kafka client's console tools (kafka-console-producer.sh and the others, as Apache Kafka's
// bin/ scripts: java with the client jars of scripts/kafka-peer.sh).
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { ensureBinaries } from '../../tools/controlplane/launcher.ts';
import { ensureHelm } from '../../tools/helm/helm.ts';
import { javaArgs, kafkaPeerEnv } from '../../tools/kafka/peer-env.ts';

const root = join(import.meta.dirname, '..', '..');

export interface DocsEnv {
  /** The scratch directory commands run in. */
  dir: string;
  /** The environment for bash: PATH with the tools first. */
  env: NodeJS.ProcessEnv;
}

/** Apache Kafka's bin/ script names, and the class each runs. */
const KAFKA_TOOLS: Record<string, string> = {
  'kafka-console-producer.sh': 'org.apache.kafka.tools.ConsoleProducer',
  'kafka-console-consumer.sh': 'org.apache.kafka.tools.consumer.ConsoleConsumer',
  'kafka-topics.sh': 'org.apache.kafka.tools.TopicCommand',
  'kafka-consumer-groups.sh': 'org.apache.kafka.tools.consumer.group.ConsumerGroupCommand',
};

/** Builds (or finds) the tools and makes the scratch directory. `kafka`: also the Java client's console tools (downloads the jars on first use). */
export async function docsEnv(opts: { kafka?: boolean; extraPath?: string[] } = {}): Promise<DocsEnv> {
  const dir = mkdtempSync(join(tmpdir(), 'bulwark-docs-'));
  for (const entry of readdirSync(root)) {
    if (entry === 'node_modules' || entry.startsWith('.')) continue;
    symlinkSync(join(root, entry), join(dir, entry));
  }
  const bin = join(dir, '.bin');
  mkdirSync(bin);
  const shellQuote = (word: string) => `'${word.replaceAll("'", `'\\''`)}'`;
  const script = (name: string, body: string) => {
    writeFileSync(join(bin, name), `#!/bin/sh\n${body}\n`);
    chmodSync(join(bin, name), 0o755);
  };
  script('bulwark', `exec ${JSON.stringify(process.execPath)} ${JSON.stringify(join(root, 'bin', 'bulwark.js'))} "$@"`);
  const kubectlDir = dirname((await ensureBinaries()).kubectl);
  const helmDir = dirname(await ensureHelm());
  if (opts.kafka) {
    const kafka = await kafkaPeerEnv();
    for (const [name, cls] of Object.entries(KAFKA_TOOLS)) {
      script(name, `exec ${[kafka.JAVA, ...javaArgs(kafka, cls, [], { quick: true })].map(shellQuote).join(' ')} "$@"`);
    }
  }
  const path = [bin, kubectlDir, helmDir, ...(opts.extraPath ?? []), process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin'].join(':');
  return { dir, env: { ...process.env, PATH: path, HOME: process.env.HOME ?? dir } };
}
