// `bulwark operator`'s flags: defaults from the pod and the environment, and usage errors (exit 2) that name the flag.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { operatorOptionsFromFlags, type OperatorCommandEnv } from '../src/cli/operator-command.ts';
import { run } from '../src/cli/main.ts';

const inPod: OperatorCommandEnv = { env: { KUBERNETES_SERVICE_HOST: '10.0.0.1', BULWARK_BROKER_IMAGE: 'registry.local/bulwark:1' }, serviceAccountNamespace: () => 'bulwark-system', hostname: () => 'bulwark-operator-7d9f-abcde' };
const outside: OperatorCommandEnv = { env: {}, serviceAccountNamespace: () => undefined, hostname: () => 'laptop' };

test('in a pod: in-cluster config, all namespaces, the Lease in the pod namespace named by the pod, image from the environment', () => {
  const { options: o, reconcilers } = operatorOptionsFromFlags([], inPod);
  assert.equal(o.inCluster, true);
  assert.equal(o.namespaces, undefined);
  assert.equal(o.metricsPort, 8080);
  assert.deepEqual(reconcilers, { brokerImage: 'registry.local/bulwark:1', operatorNamespace: 'bulwark-system' });
  assert.ok(o.leaderElection);
  const { identity, ...election } = o.leaderElection;
  assert.deepEqual(election, { namespace: 'bulwark-system', name: 'bulwark-operator', leaseDurationMs: 15_000, renewDeadlineMs: 10_000, renewIntervalMs: 2_000, retryPeriodMs: 500 });
  // The pod's name, and a suffix new at every start: a restarted process is a new candidate that waits for the lease to expire.
  assert.match(identity ?? "", /^bulwark-operator-7d9f-abcde_[0-9a-f]{8}$/);
  assert.notEqual(operatorOptionsFromFlags([], inPod).options.leaderElection && (operatorOptionsFromFlags([], inPod).options.leaderElection as { identity: string }).identity, identity);
});

test('flags override the defaults', () => {
  const { options: o, reconcilers } = operatorOptionsFromFlags(['--kubeconfig', '/dev/null', '--namespaces', 'a, b', '--metrics-port', '9090', '--namespace', 'ops', '--lease-name', 'x', '--identity', 'me', '--broker-image', 'img:2', '--cert-manager'], inPod);
  assert.deepEqual(reconcilers, { brokerImage: 'img:2', operatorNamespace: 'ops', certManager: true });
  assert.equal(o.kubeconfig, '/dev/null');
  assert.equal(o.inCluster, undefined);
  assert.deepEqual(o.namespaces, ['a', 'b']);
  assert.equal(o.metricsPort, 9090);
  assert.ok(o.leaderElection);
  assert.equal(o.leaderElection.namespace, 'ops');
  assert.equal(o.leaderElection.name, 'x');
  assert.equal(o.leaderElection.identity, 'me');
  const le = operatorOptionsFromFlags(['--leader-election-namespace', 'le', '--namespace', 'ops'], inPod).options.leaderElection;
  assert.ok(le && le.namespace === 'le', '--leader-election-namespace beats --namespace');
  assert.equal(operatorOptionsFromFlags(['--no-leader-election'], outside).options.leaderElection, false);
});

test('usage errors exit 2 and name the flag', async () => {
  const cases: [string[], RegExp][] = [
    [['operator'], /--leader-election-namespace \(or --namespace\) is required outside a pod/],
    [['operator', '--namespace', 'ops', '--metrics-port', 'http'], /--metrics-port must be a port number/],
    [['operator', '--namespace', 'ops', '--namespaces', 'Bad_NS'], /--namespaces: "Bad_NS" is not a namespace name/],
    [['operator', '--namespace', 'ops', '--namespaces', ','], /--namespaces: give at least one namespace/],
    [['operator', '--namespace', 'ops', '--lease-duration', '5', '--renew-deadline', '6'], /--renew-deadline must be shorter than --lease-duration/],
    [['operator', '--namespace', 'ops', '--kubeconfig', '/nonexistent/kubeconfig'], /--kubeconfig: \/nonexistent\/kubeconfig does not exist/],
    [['operator', '--namespace', 'ops', 'extra'], /unexpected argument "extra"/],
    [['operator', '--bogus'], /Unknown option '--bogus'/],
  ];
  for (const [argv, message] of cases) {
    const err: string[] = [];
    const code = await run(argv, { out: () => {}, err: (l) => err.push(l) });
    assert.equal(code, 2, argv.join(' '));
    assert.match(err.join('\n'), message, argv.join(' '));
  }
});

test('--help describes every flag', async () => {
  const out: string[] = [];
  assert.equal(await run(['operator', '--help'], { out: (l) => out.push(l), err: () => {} }), 0);
  for (const flag of ['--kubeconfig', '--namespaces', '--metrics-port', '--leader-election-namespace', '--lease-name', '--identity', '--broker-image']) assert.match(out.join('\n'), new RegExp(flag));
  const help: string[] = [];
  await run(['help'], { out: (l) => help.push(l), err: () => {} });
  assert.match(help.join('\n'), /bulwark operator/);
});
