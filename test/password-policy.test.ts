// The password policy (BrokerCluster spec.authentication.passwordPolicy) where a user's password
// comes from a file: `bulwark policy check`, a broker's --policy-dir, and the standalone root
// password (BULWARK_ROOT_PASSWORD). What an admin checks: a password the policy forbids is an
// error that names the field and the rule (never the password) and nobody logs in with it; the
// same password under a looser policy works with a real client. The operator's side (Stalled
// WeakPassword) is in test/operator-access.test.ts.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { promisify } from 'node:util';
import { parseResource } from '../src/api/index.ts';
import { isBulwarkError } from '../src/lib/index.ts';
import { DEFAULT_PASSWORD_POLICY, passwordWeakness, type PasswordPolicy } from '../src/policy/index.ts';
import { generatePassword } from '../src/operator/user/password.ts';
import { startTestBroker } from './harness/broker.ts';
import { kcat, kcatScram } from './harness/clients.ts';
import { brokerClusterYaml, roleYaml, userYaml } from './harness/policy.ts';
import { useTempDirs } from './harness/temp.ts';

const root = join(import.meta.dirname, '..');
const bin = join(root, 'bin', 'bulwark.js');
const tempDir = useTempDirs('password-policy');

async function bulwark(args: string[], env: NodeJS.ProcessEnv = process.env): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [bin, ...args], { cwd: root, env, timeout: 60_000 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

/** A BrokerCluster with this password policy, as the YAML of a policy directory (JSON is YAML). */
const clusterYaml = (passwordPolicy?: Record<string, number>) => brokerClusterYaml(passwordPolicy ? { passwordPolicy } : {});

describe('the password rules', () => {
  const policy = (p: Partial<PasswordPolicy>): PasswordPolicy => ({ ...DEFAULT_PASSWORD_POLICY, ...p });
  const cases: [string, string, PasswordPolicy, string | undefined][] = [
    ['11 characters, 4 classes', 'Short-Pw0rd', DEFAULT_PASSWORD_POLICY, 'minLength'],
    ['12 characters, 3 classes', 'twelve-char1', DEFAULT_PASSWORD_POLICY, undefined],
    ['19 lowercase letters', 'abcdefghijklmnopqrs', DEFAULT_PASSWORD_POLICY, 'minCharacterClasses'],
    ['a 20-character passphrase of one class', 'correcthorsebatterys', DEFAULT_PASSWORD_POLICY, undefined],
    ['1025 characters', 'Aa1-'.repeat(257).slice(0, 1025), DEFAULT_PASSWORD_POLICY, 'maxLength'],
    ['15 characters under minLength 16', 'Short-Passw0rd!', policy({ minLength: 16 }), 'minLength'],
    ['a passphrase when every password must mix 4 classes', 'correct horse battery staple', policy({ minCharacterClasses: 4, passphraseLength: 0 }), 'minCharacterClasses'],
    ['4 classes when 4 are asked for', 'Correct-Horse-Battery-1', policy({ minCharacterClasses: 4, passphraseLength: 0 }), undefined],
    ['12 emoji count as 12 characters, not 24', '😀'.repeat(12), policy({ minCharacterClasses: 1 }), undefined],
    ['11 emoji are too few', '😀'.repeat(11), policy({ minCharacterClasses: 1 }), 'minLength'],
    ['accented letters have case', 'éèàçÉÈÀÇ1234', DEFAULT_PASSWORD_POLICY, undefined],
  ];
  for (const [name, password, p, rule] of cases) {
    test(`${name}: ${rule ? `fails ${rule}` : 'passes'}`, () => {
      const weakness = passwordWeakness(password, p);
      assert.equal(weakness?.rule, rule);
      if (weakness) assert.ok(!weakness.message.includes(password), 'the message quotes the password');
    });
  }

  test('generated passwords pass every policy: longer when minLength asks, with - and _ when four classes must mix', () => {
    const policies = [DEFAULT_PASSWORD_POLICY, policy({ minLength: 64 }), policy({ minCharacterClasses: 4, passphraseLength: 0 }), policy({ minLength: 40, minCharacterClasses: 4, passphraseLength: 100 }), policy({ minLength: 1024 })];
    for (const p of policies) {
      for (let i = 0; i < 200; i++) {
        const password = generatePassword(undefined, p);
        assert.equal(passwordWeakness(password, p), undefined, `${password} fails ${JSON.stringify(p)}`);
        assert.equal(password.length, Math.max(32, p.minLength));
        assert.match(password, /^[A-Za-z0-9_-]+$/);
      }
    }
    // The default policy still gets the 62-letter alphabet, with upper, lower and digit.
    for (let i = 0; i < 200; i++) assert.match(generatePassword(), /^(?=.*[A-Z])(?=.*[a-z])(?=.*[0-9])[A-Za-z0-9]{32}$/);
  });

  test('the CRD refuses a policy that cannot mean anything: a passphrase shorter than the minimum, a minimum under 8', () => {
    const cluster = (passwordPolicy: unknown) => parseResource(JSON.parse(clusterYaml(passwordPolicy as Record<string, number>)));
    const short = cluster({ minLength: 16, passphraseLength: 10 });
    assert.equal(short.ok, false);
    assert.deepEqual(!short.ok && short.errors.map((e) => e.path), ['spec.authentication.passwordPolicy.passphraseLength']);
    const tiny = cluster({ minLength: 4 });
    assert.deepEqual(!tiny.ok && tiny.errors.map((e) => e.path), ['spec.authentication.passwordPolicy.minLength']);
    assert.equal(cluster({ minLength: 16, passphraseLength: 0, minCharacterClasses: 4 }).ok, true);
  });
});

describe('bulwark policy check', () => {
  test('a password the cluster\'s policy forbids is an error naming the file, the field and the rule; under the default policy it passes', async () => {
    const dir = tempDir('check');
    const passphrase = 'correct horse battery staple';
    writeFileSync(join(dir, 'cluster.yaml'), clusterYaml({ minCharacterClasses: 4, passphraseLength: 0 }));
    writeFileSync(join(dir, 'users.yaml'), userYaml('poet', { type: 'scram-sha-512', password: passphrase }));
    const refused = await bulwark(['policy', 'check', dir]);
    assert.equal(refused.code, 1, refused.stdout);
    assert.match(
      refused.stderr,
      /^error: .*users\.yaml \(document 1\): spec\.authentication\.passwordSecretRef: the password in Secret poet-password \(key password\) fails the password policy's minCharacterClasses rule: needs 4 of: lowercase letters, uppercase letters, digits, symbols; this user cannot log in/m,
    );
    assert.ok(!(refused.stdout + refused.stderr).includes(passphrase), 'the password reached the output');
    // The same password under the default policy: a passphrase of 20+ characters needs no mix.
    writeFileSync(join(dir, 'cluster.yaml'), clusterYaml());
    const passed = await bulwark(['policy', 'check', dir]);
    assert.equal(passed.code, 0, passed.stderr);
    assert.match(passed.stdout, /policy OK: apps\/secure: 1 users/);
  });
});

describe('a broker with --policy-dir', () => {
  test('refuses a password the policy forbids: not applied, the user cannot log in, the log names the rule; the same password logs in once the policy allows it', async () => {
    const APP = 'App-Strong-Passw0rd!';
    const SHORT = 'Short-Passw0rd!'; // 15 characters, four classes: fine by default, not under minLength 16
    const b = await startTestBroker({
      security: {
        policy: {
          'cluster.yaml': clusterYaml({ minLength: 16 }),
          'roles.yaml': roleYaml('describe-all', [{ cluster: true, actions: ['describe'] }]),
          'app.yaml': userYaml('app', { type: 'scram-sha-512', password: APP, roles: ['describe-all'] }),
        },
      },
    });
    try {
      const login = (user: string, password: string) => kcat(['-b', b.bootstrap, ...kcatScram('SCRAM-SHA-512', user, password), '-L', '-m', '5']);
      const ok = await login('app', APP);
      assert.equal(ok.code, 0, ok.stderr);

      const version = b.broker.policy.applied.version;
      const logged = b.logs.length;
      b.policy.write('shorty.yaml', userYaml('shorty', { type: 'scram-sha-512', password: SHORT, roles: ['describe-all'] }));
      const deadline = Date.now() + 10_000;
      while (!b.logs.slice(logged).some((l) => l.includes('not applied, the policy in force stays'))) {
        if (Date.now() > deadline) assert.fail(`no refusal logged:\n${b.logs.slice(logged).join('\n')}`);
        await new Promise((r) => setTimeout(r, 50));
      }
      const lines = b.logs.slice(logged);
      assert.ok(
        lines.some((l) => /shorty\.yaml document 1 spec\.authentication\.passwordSecretRef: the password in Secret shorty-password \(key password\) fails the password policy's minLength rule: shorter than 16 characters/.test(l)),
        lines.join('\n'),
      );
      assert.ok(!b.logs.join('\n').includes(SHORT), 'the password reached the log');
      assert.equal(b.broker.policy.applied.version, version, 'nothing applied');
      const refused = await login('shorty', SHORT);
      assert.notEqual(refused.code, 0);
      assert.match(refused.stderr, /SASL authentication error: Authentication failed/);

      // The default policy (12 characters) lets the same password in.
      b.policy.write('cluster.yaml', clusterYaml());
      await b.policyAfter(version);
      const accepted = await login('shorty', SHORT);
      assert.equal(accepted.code, 0, accepted.stderr);
    } finally {
      await b.stop();
    }
  });

  test('does not start on a directory whose only policy has a forbidden password', async () => {
    await assert.rejects(
      startTestBroker({ security: { policy: { 'cluster.yaml': clusterYaml({ minLength: 24 }), 'app.yaml': userYaml('app', { type: 'scram-sha-512', password: 'App-Strong-Passw0rd!' }) } } }),
      (err: unknown) => isBulwarkError(err, 'BWK_ERR_POLICY_INVALID'),
    );
  });
});

describe('the standalone root password (BULWARK_ROOT_PASSWORD)', () => {
  test('a weak one stops the broker with a clear error that does not repeat it', async () => {
    const data = tempDir('root-weak');
    for (const [password, why] of [
      ['Sh0rt-pw!', 'shorter than 12 characters'],
      ['alllowercaseletters', 'needs 3 of: lowercase letters, uppercase letters, digits, symbols \\(or 20\\+ characters\\)'],
    ] as const) {
      const r = await bulwark(['broker', '--data-dir', data, '--kafka-port', '0', '--http-port', '0'], { ...process.env, BULWARK_ROOT_PASSWORD: password });
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, new RegExp(`bulwark: BULWARK_ROOT_PASSWORD is too weak: ${why} \\[BWK_ERR_ROOT_PASSWORD_WEAK\\]`));
      assert.ok(!(r.stdout + r.stderr).includes(password), 'the password reached the output');
    }
  });

  test('a strong one (a passphrase too) logs root in with a real client; a wrong one does not', async () => {
    for (const password of ['Root-Passw0rd!x', 'correct horse battery staple']) {
      const b = await startTestBroker({ security: { policy: { 'cluster.yaml': clusterYaml() } }, env: { BULWARK_ROOT_PASSWORD: password } });
      try {
        const ok = await kcat(['-b', b.bootstrap, ...kcatScram('SCRAM-SHA-512', 'root', password), '-L', '-m', '5']);
        assert.equal(ok.code, 0, ok.stderr);
        assert.match(ok.stdout, /Metadata for all topics/);
        const wrong = await kcat(['-b', b.bootstrap, ...kcatScram('SCRAM-SHA-512', 'root', `${password}x`), '-L', '-m', '5']);
        assert.notEqual(wrong.code, 0);
      } finally {
        await b.stop();
      }
    }
  });
});
