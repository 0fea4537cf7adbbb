// `bulwark token create|list|revoke`, as a user runs it:
// - local mode against a real broker serving the policy directory: the printed token logs in over
//   HTTPS (Bearer) and Kafka (SASL PLAIN, username `token`); revoke closes the connection that
//   used it and the broker refuses it after;
// - Kubernetes mode against a real kube-apiserver with Bulwark's CRDs and the operator's
//   AccessToken reconciler running in-process: the printed token is the Secret's, list shows it,
//   revoke deletes it; refusals (forbidden, not found, no API server, timeout) say what is wrong;
// - and no token ever appears in a message: every stderr line and error of these runs is checked.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync, statSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { run } from '../src/cli/main.ts';
import { normalizeExpiresAt, normalizeLifetime, tokenCommand, type TokenRow } from '../src/cli/token-command.ts';
import { KafkaErrorCode } from '../src/kafka/error-codes.ts';
import { createLogger } from '../src/lib/index.ts';
import { accessTokenReconciler } from '../src/operator/accesstoken/index.ts';
import { KINDS, KubeClient, KubeObjectApi, loadKubeConfig, type KindRef } from '../src/operator/controller/index.ts';
import { startOperator, type OperatorHandle } from '../src/operator/index.ts';
import { TOKEN_FORMAT } from '../src/policy/credentials.ts';
import { ISSUED_AT_ANNOTATION, TOKEN_SECRET_KEY, readPolicyDirectory } from '../src/policy/directory.ts';
import { KafkaWireClient } from '../tools/kafka-wire/client.ts';
import { startTestBroker, type SecureTestBroker } from './harness/broker.ts';
import { https } from './harness/clients.ts';
import { startControlPlane, type ControlPlane } from './harness/controlplane.ts';
import { accessTokenYaml, brokerClusterYaml, CLUSTER, NAMESPACE, roleYaml, userYaml } from './harness/policy.ts';
import { useTempDirs } from './harness/temp.ts';

const root = join(import.meta.dirname, '..');

/** Every token a command printed, and every line it wrote to stderr: no token may be in any of those lines. */
const printedTokens: string[] = [];
const stderrLines: string[] = [];

interface Result {
  code: number;
  stdout: string[];
  stderr: string[];
}

/** The command in-process, through the same `run` the binary calls. */
async function bulwark(...args: string[]): Promise<Result> {
  const stdout: string[] = [];
  const stderr: string[] = [];
  const code = await run(args, { out: (l) => stdout.push(l), err: (l) => stderr.push(l) });
  stderrLines.push(...stderr);
  for (const l of stdout) if (TOKEN_FORMAT.test(l)) printedTokens.push(l);
  return { code, stdout, stderr };
}

function assertNoTokenIn(lines: readonly string[], tokens: readonly string[]): void {
  for (const token of tokens) for (const line of lines) assert.ok(!line.includes(token), `a token appears in: ${line.replace(token, '<token>')}`);
}

const tempDir = useTempDirs('cli-token');

