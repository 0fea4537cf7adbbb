// Status conditions: lastTransitionTime moves only on a flip, and an unchanged status is not written.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { conditionsEqual, conditionTime, setCondition, statusChanged, type Condition } from '../src/operator/status/index.ts';

const t0 = Date.parse('2026-01-01T00:00:00Z');
const ready = (status: 'True' | 'False', reason = 'Ready', message = 'ok', observedGeneration = 1) => ({ type: 'Ready', status, reason, message, observedGeneration });

test('a new condition gets the current time, to the second', () => {
  const c = setCondition(undefined, ready('True'), t0 + 1234);
  assert.deepEqual(c, [{ ...ready('True'), lastTransitionTime: '2026-01-01T00:00:01Z' }]);
  assert.equal(conditionTime(t0), '2026-01-01T00:00:00Z');
});

test('lastTransitionTime is kept while the status stays, even when reason, message or generation change', () => {
  const a = setCondition(undefined, ready('False', 'Pending', 'waiting'), t0);
  const b = setCondition(a, ready('False', 'PodsStarting', 'one of three', 2), t0 + 60_000);
  assert.equal(b[0]!.lastTransitionTime, a[0]!.lastTransitionTime);
  assert.equal(b[0]!.reason, 'PodsStarting');
  assert.equal(b[0]!.observedGeneration, 2);
  assert.equal(a[0]!.reason, 'Pending', 'the input array is not changed');
});

test('lastTransitionTime moves when the status flips', () => {
  const a = setCondition(undefined, ready('False'), t0);
  const b = setCondition(a, ready('True'), t0 + 60_000);
  assert.equal(b[0]!.lastTransitionTime, '2026-01-01T00:01:00Z');
});

test('other conditions keep their place; a new type is appended', () => {
  let c: Condition[] = setCondition(undefined, ready('False'), t0);
  c = setCondition(c, { type: 'Stalled', status: 'True', reason: 'EnvRefused', message: 'x', observedGeneration: 1 }, t0);
  c = setCondition(c, ready('True'), t0 + 1000);
  assert.deepEqual(c.map((x) => x.type), ['Ready', 'Stalled']);
});

test('conditionsEqual ignores order, and sees every field', () => {
  const a = setCondition(setCondition(undefined, ready('True'), t0), { type: 'Stalled', status: 'False', reason: 'No', message: '' }, t0);
  assert.ok(conditionsEqual(a, [...a].reverse()));
  assert.ok(!conditionsEqual(a, setCondition(a, ready('True', 'Ready', 'other message'), t0)));
  assert.ok(!conditionsEqual(a, a.slice(1)));
  assert.ok(conditionsEqual(undefined, []));
});

test('statusChanged: false for the same status whatever the key order; true for any difference', () => {
  const conditions = setCondition(undefined, ready('True'), t0);
  const old = { observedGeneration: 1, readyReplicas: 3, conditions, listeners: [{ name: 'kafka', bootstrap: 'a:9092' }] };
  assert.equal(statusChanged(old, { listeners: [{ bootstrap: 'a:9092', name: 'kafka' }], conditions: [...conditions], readyReplicas: 3, observedGeneration: 1 }), false);
  assert.equal(statusChanged(old, { ...old, readyReplicas: 2 }), true);
  assert.equal(statusChanged(old, { ...old, conditions: setCondition(conditions, ready('False'), t0) }), true);
  assert.equal(statusChanged(undefined, { conditions }), true);
  assert.equal(statusChanged({ a: 1 }, { a: 1, b: undefined }), false);
});
