// What the reconcilers of Users, Roles, AccessTokens and TopicGrants share: reading their object,
// the owner reference their Secrets carry, and writing their status from the tracker's state.
import type { BulwarkResource } from '../../api/index.ts';
import { parseResource } from '../../api/index.ts';
import type { KindRef } from '../kinds.ts';
import { keyString, objectKey, type KubeObject, type ObjectKey, type ReconcileContext, type ReconcileResult } from '../controller/index.ts';
import { statusChanged } from '../status/index.ts';
import { memberDecision, type MemberProblem, nextMemberStatus, type MemberStatus } from './member-status.ts';
import { memberKey, type MemberKind, type PolicyTracker } from './tracker.ts';

export type StoredMember = KubeObject & { spec?: unknown; status?: MemberStatus };

/** The object parsed with the same schema the CRD was generated from; a problem when it does not parse (it passed admission: an older CRD). */
export function parseMember<K extends BulwarkResource['kind']>(stored: StoredMember, kind: K): { value: Extract<BulwarkResource, { kind: K }> } | { problem: MemberProblem } {
  const r = parseResource(stored, stored.metadata.namespace);
  if (!r.ok) return { problem: { reason: 'InvalidSpec', message: r.errors.map((e) => `${e.path}: ${e.message}`).join('; ') } };
  if (r.value.kind !== kind) return { problem: { reason: 'InvalidSpec', message: `expected kind ${kind}` } };
  return { value: r.value as Extract<BulwarkResource, { kind: K }> };
}

/**
 * Remembers, per object, the credentials digest its status last said Ready for: a password
 * rotated without a spec change must name the snapshot that carries the new one. Kept by
 * namespace/name with the object's uid (a new object of the same name starts afresh); a
 * reconciler forgets an object once it is gone.
 */
export class ReadyDigests {
  readonly #by = new Map<string, { uid: string; digest: string | undefined }>();
  same(obj: KubeObject, digest: string | undefined): boolean {
    const kept = this.#by.get(keyString(objectKey(obj)));
    return kept === undefined || kept.uid !== obj.metadata.uid || kept.digest === digest;
  }
  set(obj: KubeObject, digest: string | undefined): void {
    this.#by.set(keyString(objectKey(obj)), { uid: obj.metadata.uid ?? '', digest });
  }
  forget(key: ObjectKey): void {
    this.#by.delete(keyString(key));
  }
}

export interface MemberStatusInput {
  kind: MemberKind;
  stored: StoredMember;
  tracker: PolicyTracker;
  /** The clusters it is compiled into (one, or for a Role every cluster of the namespace). */
  clusters: readonly string[];
  digest?: string;
  problem?: MemberProblem;
  fields?: Record<string, unknown>;
  digests: ReadyDigests;
}

/**
 * A resource created this recently, with no status yet, gets no "Reconciling" write while its
 * snapshot is on the way: it is looked at again when the snapshot lands (or after this long), and
 * most often gets one write, Ready. A bulk apply of thousands halves its status writes so.
 */
export const FIRST_WRITE_GRACE_MS = 5_000;

/**
 * Decides and writes (when it changed) the status. Returns a requeue when the first write was
 * held back (FIRST_WRITE_GRACE_MS).
 */
export async function writeMemberStatus(ctx: ReconcileContext, input: MemberStatusInput): Promise<ReconcileResult | undefined> {
  const { stored, tracker } = input;
  const ns = stored.metadata.namespace ?? '';
  const generation = stored.metadata.generation ?? 0;
  const decision = memberDecision({
    key: memberKey(input.kind, stored.metadata.name),
    generation,
    ...(input.digest !== undefined ? { digest: input.digest } : {}),
    ...(input.problem ? { problem: input.problem } : {}),
    clusters: input.clusters.map((name) => ({ name, state: tracker.get({ namespace: ns, name }) })),
  });
  const age = ctx.clock.now() - Date.parse(stored.metadata.creationTimestamp ?? '');
  if (decision?.reconciling && !stored.status?.conditions?.length && age >= 0 && age < FIRST_WRITE_GRACE_MS) return { requeueAfterMs: FIRST_WRITE_GRACE_MS - age };
  const status = nextMemberStatus(stored.status, decision, generation, input.fields ?? {}, input.digests.same(stored, input.digest), ctx.clock.now());
  if (decision?.ready) input.digests.set(stored, input.digest);
  if (statusChanged(stored.status, status)) await ctx.api.applyStatus({ apiVersion: stored.apiVersion, kind: stored.kind, metadata: { name: stored.metadata.name, namespace: ns }, status });
  return undefined;
}

/** The object, from the cache; undefined when gone or being deleted. */
export function storedMember(ctx: ReconcileContext, kind: KindRef, key: ObjectKey): StoredMember | undefined {
  const stored = ctx.cache.get<StoredMember>(kind, key);
  return stored && !stored.metadata.deletionTimestamp ? stored : undefined;
}
