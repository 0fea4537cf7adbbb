// Records objects as the API server returned them, for the GitOps health fixtures
// (test/fixtures/gitops/<kind>-<expected>-<what>.json, read by test/gitops-health.test.ts).
// A no-op unless BULWARK_RECORD_STATUSES=1: tests call it at moments where the state is known,
//   BULWARK_RECORD_STATUSES=1 node scripts/run-tests.mjs test/operator-topic
// and the fixtures written are committed. managedFields are dropped (noise, and they change with
// every client); everything else (uid, resourceVersion, timestamps) is kept as it was.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const FIXTURES_DIR = join(import.meta.dirname, '..', 'fixtures', 'gitops');
/** What Argo CD should say (and kstatus: healthy = Current, progressing = InProgress, degraded = Failed). */
export const EXPECTED = ['healthy', 'progressing', 'degraded'] as const;
export type Expected = (typeof EXPECTED)[number];

const recording = process.env.BULWARK_RECORD_STATUSES === '1';

/**
 * Writes `obj` to test/fixtures/gitops/<kind>-<label>.json. `label`: `<expected>-<what>` in
 * kebab case, e.g. `degraded-replication-not-supported`.
 */
export function recordStatus(obj: unknown, label: `${Expected}-${string}`): void {
  if (!recording) return;
  const o = obj as { kind?: unknown; metadata?: Record<string, unknown> } | undefined;
  if (typeof o?.kind !== 'string' || !o.metadata) throw new Error(`recordStatus(${label}): not an object with a kind and metadata`);
  if (!/^(healthy|progressing|degraded)-[a-z0-9]+(-[a-z0-9]+)*$/.test(label)) throw new Error(`recordStatus: label ${label} is not <healthy|progressing|degraded>-<what> in kebab case`);
  const { managedFields: _m, ...metadata } = o.metadata;
  mkdirSync(FIXTURES_DIR, { recursive: true });
  writeFileSync(join(FIXTURES_DIR, `${o.kind.toLowerCase()}-${label}.json`), `${JSON.stringify({ ...o, metadata }, null, 2)}\n`);
}
