// The standalone controller's ClusterState on disk (<dataDir>/__cluster/state.json) is parsed
// at start, never cast: a file that is not a ClusterState refuses to start, naming the field.
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { TopicManager } from '../src/broker/topics.ts';
import { clusterStateSchema } from '../src/cluster/index.ts';
import { isBulwarkError } from '../src/lib/index.ts';
import { LogStore } from '../src/log/index.ts';
import { useTempDirs } from './harness/temp.ts';

const tempDir = useTempDirs('cstate');
const self = { id: 1, host: '127.0.0.1', port: 9092, rack: null };

async function withTopics(dataDir: string, body: (t: TopicManager) => void | Promise<void>): Promise<void> {
  const store = LogStore.open(dataDir);
  try {
    await body(new TopicManager(store, self, 'c1', {}));
  } finally {
    await store.close();
  }
}

test('a saved ClusterState parses with the shared schema and survives a restart', async () => {
  const dataDir = tempDir();
  await withTopics(dataDir, (t) => assert.equal(t.createTopic('orders', 3).ok, true));
  const onDisk = JSON.parse(readFileSync(join(dataDir, '__cluster', 'state.json'), 'utf8'));
  assert.equal(clusterStateSchema.safeParse(onDisk).success, true);
  await withTopics(dataDir, (t) => assert.equal(t.topic('orders')?.partitions.length, 3));
});

test('a state.json that is not a ClusterState refuses to start and names the field', async () => {
  const dataDir = tempDir();
  await withTopics(dataDir, (t) => assert.equal(t.createTopic('orders', 1).ok, true));
  const path = join(dataDir, '__cluster', 'state.json');
  const state = JSON.parse(readFileSync(path, 'utf8'));
  state.topics[0].partitions[0].leader = 'one';
  writeFileSync(path, JSON.stringify(state));
  const store = LogStore.open(dataDir);
  try {
    assert.throws(
      () => new TopicManager(store, self, 'c1', {}),
      (err) => isBulwarkError(err, 'BWK_ERR_LOG_CORRUPT') && /topics\.0\.partitions\.0\.leader/.test(err.message),
    );
    writeFileSync(path, '{"clusterId": ');
    assert.throws(() => new TopicManager(store, self, 'c1', {}), (err) => isBulwarkError(err, 'BWK_ERR_LOG_CORRUPT') && /not JSON/.test(err.message));
  } finally {
    await store.close();
  }
});
