// The operator on a real Kubernetes node, as a cluster admin meets it: the operator runs in its
// own restricted namespace as its own ServiceAccount (manifests/overlays/cluster-wide), the
// broker image is this checkout's production build, the BrokerCluster's namespace enforces Pod
// Security "restricted", and clients are kcat on a client host that knows the brokers' names (no
// cluster DNS here) and verifies their certificates against the cluster's CA.
//
// Runbook order: create → Ready, kcat over TLS; change a setting → pods roll one at a time,
// clients keep being served; owned objects edited or deleted → put back; a spec the operator
// refuses → Stalled, nothing rolls; certificates renewed → brokers serve the new one without a
// restart, a connected client keeps working; the leader operator pod killed → the other takes
// over; the BrokerCluster deleted → everything it owns goes.
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { after, before, describe, it } from 'node:test';
import { KafkaWireClient } from '../tools/kafka-wire/client.ts';
import { nodeUnavailableReason, startNode, type ClientHost, type TestNode } from '../test/harness/node.ts';
import { createBrokerNamespace, createLocalVolumes, E2E_STORAGE_CLASS, installBulwark, kubectlJson, OPERATOR_NAMESPACE, resolveBrokers, waitFor } from '../tools/node/bulwark-install.ts';

const skip = nodeUnavailableReason();
const CLUSTER = 'demo';

const clusterYaml = (ns: string, extra: { maxConnections?: number; env?: { name: string; value: string }[] } = {}) =>
  JSON.stringify({
    apiVersion: 'bulwark.dev/v1alpha1',
    kind: 'BrokerCluster',
    metadata: { name: CLUSTER, namespace: ns },
    spec: {
      replicas: 2,
      storage: { size: '256Mi', storageClassName: E2E_STORAGE_CLASS },
      listeners: [{ name: 'kafka', protocol: 'kafka', port: 9092, tls: { enabled: true }, authentication: ['anonymous'] }],
      authentication: { allowAnonymous: true },
      // Leaves renewed every ~30 s (renewal at notAfter - renewBefore), so the test sees renewals.
      tls: { duration: '1h', renewBefore: '59m30s' },
      limits: { maxConnections: extra.maxConnections ?? 1000 },
      resources: { requests: { cpu: '50m', memory: '128Mi' }, limits: { memory: '512Mi' } },
      ...(extra.env ? { env: extra.env } : {}),
    },
  });

/** The pod of a lease holder: identities are `<pod name>_<suffix new at every start>`. */
const podOf = (identity: string) => identity.split('_')[0]!;

/** The pid of `bulwark operator` in the pod named `pod` (its HOSTNAME), on this machine. */
function operatorPid(pod: string): number | undefined {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
      if (!cmdline.includes('/app/bin/bulwark.js') || !cmdline.includes('operator')) continue;
      if (readFileSync(`/proc/${entry}/environ`, 'utf8').split('\0').includes(`HOSTNAME=${pod}`)) return Number(entry);
    } catch {
      // gone, or not ours to read
    }
  }
  return undefined;
}

interface Condition {
  type: string;
  status: string;
  reason: string;
  message: string;
  lastTransitionTime: string;
  observedGeneration?: number;
}

