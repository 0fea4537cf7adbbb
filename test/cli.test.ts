// The `bulwark` command as a user runs it: a real process, real files on disk.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { promisify } from 'node:util';

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

const dirs: string[] = [];
function policyDir(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'bulwark-policy-'));
  dirs.push(dir);
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return dir;
}
after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

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

  test('a weak password is a warning that never shows the password', async () => {
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
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /warning: .*all\.yaml \(document 1\): spec\.authentication\.passwordSecretRef: weak password: shorter than 12 characters/);
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

test('bulwark dev loads examples/policy and prints what it loaded', async () => {
  const r = await bulwark('dev');
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /policy for streaming\/events/);
  assert.match(r.stdout, /user dana@example\.com \(password\) groups=analytics,interns/);
  assert.match(r.stdout, /token dana-ci for dana@example\.com, expires 2030-01-01T00:00:00Z, scoped/);
});
