// The `bulwark` command as a user runs it: a real process, real files on disk.
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { promisify } from 'node:util';
import { useTempDirs } from './harness/temp.ts';

const root = join(import.meta.dirname, '..');
const bin = join(root, 'bin', 'bulwark.js');

async function bulwark(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [bin, ...args], { cwd: root });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

const tempDir = useTempDirs('cli');
function policyDir(files: Record<string, string>): string {
  const dir = tempDir('policy');
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return dir;
}

describe('bulwark policy check', () => {
  test('accepts the examples', async () => {
    const r = await bulwark('policy', 'check', 'examples/policy');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /policy OK: streaming\/events: 5 users, 1 tokens, \d+ rules, 0 error\(s\)/);
  });

  test('reports every error with file, document and field path, and exits non-zero', async () => {
    const dir = policyDir({
      'users.yaml': `apiVersion: bulwark.dev/v1alpha1
kind: User
metadata: { name: ok-user, namespace: prod }
spec:
  clusterRef: { name: c1 }
  authentication: { type: scram-sha-256, passwordSecretRef: { name: pw, key: password } }
  roles: [does-not-exist]
---
apiVersion: bulwark.dev/v1alpha1
kind: User
metadata: { name: bad-user, namespace: prod }
spec:
  clusterRef: { name: c1 }
  authentication: { type: scram-sha-256 }
  hosts: [not-an-address]
`,
      'grants.yaml': `apiVersion: bulwark.dev/v1alpha1
kind: TopicGrant
metadata: { name: both, namespace: prod }
spec:
  clusterRef: { name: c1 }
  subjects: [{ kind: User, name: ok-user }]
  topics: [orders]
  actions: [read]
  role: reader
  effect: Allow
`,
      'broken.yaml': 'apiVersion: v1\nkind: [unclosed\n',
      'secret.yaml': `apiVersion: v1
kind: Secret
metadata: { name: pw, namespace: prod }
stringData: { password: "S3cret-Example-Value!" }
`,
    });
    const r = await bulwark('policy', 'check', dir);
    assert.equal(r.code, 1);
    const lines = r.stderr.split('\n');
    const has = (re: RegExp) => assert.ok(lines.some((l) => re.test(l)), `no line matches ${re}:\n${r.stderr}`);
    has(/^error: .*users\.yaml \(document 2\): spec\.hosts\[0\]: /);
    has(/^error: .*grants\.yaml \(document 1\): spec: set exactly one of actions or role/);
    has(/^error: .*broken\.yaml \(document 1\): YAML syntax error at line \d+/);
    has(/^error: .*users\.yaml \(document 1\): spec\.roles: Role does-not-exist does not exist/);
    has(/^policy check failed: .*error\(s\)/);
    assert.ok(!(r.stdout + r.stderr).includes('S3cret-Example-Value!'), 'a password reached the output');
  });

  test('a weak password is an error naming the field and the rule, never the password', async () => {
    const dir = policyDir({
      'all.yaml': `apiVersion: bulwark.dev/v1alpha1
kind: User
metadata: { name: weak }
spec:
  clusterRef: { name: c1 }
  authentication: { type: password, passwordSecretRef: { name: pw, key: p } }
---
apiVersion: v1
kind: Secret
metadata: { name: pw }
stringData: { p: hunter2 }
`,
    });
    const r = await bulwark('policy', 'check', dir);
    assert.equal(r.code, 1, r.stdout);
    assert.match(r.stderr, /^error: .*all\.yaml \(document 1\): spec\.authentication\.passwordSecretRef: the password in Secret pw \(key p\) fails the password policy's minLength rule: shorter than 12 characters; this user cannot log in/m);
    assert.ok(!(r.stdout + r.stderr).includes('hunter2'));
  });

  test('a missing directory is a clear coded error', async () => {
    const r = await bulwark('policy', 'check', '/nonexistent/policy');
    assert.equal(r.code, 2);
    assert.match(r.stderr, /cannot read policy directory \/nonexistent\/policy: ENOENT \[BWK_ERR_POLICY_DIR_UNREADABLE\]/);
  });
});

describe('bulwark policy explain', () => {
  test('prints the decision and the rule that decided it', async () => {
    const allowed = await bulwark('policy', 'explain', 'examples/policy', '--user', 'dana@example.com', '--action', 'read', '--resource', 'topic:orders-eu');
    assert.equal(allowed.code, 0);
    assert.match(allowed.stdout, /ALLOWED \(AllowedByRule\) by TopicGrant\/analytics-consume: Allow Group:analytics read on topic:orders-\*/);
    const denied = await bulwark('policy', 'explain', 'examples/policy', '--user', 'dana@example.com', '--action', 'read', '--resource', 'topic:orders-pii-eu');
    assert.equal(denied.code, 3);
    assert.match(denied.stdout, /DENIED \(DeniedByRule\) by TopicGrant\/interns-no-pii/);
  });

  test('rejects a malformed resource argument', async () => {
    const r = await bulwark('policy', 'explain', 'examples/policy', '--user', 'x', '--action', 'read', '--resource', 'queue:x');
    assert.equal(r.code, 2);
    assert.match(r.stderr, /BWK_ERR_RESOURCE_ARGUMENT_INVALID/);
  });
});

