// What the e2e scenarios with real clients share: a node with Bulwark installed, a namespace for
// brokers with local volumes, a client host, the Kafka jars for the Java client, and a user's
// Secret written out as files the clients read.
import { execFile } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { startNode, type ClientHost, type TestNode } from '../test/harness/node.ts';
import { createBrokerNamespace, createLocalVolumes, installBulwark, kubectlJson } from '../tools/node/bulwark-install.ts';

const run = promisify(execFile);
const root = join(import.meta.dirname, '..');

export interface E2eSite {
  node: TestNode;
  ns: string;
  host: ClientHost;
  /** KAFKA_LIB, KAFKA_LOG4J, JAVA (scripts/kafka-peer.sh env). */
  javaEnv: Record<string, string>;
}

/** The node started, Bulwark installed, a broker namespace with `volumes` local volumes, a client host, the Kafka jars; start-up timings added to `timings`. */
export async function startE2eSite(opts: { purpose: string; namespacePrefix: string; volumes: number; timings: Record<string, number> }): Promise<E2eSite> {
  const t0 = performance.now();
  const node = await startNode({ waitForBridgeMs: 900_000, purpose: opts.purpose });
  opts.timings.nodeStart = (performance.now() - t0) / 1000;
  Object.assign(opts.timings, (await installBulwark(node)).timings);
  const ns = await createBrokerNamespace(node, opts.namespacePrefix);
  await createLocalVolumes(node, opts.volumes);
  const host = await node.clientHost();
  const { stdout } = await run('bash', [join(root, 'scripts', 'kafka-peer.sh'), 'env'], { maxBuffer: 1 << 20, timeout: 15 * 60_000 });
  const javaEnv = Object.fromEntries(stdout.trim().split('\n').map((l) => l.split('=', 2) as [string, string]));
  return { node, ns, host, javaEnv };
}

/** Runs a class of the Kafka jars (the Java client, its tools) on the client host. */
export function javaOn(site: E2eSite, timeoutMs = 90_000) {
  const { host, javaEnv } = site;
  return (cls: string, args: string[], input = '') =>
    host.run(javaEnv.JAVA!, ['-Xmx256m', '-XX:TieredStopAtLevel=1', `-Dlog4j2.configurationFile=${javaEnv.KAFKA_LOG4J}`, '-cp', `${javaEnv.KAFKA_LIB}/*`, cls, ...args], { timeoutMs, input });
}

/** A Secret's data, decoded. */
export async function secretData(node: TestNode, ns: string, name: string): Promise<Record<string, string>> {
  const s = await kubectlJson<any>(node, ['-n', ns, 'get', 'secret', name]);
  return Object.fromEntries(Object.entries((s?.data ?? {}) as Record<string, string>).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]));
}

/** A user's `<user>-credentials` Secret written as files under `dir` (as a mounted Secret would be). */
export async function userFiles(node: TestNode, ns: string, dir: string, user: string): Promise<{ dir: string; data: Record<string, string> }> {
  const data = await secretData(node, ns, `${user}-credentials`);
  const d = await mkdtemp(join(dir, `${user}-`));
  for (const [k, v] of Object.entries(data)) await writeFile(join(d, k), v, { mode: 0o600 });
  return { dir: d, data };
}
