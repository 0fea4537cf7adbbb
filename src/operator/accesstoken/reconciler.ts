// The AccessToken reconciler: generates the token once into the Secret the spec names (the token
// itself never leaves that Secret: the policy reconciler sends only its SHA-256 to the brokers),
// shows the expiry in status, and marks the token Expired when it expires (the brokers refuse it
// then on their own clock, with or without the operator). Deleting the AccessToken deletes the
// Secret (owner reference) and the next snapshot leaves the token out: the brokers close the
// connections that used it.
import { generateToken, parseDurationMs, tokenHash } from '../../policy/index.ts';
import type { SecretObject } from '../certificates/index.ts';
import { controllerReference, KINDS, type ObjectKey, type ReconcileContext, type Reconciler, type ReconcileResult } from '../controller/index.ts';
import {
  CLUSTER_LABEL,
  COMPONENT_LABEL,
  controlledBy,
  ISSUED_AT_ANNOTATION,
  MemberReason,
  type MemberProblem,
  parseMember,
  PolicyTracker,
  ReadyDigests,
  readTokenCredential,
  storedMember,
  TOKEN_KEY,
  TOKEN_SECRET_COMPONENT,
  tokenSecretName,
  writeMemberStatus,
} from '../policy/index.ts';

export const AccessTokenReason = {
  /** The token's expiry passed: brokers refuse it. */
  Expired: 'Expired',
  /** A Secret of the name the spec gives exists and belongs to something else. */
  SecretConflict: 'SecretConflict',
} as const;

export const AccessTokenEventReason = { TokenIssued: 'TokenIssued', TokenReissued: 'TokenReissued' } as const;

export interface AccessTokenReconcilerOptions {
  tracker?: PolicyTracker;
  /** Token generation (tests inject it). */
  generate?: () => string;
}

export function accessTokenReconciler(options: AccessTokenReconcilerOptions = {}): Reconciler {
  const tracker = options.tracker ?? new PolicyTracker();
  const generate = options.generate ?? generateToken;
  const digests = new ReadyDigests();
  return {
    name: 'accesstoken',
    concurrency: 8,
    primary: KINDS.accessToken,
    owns: [KINDS.secret],
    watches: [{ kind: KINDS.brokerCluster, map: () => [] }],
    triggers: (enqueue) => tracker.subscribe('AccessToken', enqueue),
    reconcile: (key, ctx) => reconcileAccessToken(key, ctx, tracker, generate, digests),
  };
}

async function reconcileAccessToken(key: ObjectKey, ctx: ReconcileContext, tracker: PolicyTracker, generate: () => string, digests: ReadyDigests): Promise<ReconcileResult | void> {
  const stored = storedMember(ctx, KINDS.accessToken, key);
  if (!stored) return void digests.forget(key);
  const parsed = parseMember(stored, 'AccessToken');
  const clusterName = (stored.spec as { clusterRef?: { name?: string } } | undefined)?.clusterRef?.name ?? '';
  const write = (problem: MemberProblem | undefined, fields: Record<string, unknown>, digest?: string) =>
    writeMemberStatus(ctx, { kind: 'AccessToken', stored, tracker, clusters: [clusterName], digests, fields, ...(problem ? { problem } : {}), ...(digest ? { digest } : {}) });
  if ('problem' in parsed) return void (await write(parsed.problem, {}));
  const token = parsed.value;
  const secretName = tokenSecretName(token);

  // The Secret: read live when the cache lacks it (a lagging cache must never mint a second token).
  const existing = ctx.cache.get<SecretObject>(KINDS.secret, { namespace: key.namespace, name: secretName }) ?? (await ctx.api.get<SecretObject>(KINDS.secret, { namespace: key.namespace, name: secretName }));
  if (existing && !controlledBy(existing, stored.metadata.uid)) {
    return void (await write({ reason: AccessTokenReason.SecretConflict, message: `Secret ${secretName} exists and does not belong to this AccessToken; choose another spec.secretName or delete that Secret` }, { secretName }));
  }
  let credential = readTokenCredential(existing);
  let issuedAt = existing?.metadata.annotations?.[ISSUED_AT_ANNOTATION];
  if (!credential || !issuedAt) {
    const value = generate();
    issuedAt = new Date(ctx.clock.now()).toISOString();
    await ctx.api.apply({
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: {
        name: secretName,
        namespace: key.namespace,
        labels: { 'app.kubernetes.io/managed-by': 'bulwark-operator', [COMPONENT_LABEL]: TOKEN_SECRET_COMPONENT, [CLUSTER_LABEL]: token.spec.clusterRef.name },
        annotations: { [ISSUED_AT_ANNOTATION]: issuedAt },
        ownerReferences: [controllerReference(stored)],
      },
      type: 'Opaque',
      data: { [TOKEN_KEY]: Buffer.from(value, 'utf8').toString('base64') },
    });
    credential = { sha256: tokenHash(value), issuedAt };
    const again = existing !== undefined;
    ctx.events.emit(stored, again ? 'Warning' : 'Normal', again ? AccessTokenEventReason.TokenReissued : AccessTokenEventReason.TokenIssued, again ? `Secret ${secretName} held no valid token: a new one was generated` : `generated the token into Secret ${secretName}`);
  }

  const expiresAtMs = token.spec.expiresAt ? Date.parse(token.spec.expiresAt) : token.spec.lifetime ? Date.parse(issuedAt) + parseDurationMs(token.spec.lifetime) : undefined;
  const expiresAt = expiresAtMs === undefined ? undefined : new Date(expiresAtMs).toISOString().replace(/\.\d{3}Z$/, 'Z');
  const fields = { secretName, ...(expiresAt ? { expiresAt } : {}) };
  const now = ctx.clock.now();
  const cluster = ctx.cache.get(KINDS.brokerCluster, { namespace: key.namespace, name: token.spec.clusterRef.name });
  const problem: MemberProblem | undefined = !cluster
    ? { reason: MemberReason.ClusterNotFound, message: `BrokerCluster ${token.spec.clusterRef.name} does not exist in namespace ${key.namespace}` }
    : expiresAtMs !== undefined && now >= expiresAtMs
      ? { reason: AccessTokenReason.Expired, message: `the token expired at ${expiresAt}; brokers refuse it (create a new AccessToken, or move spec.expiresAt)` }
      : undefined;
  const held = await write(problem, fields, credential.sha256);
  // Marked Expired when it expires (the brokers need no one to tell them).
  const waits = [held?.requeueAfterMs, expiresAtMs !== undefined && now < expiresAtMs ? expiresAtMs - now + 1_000 : undefined].filter((ms): ms is number => ms !== undefined);
  return waits.length > 0 ? { requeueAfterMs: Math.min(...waits) } : undefined;
}