describe('the operator on a real node', { skip: skip ?? false, timeout: 1_800_000 }, () => {
  let node: TestNode;
  let host: ClientHost;
  let ns = '';
  let caFile = '';
  const timings: Record<string, number> = {};

  const cluster = () => kubectlJson<any>(node, ['-n', ns, 'get', 'brokercluster', CLUSTER]);
  const condition = async (type: string): Promise<Condition | undefined> => (await cluster())?.status?.conditions?.find((c: Condition) => c.type === type);
  const pods = async () => (await kubectlJson<{ items: any[] }>(node, ['-n', ns, 'get', 'pods', '-l', `app.kubernetes.io/instance=${CLUSTER}`]))?.items ?? [];
  const readyPods = async () => (await pods()).filter((p) => !p.metadata.deletionTimestamp && p.status?.conditions?.some((c: any) => c.type === 'Ready' && c.status === 'True'));
  const secretPem = async (name: string, key: string) => {
    const s = await kubectlJson<any>(node, ['-n', ns, 'get', 'secret', name]);
    return s?.data?.[key] ? Buffer.from(s.data[key], 'base64').toString('utf8') : undefined;
  };
  const bootstrap = (names: Record<string, string>) =>
    Object.keys(names)
      .filter((n) => n.endsWith('.svc') && n.startsWith(`${CLUSTER}-`))
      .map((n) => `${n}:9092`)
      .join(',');
  /** kcat -L from the client host, TLS with hostname verification against the cluster's CA. */
  const kcatMetadata = async () => {
    const names = await resolveBrokers(node, host, ns, CLUSTER);
    return host.run('kcat', ['-L', '-b', bootstrap(names), '-X', 'security.protocol=SSL', '-X', `ssl.ca.location=${caFile}`, '-X', 'ssl.endpoint.identification.algorithm=https', '-m', '10'], { timeoutMs: 20_000 });
  };

  before(async () => {
    const t0 = performance.now();
    node = await startNode({ waitForBridgeMs: 900_000, purpose: 'e2e/operator' });
    timings.nodeStart = (performance.now() - t0) / 1000;
    const installed = await installBulwark(node);
    Object.assign(timings, installed.timings);
    ns = await createBrokerNamespace(node, 'e2e-brokers');
    await createLocalVolumes(node, 4);
    host = await node.clientHost();
  });

  after(async () => {
    console.log(`e2e timings (s): ${JSON.stringify(timings)}`);
    if (process.env.BULWARK_E2E_KEEP === '1') return;
    await node?.stop();
  });

  it('a BrokerCluster becomes Ready brokers, and kcat reaches them over TLS with hostname verification', async () => {
    const t0 = performance.now();
    await node.kubectl(['apply', '--server-side', '-f', '-'], { input: clusterYaml(ns), check: true });
    const ready = await waitFor('the BrokerCluster to be Ready', async () => ((await condition('Ready'))?.status === 'True' ? await cluster() : undefined), 300_000, 500);
    timings.clusterReady = (performance.now() - t0) / 1000;
    assert.equal(ready.status.readyReplicas, 2);
    assert.equal(ready.status.observedGeneration, ready.metadata.generation);
    assert.match((await condition('Ready'))!.message, /2 brokers, one Kafka cluster/, 'status says that two replicas are one cluster');
    assert.equal((await condition('Stalled'))!.status, 'False');
    assert.ok(ready.status.policyVersion >= 1, 'every broker applied the policy snapshot');
    assert.deepEqual(
      ready.status.listeners.map((l: any) => l.bootstrap ?? l.address),
      [`${CLUSTER}.${ns}.svc:9092`],
    );
    for (const p of await pods()) {
      assert.equal(p.status.phase, 'Running');
      assert.equal(p.spec.securityContext.runAsNonRoot, true);
      assert.equal(p.spec.containers[0].securityContext.readOnlyRootFilesystem, true);
    }
    const dir = await mkdtemp(join(tmpdir(), 'e2e-ca-'));
    caFile = join(dir, 'ca.crt');
    await writeFile(caFile, (await secretPem(`${CLUSTER}-tls`, 'ca.crt'))!);
    const r = await kcatMetadata();
    assert.equal(r.code, 0, `kcat -L failed: ${r.stderr}`);
    // One Kafka cluster: whichever broker answers lists both, each at its pod's DNS name.
    assert.match(r.stdout, new RegExp(` 2 brokers:\\n  broker 0 at ${CLUSTER}-0\\.${CLUSTER}-brokers\\.${ns}\\.svc:9092( \\(controller\\))?\\n  broker 1 at ${CLUSTER}-1\\.${CLUSTER}-brokers\\.${ns}\\.svc:9092`));
    const wrongCa = await host.run('kcat', ['-L', '-b', bootstrap(await resolveBrokers(node, host, ns, CLUSTER)), '-X', 'security.protocol=SSL', '-X', 'ssl.ca.location=/etc/ssl/certs/ca-certificates.crt', '-m', '5'], { timeoutMs: 15_000 });
    assert.notEqual(wrongCa.code, 0, 'a client that does not trust the cluster CA is refused');
  });

  it('a changed setting rolls the pods one at a time, and clients keep being served', async () => {
    const before = (await cluster()).metadata.generation;
    const revision = (await kubectlJson<any>(node, ['-n', ns, 'get', 'statefulset', CLUSTER])).status.updateRevision;
    const t0 = performance.now();
    await node.kubectl(['apply', '--server-side', '-f', '-'], { input: clusterYaml(ns, { maxConnections: 2000 }), check: true });
    let minReady = 2;
    let kcatFailures = 0;
    let kcatRuns = 0;
    await waitFor(
      'the roll to finish',
      async () => {
        minReady = Math.min(minReady, (await readyPods()).length);
        const r = await kcatMetadata();
        kcatRuns++;
        if (r.code !== 0) kcatFailures++;
        const sts = await kubectlJson<any>(node, ['-n', ns, 'get', 'statefulset', CLUSTER]);
        const ready = await condition('Ready');
        return sts.status.updateRevision !== revision && sts.status.currentRevision === sts.status.updateRevision && sts.status.readyReplicas === 2 && ready?.status === 'True' && ready.observedGeneration === before + 1;
      },
      300_000,
      200,
    );
    timings.roll = (performance.now() - t0) / 1000;
    assert.ok(minReady >= 1, 'never more than one broker down at a time');
    assert.equal(kcatFailures, 0, `kcat failed ${kcatFailures} of ${kcatRuns} times during the roll`);
    const config = await kubectlJson<any>(node, ['-n', ns, 'get', 'configmap', `${CLUSTER}-config`]);
    assert.equal(JSON.parse(config.data['broker.json']).limits.maxConnections, 2000);
  });

  it('owned objects edited or deleted behind the operator\'s back are put back', async () => {
    const svc = await kubectlJson<any>(node, ['-n', ns, 'get', 'service', CLUSTER]);
    await node.kubectl(['-n', ns, 'delete', 'service', CLUSTER, '--wait=true'], { check: true });
    await waitFor('the client Service to come back', async () => {
      const again = await kubectlJson<any>(node, ['-n', ns, 'get', 'service', CLUSTER]);
      return again && again.metadata.uid !== svc.metadata.uid ? again : undefined;
    }, 60_000);
    await node.kubectl(['-n', ns, 'patch', 'configmap', `${CLUSTER}-config`, '--type=merge', '-p', JSON.stringify({ data: { 'broker.json': '{}' } })], { check: true });
    await waitFor('the broker configuration to be restored', async () => {
      const cm = await kubectlJson<any>(node, ['-n', ns, 'get', 'configmap', `${CLUSTER}-config`]);
      return cm && cm.data['broker.json'] !== '{}' ? cm : undefined;
    }, 60_000);
  });

  it('a spec the operator refuses stalls with its reason, and nothing rolls out', async () => {
    const revision = (await kubectlJson<any>(node, ['-n', ns, 'get', 'statefulset', CLUSTER])).status.updateRevision;
    // POD_NAME passes the CRD's rules but is a variable the operator sets itself (defence in depth).
    await node.kubectl(['apply', '--server-side', '-f', '-'], { input: clusterYaml(ns, { maxConnections: 2000, env: [{ name: 'POD_NAME', value: 'x' }] }), check: true });
    const stalled = await waitFor('Stalled', async () => {
      const c = await condition('Stalled');
      return c?.status === 'True' ? c : undefined;
    }, 60_000);
    assert.equal(stalled.reason, 'InvalidEnv');
    assert.match(stalled.message, /POD_NAME/);
    await new Promise((r) => setTimeout(r, 3_000));
    assert.equal((await kubectlJson<any>(node, ['-n', ns, 'get', 'statefulset', CLUSTER])).status.updateRevision, revision, 'nothing rolled out');
    await node.kubectl(['apply', '--server-side', '-f', '-'], { input: clusterYaml(ns, { maxConnections: 2000 }), check: true });
    await waitFor('Stalled to clear', async () => ((await condition('Stalled'))?.status === 'False' && (await condition('Ready'))?.status === 'True') || undefined, 120_000);
  });

  it('renewed certificates reach the brokers without a restart, and a connected client keeps working', async () => {
    const podList = await pods();
    const restarts = podList.map((p) => p.status.containerStatuses[0].restartCount);
    const ip = podList[0].status.podIP as string;
    const servername = `${podList[0].metadata.name}.${CLUSTER}-brokers.${ns}.svc`;
    const ca = (await secretPem(`${CLUSTER}-tls`, 'ca.crt'))!;
    const served = () =>
      new Promise<string>((resolve, reject) => {
        const s = tlsConnect({ host: ip, port: 9092, servername, ca }, () => {
          const serial = s.getPeerX509Certificate()?.serialNumber ?? '';
          s.end();
          resolve(serial);
        });
        s.once('error', reject);
      });
    const before = await served();
    const client = await KafkaWireClient.connect(9092, { host: ip, tls: { ca }, servername });
    const t0 = performance.now();
    const secretSerial = await waitFor('the broker certificate to be renewed', async () => {
      const pem = await secretPem(`${CLUSTER}-tls`, 'tls.crt');
      const serial = pem ? new X509Certificate(pem).serialNumber : undefined;
      return serial && serial !== before ? serial : undefined;
    }, 120_000, 500);
    timings.renewalIssued = (performance.now() - t0) / 1000;
    await waitFor('the broker to serve the renewed certificate', async () => {
      const now = await served();
      return now !== before ? now : undefined;
    }, 180_000, 500);
    timings.renewalServed = (performance.now() - t0) / 1000;
    assert.ok(secretSerial);
    const versions = await client.apiVersions([]);
    assert.ok(versions, 'the connection opened before the renewal still gets answers');
    client.close();
    const after = (await pods()).map((p) => p.status.containerStatuses[0].restartCount);
    assert.deepEqual(after, restarts, 'no broker restarted');
    const r = await kcatMetadata();
    assert.equal(r.code, 0, `kcat -L after the renewal: ${r.stderr}`);
  });

  const leaderNow = async () => (await kubectlJson<any>(node, ['-n', OPERATOR_NAMESPACE, 'get', 'lease', 'bulwark-operator']))?.spec?.holderIdentity as string | undefined;
  const takeover = async (from: string, timing: string) => {
    const t0 = performance.now();
    const next = await waitFor('another operator to hold the lease', async () => {
      const holder = await leaderNow();
      return holder && holder !== from ? holder : undefined;
    }, 120_000);
    timings[timing] = (performance.now() - t0) / 1000;
    return next;
  };

  it('the leader operator process killed (SIGKILL), the other replica takes over once the lease expires', async () => {
    const leader = (await leaderNow())!;
    // The container's main process, found on this machine by the pod's hostname: a crash, not a stop.
    const pid = operatorPid(podOf(leader));
    assert.ok(pid, `the process of operator pod ${podOf(leader)} runs on the node`);
    process.kill(pid, 'SIGKILL');
    // The other replica, or the killed one restarted by the kubelet (a new identity), holds the lease once it expires.
    const next = await takeover(leader, 'leaderTakeoverAfterKill');
    assert.notEqual(next, leader);
  });

  it('the leader operator pod deleted, the other replica takes over at once and repairs drift', async () => {
    const leader = (await leaderNow())!;
    await node.kubectl(['-n', OPERATOR_NAMESPACE, 'delete', 'pod', podOf(leader), '--wait=false'], { check: true });
    await takeover(leader, 'leaderTakeoverAfterDelete');
    const svc = await kubectlJson<any>(node, ['-n', ns, 'get', 'service', CLUSTER]);
    await node.kubectl(['-n', ns, 'delete', 'service', CLUSTER, '--wait=true'], { check: true });
    await waitFor('the new leader to repair the Service', async () => {
      const again = await kubectlJson<any>(node, ['-n', ns, 'get', 'service', CLUSTER]);
      return again && again.metadata.uid !== svc.metadata.uid ? again : undefined;
    }, 60_000);
  });

  it('deleting the BrokerCluster deletes everything it owns', async () => {
    await node.kubectl(['-n', ns, 'delete', 'brokercluster', CLUSTER, '--wait=true', '--timeout=120s'], { check: true });
    const kinds = 'statefulset,service,configmap,secret,serviceaccount,poddisruptionbudget,pod';
    await waitFor('the owned objects to be gone', async () => {
      const left = await kubectlJson<{ items: any[] }>(node, ['-n', ns, 'get', kinds, '-l', `app.kubernetes.io/instance=${CLUSTER}`]);
      return left && left.items.length === 0 ? true : undefined;
    }, 180_000, 1_000);
  });
});