describe('local mode (--policy-dir) with a real broker', () => {
  let b: SecureTestBroker;
  const call = (path: string, bearer: string) => https(`${b.http}${path}`, { ca: b.pki.ca.certPem, headers: { authorization: `Bearer ${bearer}` } });

  before(async () => {
    b = await startTestBroker({
      security: {
        policy: {
          'cluster.yaml': brokerClusterYaml(),
          'roles.yaml': roleYaml('app-read', [{ topics: ['tok-*'], actions: ['read'] }]),
          'reporter.yaml': userYaml('reporter', { type: 'tls', roles: ['app-read'] }),
        },
      },
    });
    b.broker.topics.createTopic('tok-reports', 1);
  });
  after(async () => {
    await b?.stop();
    assertNoTokenIn([...(b?.logs ?? []), ...stderrLines], printedTokens);
  });

  test('create prints a token the broker accepts over HTTPS and SASL PLAIN; revoke closes its connection and the broker refuses it', async (t) => {
    const dir = b.policy.path;
    const before = b.broker.policy.applied.version;
    const created = await bulwark('token', 'create', 'reporter-ci', '--user', 'reporter', '--lifetime', '30d', '--description', 'nightly report', '--policy-dir', dir);
    assert.equal(created.code, 0, created.stderr.join('\n'));
    assert.equal(created.stdout.length, 1, 'stdout is the token alone');
    const token = created.stdout[0]!;
    assert.match(token, TOKEN_FORMAT);
    assert.ok(created.stderr.some((l) => /expires: \d{4}-.*\(720h after issue\)/.test(l)), created.stderr.join('\n'));
    assert.ok(created.stderr.some((l) => /SASL PLAIN with username "token"/.test(l)));

    // One new file, private, that the directory loader reads with no problem.
    const file = join(dir, 'token-reporter-ci.yaml');
    assert.equal(statSync(file).mode & 0o777, 0o600);
    const directory = await readPolicyDirectory(dir);
    assert.deepEqual(directory.problems, []);
    const secret = directory.secrets.get(`${NAMESPACE}/reporter-ci-token`);
    assert.equal(secret?.data.get(TOKEN_SECRET_KEY), token);
    assert.match(secret?.annotations[ISSUED_AT_ANNOTATION] ?? '', /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    const version = await b.policyAfter(before);
    t.diagnostic(`policy version ${before} -> ${version} after create`);

    // The token works: HTTPS Bearer, and SASL PLAIN on the TLS Kafka listener.
    const read = await call('/v1/topics/tok-reports/partitions/0/records?offset=0', token);
    assert.equal(read.status, 200, read.text);
    const raw = await KafkaWireClient.connect(b.port('tls'), { tls: { ca: b.pki.ca.certPem } });
    assert.equal((await raw.plain('token', token)).errorCode, KafkaErrorCode.NONE);

    // list shows it, never the token.
    const listed = await bulwark('token', 'list', '--policy-dir', dir);
    assert.equal(listed.code, 0, listed.stderr.join('\n'));
    assert.match(listed.stdout[0]!, /^NAME\s+USER\s+CLUSTER\s+EXPIRES\s+STATUS$/);
    assert.match(listed.stdout.find((l) => l.startsWith('reporter-ci '))!, new RegExp(`^reporter-ci\\s+reporter\\s+${CLUSTER}\\s+\\d{4}-\\d\\d-\\d\\dT[\\d:]+Z\\s+Ready$`));
    const json = await bulwark('token', 'list', '--policy-dir', dir, '-o', 'json');
    const rows = JSON.parse(json.stdout.join('\n')) as TokenRow[];
    assert.deepEqual(
      rows.map((r) => [r.name, r.user, r.cluster, r.status, r.description]),
      [['reporter-ci', 'reporter', CLUSTER, 'Ready', 'nightly report']],
    );
    assertNoTokenIn([...listed.stdout, ...json.stdout], [token]);

    // A token is printed once: create refuses the name again, and prints nothing on stdout.
    const again = await bulwark('token', 'create', 'reporter-ci', '--user', 'reporter', '--policy-dir', dir);
    assert.equal(again.code, 2);
    assert.deepEqual(again.stdout, []);
    assert.match(again.stderr.join('\n'), /AccessToken apps\/reporter-ci already exists .*token-reporter-ci\.yaml.*\[BWK_ERR_TOKEN_EXISTS\]/);

    // Revoke: the file goes, the broker reloads, closes the connection that used the token, and refuses it.
    const revokedAt = Date.now();
    const revoked = await bulwark('token', 'revoke', 'reporter-ci', '--policy-dir', dir);
    assert.equal(revoked.code, 0, revoked.stderr.join('\n'));
    assert.match(revoked.stdout[0]!, /^revoked AccessToken apps\/reporter-ci \(removed .*token-reporter-ci\.yaml\)$/);
    assert.equal(existsSync(file), false);
    await b.policyAfter(version);
    const closedAfter = (await Promise.race([raw.closedAt, new Promise<number>((r) => setTimeout(() => r(Infinity), 5000))])) - revokedAt;
    t.diagnostic(`the connection that used the token was closed ${closedAfter} ms after revoke`);
    assert.ok(closedAfter < 1000, `connection closed after ${closedAfter} ms`);
    assert.equal((await call('/v1/topics/tok-reports/partitions/0/records?offset=0', token)).status, 401);
    const again2 = await KafkaWireClient.connect(b.port('tls'), { tls: { ca: b.pki.ca.certPem } });
    assert.equal((await again2.plain('token', token)).errorCode, KafkaErrorCode.SASL_AUTHENTICATION_FAILED);
    again2.close();

    const gone = await bulwark('token', 'revoke', 'reporter-ci', '--policy-dir', dir);
    assert.equal(gone.code, 2);
    assert.match(gone.stderr.join('\n'), /AccessToken reporter-ci not found in .*\[BWK_ERR_TOKEN_NOT_FOUND\]/);
  });
});

describe('local mode refusals and details', () => {
  const dirWith = (files: Record<string, string>) => {
    const dir = tempDir('policy');
    for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
    return dir;
  };
  const base = () => ({ 'cluster.yaml': brokerClusterYaml(), 'reporter.yaml': userYaml('reporter', { type: 'tls' }) });

  test('a token declared in a file with other documents is not revoked: the message names the file, which is left alone', async () => {
    const shared = userYaml('svc', { type: 'tls' }) + '---\n' + accessTokenYaml('svc-ci', 'svc', 'bwk_' + 'A'.repeat(43));
    const dir = dirWith({ ...base(), 'svc.yaml': shared });
    const r = await bulwark('token', 'revoke', 'svc-ci', '--policy-dir', dir);
    assert.equal(r.code, 2);
    assert.match(r.stderr.join('\n'), /AccessToken apps\/svc-ci is declared in .*svc\.yaml together with other documents.*\[BWK_ERR_TOKEN_FILE_SHARED\]/);
    assert.equal(readFileSync(join(dir, 'svc.yaml'), 'utf8'), shared);
    assertNoTokenIn(r.stderr, ['bwk_' + 'A'.repeat(43)]);
  });

  test('a file holding just the token and its Secret (as people write them by hand) is revoked', async () => {
    const dir = dirWith({ ...base(), 'reporter-token.yaml': accessTokenYaml('by-hand', 'reporter', 'bwk_' + 'B'.repeat(43)) });
    const r = await bulwark('token', 'revoke', 'by-hand', '-n', NAMESPACE, '--policy-dir', dir);
    assert.equal(r.code, 0, r.stderr.join('\n'));
    assert.equal(existsSync(join(dir, 'reporter-token.yaml')), false);
  });

  test('refusals: usage, mutually exclusive flags, invalid names, a Secret name in use, no cluster to choose', async () => {
    const dir = dirWith(base());
    const cases: [string[], RegExp][] = [
      [['token', 'create', '--user', 'reporter', '--policy-dir', dir], /token create needs a NAME/],
      [['token', 'create', 'x', '--policy-dir', dir], /needs --user USER/],
      [['token', 'create', 'x', '--user', 'reporter', '--lifetime', '1h', '--expires-at', '2099-01-01T00:00:00Z', '--policy-dir', dir], /mutually exclusive/],
      [['token', 'create', 'x', '--user', 'reporter', '--lifetime', 'soon', '--policy-dir', dir], /--lifetime: "soon" is not a duration/],
      [['token', 'create', 'x', '--user', 'reporter', '--expires-at', '2001-01-01T00:00:00Z', '--policy-dir', dir], /is in the past/],
      [['token', 'create', 'Bad_Name', '--user', 'reporter', '--policy-dir', dir], /AccessToken apps\/Bad_Name would be invalid: metadata\.name: .*\[BWK_ERR_TOKEN_SPEC_INVALID\]/],
      [['token', 'create', 'x', '--user', 'reporter', '--secret-name', 'reporter-password', '--policy-dir', dirWith({ ...base(), 'pw.yaml': userYaml('reporter2', { type: 'scram-sha-256', password: 'Some-Password-123!' }).replace(/reporter2-password/g, 'reporter-password') })], /already has a Secret apps\/reporter-password/],
      [['token', 'create', 'x', '--user', 'reporter', '--policy-dir', dirWith({ ...base(), 'other.yaml': brokerClusterYaml().replace(`"name": "${CLUSTER}"`, '"name": "other"') })], /has apps\/(secure|other), apps\/(secure|other); choose one with --cluster.*\[BWK_ERR_TOKEN_CLUSTER_UNKNOWN\]/],
      [['token', 'create', 'x', '--user', 'reporter', '--policy-dir', dir, '--kubeconfig', '/nonexistent'], /--kubeconfig is for Kubernetes mode and --policy-dir for local mode/],
      [['token', 'list', '--policy-dir', dir, '-o', 'yaml'], /-o: expected table or json/],
      [['token', 'frobnicate'], /unknown token command "frobnicate"/],
    ];
    for (const [args, expected] of cases) {
      const r = await bulwark(...args);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr.join('\n')}`);
      assert.deepEqual(r.stdout, [], args.join(' '));
      assert.match(r.stderr.join('\n'), expected, args.join(' '));
    }
  });

  test('a missing User or Role is said at create, and list shows why the broker refuses the token; expired tokens show Expired', async () => {
    const dir = dirWith({ ...base(), 'old.yaml': accessTokenYaml('old', 'reporter', 'bwk_' + 'C'.repeat(43), { expiresAt: '2020-01-01T00:00:00Z' }) });
    const r = await bulwark('token', 'create', 'ghost-ci', '--user', 'ghost', '--role', 'nope', '--policy-dir', dir);
    assert.equal(r.code, 0, r.stderr.join('\n'));
    assert.match(r.stderr.join('\n'), /error: the broker will not accept this token until this is fixed: spec\.userRef: User ghost does not exist/);
    assert.match(r.stderr.join('\n'), /expires: never/);
    const listed = await bulwark('token', 'list', '--policy-dir', dir);
    const line = (name: string) => listed.stdout.find((l) => l.startsWith(`${name} `)) ?? '';
    assert.match(line('ghost-ci'), /\snever\s+Stalled:UserNotFound$/);
    assert.match(line('old'), /2020-01-01T00:00:00Z\s+Expired$/);
    const json = JSON.parse((await bulwark('token', 'list', '--policy-dir', dir, '--user', 'ghost', '-o', 'json')).stdout.join('\n')) as TokenRow[];
    assert.deepEqual(
      json.map((t) => [t.name, t.status, t.roles, t.expiresAt]),
      [['ghost-ci', 'Stalled:UserNotFound', ['nope'], null]],
    );
    assert.match(json[0]!.message!, /User ghost does not exist/);
    // What create wrote passes `bulwark policy check` but for the missing references it named.
    const check = await bulwark('policy', 'check', dir);
    assert.match(check.stderr.join('\n'), /token-ghost-ci\.yaml \(document 1\): spec\.userRef: User ghost does not exist/);
  });

  test('durations and times as people type them: 30d is 720h, an offset becomes UTC', () => {
    assert.equal(normalizeLifetime('30d'), '720h');
    assert.equal(normalizeLifetime('1h30m'), '1h30m');
    assert.throws(() => normalizeLifetime('0h'), /not a duration/);
    assert.equal(normalizeExpiresAt('2030-06-01T02:00:00+02:00', Date.parse('2027-01-01T00:00:00Z')), '2030-06-01T00:00:00Z');
    assert.throws(() => normalizeExpiresAt('2030-06-01', 0), /not an RFC 3339 time/);
  });

  test('with a fixed clock the expiry follows the issue time', async () => {
    const dir = dirWith(base());
    const now = Date.parse('2030-01-01T00:00:00Z');
    const err: string[] = [];
    const out: string[] = [];
    const code = await tokenCommand(['create', 'clocked', '--user', 'reporter', '--lifetime', '48h', '--policy-dir', dir], { out: (l) => out.push(l), err: (l) => err.push(l) }, { env: {}, home: () => dir, now: () => now });
    assert.equal(code, 0, err.join('\n'));
    assert.ok(err.some((l) => l.includes('expires: 2030-01-03T00:00:00Z (48h after issue)')), err.join('\n'));
    assert.match(readFileSync(join(dir, 'token-clocked.yaml'), 'utf8'), /bulwark\.dev\/issued-at: "2030-01-01T00:00:00Z"/);
    assertNoTokenIn(err, out);
  });

  test('as a process: stdout is the token and a newline, nothing else, so T=$(bulwark token create …) works', async () => {
    const dir = dirWith(base());
    const { stdout, stderr } = await promisify(execFile)(process.execPath, ['--import', 'tsx', join(root, 'src', 'cli', 'entry.ts'), 'token', 'create', 'proc', '--user', 'reporter', '--policy-dir', dir], { cwd: root });
    assert.match(stdout, /^bwk_[A-Za-z0-9_-]{43}\n$/);
    assert.ok(!stderr.includes(stdout.trim()), 'the token is not on stderr');
    assert.match(stderr, /AccessToken apps\/proc: user reporter, cluster secure/);
  });
});

const brokerClusterSpec = { replicas: 1, storage: { size: '1Gi' }, listeners: [{ name: 'kafka', protocol: 'kafka', port: 9092, authentication: ['scram-sha-256'] }] };

describe('Kubernetes mode against a real kube-apiserver', () => {
  let cp: ControlPlane;
  let api: KubeObjectApi;
  let client: KubeClient;
  const kube = (...args: string[]) => bulwark(...args, '--kubeconfig', cp.kubeconfigPath);
  const applyCluster = (namespace: string, name: string) =>
    cp.kubectl(['apply', '-f', '-'], { input: JSON.stringify({ apiVersion: 'bulwark.dev/v1alpha1', kind: 'BrokerCluster', metadata: { name, namespace }, spec: brokerClusterSpec }), check: true });

  before(async () => {
    cp = await startControlPlane();
    await cp.kubectl(['apply', '-f', join(root, 'crds')], { check: true });
    await cp.kubectl(['wait', '--for=condition=Established', 'crd', '--all', '--timeout=60s'], { check: true });
    client = new KubeClient(loadKubeConfig({ kubeconfig: cp.kubeconfigPath }));
    api = new KubeObjectApi(client, [KINDS.accessToken, KINDS.secret]);
  });
  after(async () => {
    client?.close();
    await cp?.stop();
    assertNoTokenIn(stderrLines, printedTokens);
  });

  test('no API server: a kubeconfig file that does not exist, or a server that does not answer', async () => {
    const missing = await bulwark('token', 'list', '--kubeconfig', join(tempDir('kc'), 'nope'));
    assert.equal(missing.code, 2);
    assert.match(missing.stderr.join('\n'), /no API server: --kubeconfig .*nope does not exist \[BWK_ERR_KUBE_UNAVAILABLE\]/);
    const file = join(tempDir('kc'), 'kubeconfig');
    writeFileSync(
      file,
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [{ name: 'c', cluster: { server: 'https://127.0.0.1:1', 'insecure-skip-tls-verify': true } }],
        users: [{ name: 'u', user: { token: 'not-a-real-credential' } }],
        contexts: [{ name: 'ctx', context: { cluster: 'c', user: 'u', namespace: 'team' } }],
        'current-context': 'ctx',
      }),
    );
    const down = await bulwark('token', 'revoke', 'x', '--kubeconfig', file);
    assert.equal(down.code, 2);
    assert.match(down.stderr.join('\n'), /no API server: cannot reach https:\/\/127\.0\.0\.1:1: ECONNREFUSED \[BWK_ERR_KUBE_UNAVAILABLE\]/);
    const ctx = await bulwark('token', 'list', '--kubeconfig', file, '--context', 'other');
    assert.match(ctx.stderr.join('\n'), /the kubeconfig has no context "other" \(it has ctx\)/);
    assertNoTokenIn([...down.stderr, ...ctx.stderr], ['not-a-real-credential']);
  });

  test('refusals say what is wrong: not found, no cluster to choose, RBAC verb and resource missing', async () => {
    const ns = await cp.createNamespace('tok-refuse');
    const notFound = await kube('token', 'revoke', 'nothing', '-n', ns);
    assert.equal(notFound.code, 2);
    assert.match(notFound.stderr.join('\n'), new RegExp(`AccessToken ${ns}/nothing not found \\[BWK_ERR_TOKEN_NOT_FOUND\\]`));

    const noCluster = await kube('token', 'create', 'a', '--user', 'u', '-n', ns);
    assert.match(noCluster.stderr.join('\n'), new RegExp(`namespace ${ns} has no BrokerCluster; give --cluster CLUSTER.*\\[BWK_ERR_TOKEN_CLUSTER_UNKNOWN\\]`));
    await applyCluster(ns, 'one');
    await applyCluster(ns, 'two');
    const twoClusters = await kube('token', 'create', 'a', '--user', 'u', '-n', ns);
    assert.match(twoClusters.stderr.join('\n'), /has BrokerClusters one, two; choose one with --cluster/);

    // A user with no rights at all, then one who may create AccessTokens but not read Secrets.
    const alice = await cp.createUser('alice');
    const denied = await bulwark('token', 'list', '-n', ns, '--kubeconfig', alice.kubeconfigPath);
    assert.equal(denied.code, 2);
    assert.match(denied.stderr.join('\n'), new RegExp(`forbidden: your Kubernetes credentials may not list accesstokens\\.bulwark\\.dev in namespace ${ns} \\(RBAC: .*\\); the API server said: 403 Forbidden: .*alice.*\\[BWK_ERR_KUBE_FORBIDDEN\\]`));
    const role = { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: { name: 'tokens', namespace: ns }, rules: [{ apiGroups: ['bulwark.dev'], resources: ['accesstokens'], verbs: ['get', 'list', 'create', 'delete'] }] };
    const binding = { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: { name: 'alice-tokens', namespace: ns }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'tokens' }, subjects: [{ kind: 'User', name: 'alice' }] };
    await cp.kubectl(['apply', '-f', '-'], { input: JSON.stringify({ apiVersion: 'v1', kind: 'List', items: [role, binding] }), check: true });
    const noSecrets = await bulwark('token', 'create', 'a', '--user', 'u', '--cluster', 'one', '-n', ns, '--kubeconfig', alice.kubeconfigPath);
    assert.equal(noSecrets.code, 2);
    assert.match(noSecrets.stderr.join('\n'), new RegExp(`may not get secrets in namespace ${ns}`));
    assert.equal(await api.get(KINDS.accessToken, { namespace: ns, name: 'a' }), undefined, 'nothing was created');
  });

  test('with no operator, create waits, then says what the status says and takes the AccessToken back', async () => {
    const ns = await cp.createNamespace('tok-timeout');
    await applyCluster(ns, 'main');
    const r = await kube('token', 'create', 'lonely', '--user', 'u', '-n', ns, '--wait', '2s');
    assert.equal(r.code, 2);
    assert.deepEqual(r.stdout, []);
    const text = r.stderr.join('\n');
    assert.match(text, new RegExp(`created AccessToken ${ns}/lonely; waiting up to 2s for the operator to write Secret ${ns}/lonely-token`));
    assert.match(text, /the operator did not write Secret .*lonely-token within 2s; AccessToken status: no status yet \(no operator has acted on it: is the operator running.*was deleted again.*\[BWK_ERR_TOKEN_WAIT_TIMEOUT\]/);
    assert.equal(await api.get(KINDS.accessToken, { namespace: ns, name: 'lonely' }), undefined);
  });
  describe("with the operator's AccessToken reconciler running", () => {
    let operator: OperatorHandle;
    const operatorLogs: string[] = [];
    before(async () => {
      const log = createLogger({ level: 'debug', destination: { write: (line: string) => void operatorLogs.push(line) } });
      operator = await startOperator({ kubeconfig: cp.kubeconfigPath, reconcilers: [accessTokenReconciler()], leaderElection: false, metricsPort: 0, metricsHost: '127.0.0.1', log });
    });
    after(async () => {
      await operator?.stop();
      assert.ok(operatorLogs.length > 0);
      assertNoTokenIn(operatorLogs, printedTokens);
    });

    test('create prints the token the operator wrote to the Secret (its User does not exist: issued all the same), list shows it, revoke deletes it', async (t) => {
      const ns = await cp.createNamespace('tok-op');
      await applyCluster(ns, 'main');
      const created = await kube('token', 'create', 'ghost-ci', '--user', 'ghost', '-n', ns, '--lifetime', '48h', '--description', 'no such user', '--wait', '30s');
      assert.equal(created.code, 0, created.stderr.join('\n'));
      assert.equal(created.stdout.length, 1);
      const token = created.stdout[0]!;
      assert.match(token, TOKEN_FORMAT);
      t.diagnostic(created.stderr.join('\n'));

      type Obj = { metadata: { uid: string; ownerReferences?: { kind: string; name: string; uid: string; controller?: boolean }[]; managedFields?: { manager: string }[] }; data?: Record<string, string>; status?: { expiresAt?: string } };
      const get = async (kind: KindRef, name: string) => (await api.get(kind, { namespace: ns, name })) as unknown as Obj | undefined;
      const accessToken = (await get(KINDS.accessToken, 'ghost-ci'))!;
      assert.ok(accessToken.metadata.managedFields?.some((m) => m.manager === 'bulwark-cli'), 'written as field manager bulwark-cli');
      const secret = (await get(KINDS.secret, 'ghost-ci-token'))!;
      assert.equal(Buffer.from(secret.data![TOKEN_SECRET_KEY]!, 'base64').toString('utf8'), token, 'the printed token is the Secret\'s');
      assert.deepEqual(
        secret.metadata.ownerReferences?.map((o) => [o.kind, o.name, o.uid, o.controller]),
        [['AccessToken', 'ghost-ci', accessToken.metadata.uid, true]],
        'the Secret is owned by the AccessToken, so deleting it deletes the Secret',
      );

      const listed = await kube('token', 'list', '-n', ns);
      assert.equal(listed.code, 0, listed.stderr.join('\n'));
      const line = listed.stdout.find((l) => l.startsWith('ghost-ci '));
      t.diagnostic(listed.stdout.join('\n'));
      assert.match(line ?? '', /^ghost-ci\s+ghost\s+main\s+\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\s+(Reconciling|Stalled:\w+|NotReady:\w+)$/);
      const rows = JSON.parse((await kube('token', 'list', '-n', ns, '-o', 'json')).stdout.join('\n')) as TokenRow[];
      const latest = (await get(KINDS.accessToken, 'ghost-ci'))!;
      assert.equal(rows[0]!.expiresAt, latest.status?.expiresAt);
      assert.equal(rows[0]!.description, 'no such user');
      const all = await kube('token', 'list', '-A', '--user', 'ghost');
      assert.match(all.stdout[0]!, /^NAMESPACE\s+NAME\s+USER\s+CLUSTER\s+EXPIRES\s+STATUS$/);
      assert.ok(all.stdout.some((l) => l.startsWith(`${ns} `) && l.includes('ghost-ci')));
      assertNoTokenIn([...listed.stdout, ...all.stdout], [token]);

      const again = await kube('token', 'create', 'ghost-ci', '--user', 'ghost', '-n', ns);
      assert.equal(again.code, 2);
      assert.deepEqual(again.stdout, []);
      assert.match(again.stderr.join('\n'), /already exists.*\[BWK_ERR_TOKEN_EXISTS\]/);

      const revoked = await kube('token', 'revoke', 'ghost-ci', '-n', ns);
      assert.equal(revoked.code, 0, revoked.stderr.join('\n'));
      assert.equal(revoked.stdout[0], `revoked AccessToken ${ns}/ghost-ci`);
      // No garbage collector runs in a bare control plane: the AccessToken is gone, and the Secret's owner reference (above) is what deletes it in a cluster.
      assert.equal(await api.get(KINDS.accessToken, { namespace: ns, name: 'ghost-ci' }), undefined);
      assertNoTokenIn([...created.stderr, ...again.stderr, ...revoked.stderr, ...revoked.stdout], [token]);
    });
  });
});
