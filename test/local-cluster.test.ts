// What `npm run cluster:up` writes and prints, as pure functions (tools/node/local-cluster.ts);
// e2e/cluster-up.test.ts runs the whole thing on the real node.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { parseResource } from '../src/api/index.ts';
import { brokerHostEntries, clusterProgress, EXAMPLE, howToReach, kcatCommand, LOCAL_STORAGE_CLASS, localStorageDocs, type BrokerClusterStatus } from '../tools/node/local-cluster.ts';

const root = join(import.meta.dirname, '..');

describe('local storage', () => {
  test('one default StorageClass without a provisioner and one hostPath PersistentVolume per directory', () => {
    const docs = localStorageDocs(['/v/a', '/v/b'], '1Gi') as any[];
    assert.equal(docs.length, 3);
    assert.equal(docs[0].kind, 'StorageClass');
    assert.equal(docs[0].metadata.annotations['storageclass.kubernetes.io/is-default-class'], 'true');
    assert.equal(docs[0].provisioner, 'kubernetes.io/no-provisioner');
    assert.deepEqual(docs.slice(1).map((d) => [d.kind, d.spec.storageClassName, d.spec.hostPath.path, d.spec.capacity.storage]), [
      ['PersistentVolume', LOCAL_STORAGE_CLASS, '/v/a', '1Gi'],
      ['PersistentVolume', LOCAL_STORAGE_CLASS, '/v/b', '1Gi'],
    ]);
    assert.equal(new Set(docs.map((d) => d.metadata.name)).size, 3);
  });
});

describe('the brokers in the client host /etc/hosts', () => {
  const pod = (name: string, ip: string | undefined, ready: boolean, deleting = false) => ({
    metadata: { name, ...(deleting ? { deletionTimestamp: '2026-01-01T00:00:00Z' } : {}) },
    status: { ...(ip ? { podIP: ip } : {}), conditions: [{ type: 'Ready', status: ready ? 'True' : 'False' }] },
  });

  test('each pod at its DNS name, the client Service at the first ready pod', () => {
    const e = brokerHostEntries({ items: [pod('demo-0', '10.244.77.10', false), pod('demo-1', '10.244.77.11', true)] }, 'ns', 'demo');
    assert.deepEqual(e, {
      'demo-0.demo-brokers.ns.svc': '10.244.77.10',
      'demo-0.demo-brokers.ns.svc.cluster.local': '10.244.77.10',
      'demo-1.demo-brokers.ns.svc': '10.244.77.11',
      'demo-1.demo-brokers.ns.svc.cluster.local': '10.244.77.11',
      'demo.ns.svc': '10.244.77.11',
      'demo.ns.svc.cluster.local': '10.244.77.11',
    });
  });

  test('pods without an IP or being deleted are left out; no ready pod, no Service name', () => {
    const e = brokerHostEntries({ items: [pod('demo-0', undefined, false), pod('demo-1', '10.244.77.11', true, true)] }, 'ns', 'demo');
    assert.deepEqual(e, {});
  });
});

describe('progress of the BrokerCluster', () => {
  const bc = (over: Partial<NonNullable<BrokerClusterStatus['status']>>, generation = 1): BrokerClusterStatus => ({
    metadata: { generation },
    status: { observedGeneration: 1, readyReplicas: 0, ...over },
  });
  const cond = (type: string, status: string, reason: string, message = '') => ({ type, status, reason, message });

  test('not there yet', () => assert.deepEqual(clusterProgress(undefined, 'kafka'), { ready: false, stalled: false, line: 'not created yet' }));

  test('Reconciling shows its reason', () => {
    const p = clusterProgress(bc({ conditions: [cond('Ready', 'False', 'PodsNotReady'), cond('Reconciling', 'True', 'RollingOut', '0 of 1 ready')] }), 'kafka');
    assert.deepEqual(p, { ready: false, stalled: false, line: '0 ready; Reconciling RollingOut: 0 of 1 ready' });
  });

  test('Ready with the listener bootstrap', () => {
    const p = clusterProgress(bc({ readyReplicas: 1, conditions: [cond('Ready', 'True', 'Ready')], listeners: [{ name: 'kafka', tls: true, bootstrap: 'demo.ns.svc:9092' }] }), 'kafka');
    assert.equal(p.ready, true);
    assert.equal(p.ready && p.bootstrap, 'demo.ns.svc:9092');
  });

  test('a Ready of an older generation does not count', () => {
    const p = clusterProgress(bc({ conditions: [cond('Ready', 'True', 'Ready')], listeners: [{ name: 'kafka', bootstrap: 'demo.ns.svc:9092' }] }, 2), 'kafka');
    assert.equal(p.ready, false);
  });

  test('Stalled is terminal', () => {
    const p = clusterProgress(bc({ conditions: [cond('Ready', 'False', 'Stalled'), cond('Stalled', 'True', 'InvalidEnv', 'POD_NAME is set by the operator')] }), 'kafka');
    assert.deepEqual(p, { ready: false, stalled: true, line: 'Stalled InvalidEnv: POD_NAME is set by the operator' });
  });
});

