// The Apache Kafka Java client (from Maven Central, via scripts/kafka-peer.sh) as the third real
// peer: its own producer and consumer tools, idempotent producer included (the Java default).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { startTestBroker, type TestBroker } from './harness/broker.ts';
import { javaArgs, kafkaPeerEnv } from '../tools/kafka/peer-env.ts';

const run = promisify(execFile);
let t: TestBroker;
let java: (cls: string, args: string[]) => Promise<{ stdout: string; stderr: string }>;

describe('Kafka Java client', () => {
  before(async () => {
    // Resolves the jars once (~45 MB from Maven Central) into ~/.cache/bulwark/kafka.
    const env = await kafkaPeerEnv();
    java = (cls, args) => run(env.JAVA, javaArgs(env, cls, args), { timeout: 120_000, maxBuffer: 8 << 20 });
    t = await startTestBroker({ config: { topics: { autoCreate: true } } });
  }, { timeout: 20 * 60_000 });
  after(() => t?.stop());

  test('the Java producer (idempotent, acks=all) and consumer group work against the broker', async () => {
    const produced = await java('org.apache.kafka.tools.ProducerPerformance', [
      '--topic', 'java-topic', '--num-records', '2000', '--record-size', '100', '--throughput', '-1',
      '--producer-props', `bootstrap.servers=${t.bootstrap}`, 'acks=all', 'enable.idempotence=true',
    ]);
    assert.match(produced.stdout, /2000 records sent/);
    assert.equal(t.broker.topics.partition('java-topic', 0)!.nextOffset, 2000, 'every record appended exactly once');
    const consumed = await java('org.apache.kafka.tools.ConsumerPerformance', [
      '--bootstrap-server', t.bootstrap, '--topic', 'java-topic', '--messages', '2000', '--group', 'java-perf', '--timeout', '30000', '--hide-header',
    ]);
    // The data line: start, end, MB consumed, MB/s, records consumed, ...
    const fields = consumed.stdout.trim().split('\n').at(-1)!.split(',').map((f) => f.trim());
    assert.equal(Number(fields[4]), 2000, consumed.stdout);
  });
});
