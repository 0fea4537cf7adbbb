// The work queue, driven by a manual clock: serialization per key, dedup, backoff, known waits, concurrency.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ManualClock } from '../src/lib/index.ts';
import { WorkQueue, type WorkResult } from '../src/operator/controller/index.ts';

/** Lets queued promise callbacks run. */
const settle = async (): Promise<void> => {
  for (let i = 0; i < 10; i++) await new Promise((r) => setImmediate(r));
};

interface Gate {
  key: string;
  release(result?: WorkResult | Error): void;
}

function harness(concurrency = 2, random = () => 0) {
  const clock = new ManualClock(0);
  const open: Gate[] = [];
  const runs: string[] = [];
  let active = 0;
  let maxActive = 0;
  const q = new WorkQueue({
    clock,
    concurrency,
    random,
    backoffMs: [100, 1000],
    work: (key) => {
      runs.push(key);
      active++;
      maxActive = Math.max(maxActive, active);
      return new Promise<WorkResult | void>((resolve, reject) => {
        open.push({
          key,
          release: (r) => {
            active--;
            if (r instanceof Error) reject(r);
            else resolve(r);
          },
        });
      });
    },
  });
  const release = async (key: string, r?: WorkResult | Error) => {
    const i = open.findIndex((g) => g.key === key);
    assert.ok(i >= 0, `${key} is not in flight`);
    open.splice(i, 1)[0]!.release(r);
    await settle();
  };
  return { clock, q, runs, open, release, maxActive: () => maxActive };
}

test('a key queued many times runs once; a key is never in flight twice, and an add while in flight runs it again after', async () => {
  const h = harness();
  h.q.start();
  h.q.add('ns/a');
  h.q.add('ns/a');
  await settle();
  assert.deepEqual(h.runs, ['ns/a']);
  h.q.add('ns/a');
  h.q.add('ns/a');
  await settle();
  assert.deepEqual(h.runs, ['ns/a'], 'not started again while in flight');
  await h.release('ns/a');
  assert.deepEqual(h.runs, ['ns/a', 'ns/a'], 'runs once more after, however many adds came in');
  await h.release('ns/a');
  assert.deepEqual(h.runs, ['ns/a', 'ns/a']);
  assert.equal(h.q.depth, 0);
});

test('at most `concurrency` keys run at once', async () => {
  const h = harness(2);
  h.q.start();
  for (const k of ['a', 'b', 'c', 'd']) h.q.add(k);
  await settle();
  assert.deepEqual(h.runs, ['a', 'b']);
  assert.equal(h.q.depth, 2);
  await h.release('a');
  assert.deepEqual(h.runs, ['a', 'b', 'c']);
  await h.release('b');
  await h.release('c');
  await h.release('d');
  assert.equal(h.maxActive(), 2);
});

test('errors back off exponentially per key, capped; a success resets the count', async () => {
  const h = harness(1, () => 0); // jitter 0: the full delay
  h.q.start();
  h.q.add('k');
  await settle();
  const delays: number[] = [];
  for (let i = 0; i < 6; i++) {
    await h.release('k', new Error('boom'));
    const before = h.runs.length;
    let waited = 0;
    while (h.runs.length === before) {
      h.clock.advance(1);
      waited++;
      await settle();
      assert.ok(waited < 5000);
    }
    delays.push(waited);
  }
  assert.deepEqual(delays, [100, 200, 400, 800, 1000, 1000]);
  assert.equal(h.q.failures('k'), 6);
  await h.release('k');
  assert.equal(h.q.failures('k'), 0);
  assert.equal(h.q.backoffFor(1), 100, 'the next error starts from the first delay again');
});

test('jitter keeps a retry within (half, full] of the backoff', () => {
  const q = new WorkQueue({ clock: new ManualClock(), concurrency: 1, work: async () => {}, backoffMs: [1000, 60_000], random: () => 0.999 });
  assert.equal(q.backoffFor(1), 501);
  assert.equal(q.backoffFor(3), 2002);
  const q2 = new WorkQueue({ clock: new ManualClock(), concurrency: 1, work: async () => {}, backoffMs: [1000, 60_000], random: () => 0 });
  assert.equal(q2.backoffFor(10), 60_000);
});

test('requeueAfterMs and addAfter run the key after the wait; the earliest wait wins; running early cancels the wait', async () => {
  const h = harness(1);
  h.q.start();
  h.q.add('k');
  await settle();
  await h.release('k', { requeueAfterMs: 5000 });
  h.q.addAfter('k', 3000);
  h.clock.advance(2999);
  await settle();
  assert.equal(h.runs.length, 1);
  h.clock.advance(1);
  await settle();
  assert.equal(h.runs.length, 2, 'the earlier of the two waits');
  await h.release('k');
  h.clock.advance(10_000);
  await settle();
  assert.equal(h.runs.length, 2, 'the later wait was answered by the run');
  h.q.addAfter('k', 1000);
  h.q.add('k');
  await settle();
  await h.release('k');
  h.clock.advance(5000);
  await settle();
  assert.equal(h.runs.length, 3, 'an event that ran the key early cancels its pending wait');
});

test('paused, the queue collects keys and starts nothing; pause waits for the work in flight', async () => {
  const h = harness(2);
  h.q.add('a');
  await settle();
  assert.deepEqual(h.runs, []);
  h.q.start();
  await settle();
  let paused = false;
  const p = h.q.pause().then(() => (paused = true));
  h.q.add('b');
  await settle();
  assert.equal(paused, false);
  assert.deepEqual(h.runs, ['a']);
  await h.release('a');
  await p;
  assert.equal(paused, true);
  assert.equal(h.q.depth, 1);
  h.q.start();
  await settle();
  assert.deepEqual(h.runs, ['a', 'b']);
  await h.release('b');
  await h.q.shutDown();
  h.q.add('c');
  assert.equal(h.q.depth, 0);
});