describe('what cluster:up prints', () => {
  const st = { namespace: 'bulwark-demo', cluster: 'demo', bootstrap: 'demo.bulwark-demo.svc:9092', clientHost: { name: 'bwkc-bwk0-251', ip: '10.244.77.251' }, caFile: '/root/.cache/bulwark/node/run/demo-ca.crt', image: 'bulwark.local/bulwark:x' };

  test('a kcat command with TLS, the cluster CA and hostname verification, run in the client host', () => {
    assert.equal(
      kcatCommand(st).line,
      'ip netns exec bwkc-bwk0-251 kcat -L -b demo.bulwark-demo.svc:9092 -X security.protocol=SSL -X ssl.ca.location=/root/.cache/bulwark/node/run/demo-ca.crt -X ssl.endpoint.identification.algorithm=https',
    );
  });

  test('a path that would need shell quoting is refused rather than printed broken', () => {
    assert.throws(() => kcatCommand({ ...st, caFile: '/home/a b/ca.crt' }), /shell quoting/);
  });

  test('the instructions name the hosts, the CA file and the kcat line', () => {
    const text = howToReach(st, { 'demo.bulwark-demo.svc': '10.244.77.10', 'demo.bulwark-demo.svc.cluster.local': '10.244.77.10' }, '/k').join('\n');
    assert.match(text, /10\.244\.77\.10\s+demo\.bulwark-demo\.svc\n/);
    assert.doesNotMatch(text, /cluster\.local/);
    assert.ok(text.includes(`  ${kcatCommand(st).line}\n`));
    assert.ok(text.includes(st.caFile));
    assert.ok(text.includes('export KUBECONFIG=/k'));
  });
});

describe('examples/kubernetes', () => {
  const docs = readdirSync(join(root, EXAMPLE.dir))
    .filter((f) => f.endsWith('.yaml'))
    .sort()
    .flatMap((f) => parseAllDocuments(readFileSync(join(root, EXAMPLE.dir, f), 'utf8')).map((d) => d.toJS()));

  test('the namespace (restricted, with the operator RoleBinding) comes before the BrokerCluster', () => {
    assert.deepEqual(docs.map((d) => d.kind), ['Namespace', 'RoleBinding', 'BrokerCluster', 'Topic', 'User', 'User', 'AccessToken', 'TopicGrant', 'Role', 'TopicGrant']);
    assert.equal(docs[0].metadata.name, EXAMPLE.namespace);
    assert.equal(docs[0].metadata.labels['pod-security.kubernetes.io/enforce'], 'restricted');
    assert.equal(docs[1].roleRef.name, 'bulwark-operator-namespaced');
    assert.deepEqual(docs[1].subjects, [{ kind: 'ServiceAccount', name: 'bulwark-operator', namespace: 'bulwark-system' }]);
  });

  test('the BrokerCluster is valid, leaves the StorageClass to the default, and has the TLS listener cluster:up prints', () => {
    const bc = docs[2];
    const parsed = parseResource(bc);
    assert.equal(parsed.ok, true, JSON.stringify(parsed));
    assert.equal(bc.metadata.name, EXAMPLE.cluster);
    assert.equal(bc.metadata.namespace, EXAMPLE.namespace);
    assert.equal(bc.spec.storage.storageClassName, undefined);
    const l = bc.spec.listeners.find((x: any) => x.name === EXAMPLE.listener);
    assert.equal(l.protocol, 'kafka');
    assert.equal(l.tls.enabled, true);
  });

  test('the Topic is valid and belongs to the example cluster', () => {
    const topic = docs[3];
    const parsed = parseResource(topic);
    assert.equal(parsed.ok, true, JSON.stringify(parsed));
    assert.equal(topic.spec.clusterRef.name, EXAMPLE.cluster);
    assert.equal(topic.metadata.namespace, EXAMPLE.namespace);
  });
});
