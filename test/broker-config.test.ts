// Broker configuration: file, environment and flags, each overriding the one before; errors name the key.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadBrokerConfig } from '../src/config/broker.ts';
import { isBulwarkError } from '../src/lib/errors.ts';
import { useTempDirs } from './harness/temp.ts';

const tempDir = useTempDirs('cfg');
const file = (text: string) => {
  const p = join(tempDir(), 'broker.yaml');
  writeFileSync(p, text);
  return p;
};

test('defaults, then file, then environment, then flags', () => {
  assert.equal(loadBrokerConfig().kafka.port, 9092);
  const f = file('kafka:\n  port: 9100\ntopics:\n  autoCreate: true\nlog:\n  flush: { mode: messages, messages: 10 }\n');
  const fromFile = loadBrokerConfig({ file: f });
  assert.equal(fromFile.kafka.port, 9100);
  assert.deepEqual(fromFile.log.flush, { mode: 'messages', messages: 10 });
  assert.equal(loadBrokerConfig({ file: f, env: { BULWARK_KAFKA_PORT: '9200' } }).kafka.port, 9200);
  assert.equal(loadBrokerConfig({ file: f, env: { BULWARK_KAFKA_PORT: '9200' }, overrides: { kafka: { port: 9300 } } }).kafka.port, 9300);
  assert.equal(loadBrokerConfig({ env: { BULWARK_TOPICS_AUTO_CREATE: 'true' } }).topics.autoCreate, true);
  assert.equal(loadBrokerConfig({ env: { BULWARK_LOG_RETENTION_MS: 'null' } }).log.retentionMs, null);
});

const rejects = (sources: Parameters<typeof loadBrokerConfig>[0], message: RegExp) =>
  assert.throws(() => loadBrokerConfig(sources), (e) => isBulwarkError(e, 'BWK_ERR_CONFIG_INVALID') && message.test(e.message));

test('every error names the key that is wrong', () => {
  rejects({ env: { BULWARK_KAFKA_PORT: 'http' } }, /kafka\.port: .*expected number.*\(env BULWARK_KAFKA_PORT\)/);
  rejects({ file: file('kafka:\n  port: 70000\n') }, /kafka\.port: Too big/);
  rejects({ file: file('kafak:\n  port: 1\n') }, /unknown key kafak/);
  rejects({ file: file('log:\n  flush: { mode: sometimes }\n') }, /log\.flush\.mode/);
  rejects({ file: file('kafka: [unclosed\n') }, /is not valid YAML/);
  rejects({ file: '/nonexistent/broker.yaml' }, /cannot read \/nonexistent\/broker\.yaml: ENOENT/);
});
