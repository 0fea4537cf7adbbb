// The real clock's timers (src/lib/clock.ts): Node takes a delay past 2^31 - 1 ms as 1 ms. The
// operator requeues a cluster for its next certificate renewal, 60 days out with the defaults:
// that must wait, not spin (it did: 20 reconciles a second, found by bench:operator).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MAX_TIMER_MS, realClock } from '../src/lib/index.ts';

test('a timer longer than Node allows waits instead of firing at once, and can be cleared', async () => {
  let fired = 0;
  const long = realClock.setTimeout(() => fired++, 60 * 24 * 3600 * 1000);
  const past = realClock.setTimeout(() => fired++, MAX_TIMER_MS + 1);
  const short = realClock.setTimeout(() => fired++, 5);
  await new Promise((r) => setTimeout(r, 60));
  assert.equal(fired, 1, 'only the 5 ms timer fired');
  realClock.clearTimeout(long);
  realClock.clearTimeout(past);
  realClock.clearTimeout(short);
});

test('a cleared timer does not fire', async () => {
  let fired = false;
  const t = realClock.setTimeout(() => (fired = true), 10);
  realClock.clearTimeout(t);
  await new Promise((r) => setTimeout(r, 40));
  assert.equal(fired, false);
});