/** Runs `bulwark dev` until it has printed its banner; returns the output so far and a stop function. */
async function startDev(dataDir: string): Promise<{ out: () => string; stop: () => Promise<number | null> }> {
  const child = spawn(process.execPath, [bin, 'dev', '--kafka-port', '0', '--tls-port', '0', '--http-port', '0', '--metrics-port', '0', '--data-dir', dataDir], { cwd: root });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const deadline = Date.now() + 30_000;
  while (!out.includes('Stop with Ctrl-C') && Date.now() < deadline && child.exitCode === null) await new Promise((r) => setTimeout(r, 50));
  return {
    out: () => out,
    stop: async () => {
      child.kill('SIGTERM');
      return exited;
    },
  };
}

test('bulwark dev runs the example BrokerCluster: SCRAM on one listener, TLS (PLAIN, mTLS) on another, Bearer over HTTPS; every printed command works as printed', async () => {
  const dataDir = policyDir({});
  let dev = await startDev(dataDir);
  try {
    const out = dev.out();
    assert.match(out, /bulwark dev: Kafka on 127\.0\.0\.1:\d+ \(SCRAM\), Kafka TLS on 127\.0\.0\.1:\d+ .*HTTP on https:\/\/127\.0\.0\.1:\d+/, out);
    assert.match(out, /BrokerCluster streaming\/events from examples\/policy: .*records up to 1048576 bytes.*audit\.jsonl/, out);
    assert.match(out, /policy from examples\/policy .* streaming\/events: 5 users, 1 tokens/);
    assert.match(out, /root password \(shown once.*\): \S{20,}/);
    // Run the printed commands exactly as a user would paste them.
    const commands = out.split('\n').filter((l) => /^ {2}(echo .*\| kcat|kcat|curl -s --cacert \S+ -H)/.test(l)).map((l) => l.trim());
    assert.equal(commands.length, 4, out);
    const run = (cmd: string) => promisify(execFile)('sh', ['-c', cmd], { cwd: root, timeout: 20_000 });
    await run(commands[0]!); // SCRAM-SHA-512 producer on the plaintext listener
    const consumed = await run(commands[1]!); // PLAIN over TLS consumer (dana@example.com)
    assert.equal(consumed.stdout.trim(), 'order 1');
    await run(commands[2]!); // mTLS producer (edge-gateway's certificate)
    const rest = await run(commands[3]!); // Bearer access token over HTTPS
    assert.deepEqual((JSON.parse(rest.stdout) as { records: { value: string }[] }).records.map((r) => r.value), ['order 1', 'order 2']);
    // Without credentials, the HTTP API refuses.
    const http = /HTTP on (https:\/\/[\d.:]+)/.exec(out)![1]!;
    const ca = join(dataDir, 'tls', 'ca.crt');
    const status = await run(`curl -s -o /dev/null -w '%{http_code}' --cacert ${ca} ${http}/v1/topics`);
    assert.equal(status.stdout, '401');
    // Prometheus metrics: the printed curl reads the metrics listener; on HTTPS /metrics needs
    // describe on the cluster, which the example token (dana's, consumer role) does not have.
    const metricsCommand = out.split('\n').find((l) => /^ {2}curl -s http:\/\/127\.0\.0\.1:\d+\/metrics \| grep bulwark_produced$/.test(l));
    assert.ok(metricsCommand, out);
    assert.match((await run(metricsCommand.trim())).stdout, /bulwark_produced_records_total\{topic="orders-demo"\} 2/);
    const token = /Bearer (bwk_\S+)'/.exec(commands[3]!)![1]!;
    const metricsStatus = (auth: string) => run(`curl -s -o /dev/null -w '%{http_code}' --cacert ${ca} ${auth} ${http}/metrics`);
    assert.equal((await metricsStatus('')).stdout, '401');
    assert.equal((await metricsStatus(`-H 'authorization: Bearer ${token}'`)).stdout, '403');
    // The BrokerCluster's file audit sink records what happened.
    assert.match(readFileSync(join(dataDir, 'audit.jsonl'), 'utf8'), /"type":"authentication"/);
  } finally {
    assert.equal(await dev.stop(), 0, dev.out());
  }
  assert.match(dev.out(), /bulwark: stopped/);
  // A second start reuses the CA and the root credentials: the password is not shown again.
  dev = await startDev(dataDir);
  try {
    assert.doesNotMatch(dev.out(), /root password \(shown once/);
    assert.doesNotMatch(dev.out(), /new: clients must trust it/);
  } finally {
    assert.equal(await dev.stop(), 0, dev.out());
  }
});
