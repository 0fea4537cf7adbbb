// What the e2e scenarios with real clients share: a node with Bulwark installed, a namespace for
// brokers with local volumes, a client host, the Kafka jars for the Java client, and a user's
// Secret written out as files the clients read.
import { mkdtemp, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startNode, type ClientHost, type TestNode } from '../test/harness/node.ts';
import { createBrokerNamespace, createLocalVolumes, installBulwark, kubectlJson } from '../tools/node/bulwark-install.ts';
import { javaArgs, kafkaPeerEnv, type KafkaPeerEnv } from '../tools/kafka/peer-env.ts';

export interface E2eSite {
  node: TestNode;
  ns: string;
  host: ClientHost;
  /** The Kafka jars and java (scripts/kafka-peer.sh env). */
  javaEnv: KafkaPeerEnv;
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
  return { node, ns, host, javaEnv: await kafkaPeerEnv() };
}

/** Runs a class of the Kafka jars (the Java client, its tools) on the client host. */
export function javaOn(site: E2eSite, timeoutMs = 90_000) {
  const { host, javaEnv } = site;
  return (cls: string, args: string[], input = '') =>
    host.run(javaEnv.JAVA, javaArgs(javaEnv, cls, args, { quick: true }), { timeoutMs, input });
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
