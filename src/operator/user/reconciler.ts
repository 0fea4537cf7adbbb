// The User reconciler: the user's connection Secret (`<name>-credentials`) and its derived
// credentials.
//
// The password is the one the user brings (spec.authentication.passwordSecretRef, watched: a
// change rotates it) or one generated into the Secret once. Derived credentials (SCRAM keys, an
// argon2id hash) are computed once per password change: the Secret keeps them with the
// password's fingerprint (HMAC under the cluster's credential key), so a reconcile, a restart or
// a new leader that finds the same password computes nothing (metric
// bulwark_operator_credential_hashes_total). The plaintext lives in the user's Secret only; the
// policy reconciler reads the derived record from there and sends it to the brokers. A tls user
// gets a client certificate signed by the cluster's CA (built-in) or cert-manager's issuer.
import { createHmac } from 'node:crypto';
import type { BrokerCluster, BulwarkResource, User } from '../../api/index.ts';
import { deriveCredentials, passwordPolicyFailure, passwordPolicyOf, passwordWeakness } from '../../policy/index.ts';
import { certificateSecretNames, type SecretObject } from '../certificates/index.ts';
import { listenerAddresses, objectNames, SERVER_SECRET_KEY } from '../brokercluster/index.ts';
import { controllerReference, KINDS, controllerOwnerKey, keyString, type KubeObject, type ObjectCache, type ObjectKey, type ReconcileContext, type Reconciler, type ReconcileResult } from '../controller/index.ts';
import {
  CLUSTER_LABEL,
  COMPONENT_LABEL,
  controlledBy,
  credentialSaltKey,
  DERIVED_KEY,
  type DerivedRecord,
  MemberReason,
  ParseCache,
  parseAny,
  type MemberProblem,
  parseMember,
  PolicyTracker,
  ReadyDigests,
  readDerivedRecord,
  secretText,
  storedMember,
  USER_SECRET_COMPONENT,
  userSecretName,
  writeMemberStatus,
} from '../policy/index.ts';
import { planUserCertificate, userCertificateSecretName, userCertManagerCertificate } from './client-certificate.ts';
import { chooseKafkaListener, connectionSecretData } from './connection.ts';
import { generatePassword } from './password.ts';

export const UserReason = {
  PasswordSecretNotFound: 'PasswordSecretNotFound',
  WeakPassword: 'WeakPassword',
  SecretConflict: 'SecretConflict',
  NoListener: 'NoListener',
  WaitingForCluster: 'WaitingForCluster',
  InvalidConnection: 'InvalidConnection',
} as const;

export const UserEventReason = { CredentialsDerived: 'CredentialsDerived', CertificateIssued: 'CertificateIssued', PasswordRegenerated: 'PasswordRegenerated', CredentialsWithdrawn: 'CredentialsWithdrawn' } as const;

/** While the cluster's own Secrets (server secret, CA) are not there yet, look again this soon. */
const CLUSTER_WAIT_MS = 3_000;

export interface UserReconcilerOptions {
  tracker?: PolicyTracker;
  /** Watch cert-manager Certificates (tls users of a cluster with spec.tls.certManager). */
  certManager?: boolean;
  randomBytes?: (n: number) => Buffer;
}

/** HMAC-SHA256(key, password): whether the password changed, without keeping anything that reveals it. */
export function passwordFingerprint(saltKey: Buffer, password: string): string {
  return createHmac('sha256', saltKey).update('password\0').update(password, 'utf8').digest('hex');
}

export function userReconciler(options: UserReconcilerOptions = {}): Reconciler {
  const tracker = options.tracker ?? new PolicyTracker();
  const digests = new ReadyDigests();
  // Secret (namespace/name) → the Users whose passwordSecretRef names it, kept by reconcile.
  const brought = new Map<string, Set<string>>();
  const broughtBy = new Map<string, string>();
  const derived: Env['derived'] = new Map();
  const clusters = new ParseCache(parseAny);
  // BrokerCluster (namespace/name) → its password policy as last seen: a change re-checks every User of the cluster.
  const passwordPolicies = new Map<string, string>();
  let cache: ObjectCache | undefined;
  const usersOf = (namespace: string, cluster: string): ObjectKey[] =>
    (cache?.list<KubeObject & { spec?: { clusterRef?: { name?: string } } }>(KINDS.user, namespace) ?? []).filter((u) => u.spec?.clusterRef?.name === cluster).map((u) => ({ namespace, name: u.metadata.name }));
  return {
    name: 'user',
    // Hashing runs on libuv's threads (4); the rest of a reconcile waits on the API server.
    concurrency: 8,
    primary: KINDS.user,
    owns: [KINDS.secret, ...(options.certManager ? [KINDS.certificate] : [])],
    watches: [
      {
        kind: KINDS.brokerCluster,
        map: (c) => {
          const ns = c.metadata.namespace ?? '';
          const id = `${ns}/${c.metadata.name}`;
          const policy = JSON.stringify((c as KubeObject & { spec?: { authentication?: { passwordPolicy?: unknown } } }).spec?.authentication?.passwordPolicy ?? null);
          const before = passwordPolicies.get(id);
          passwordPolicies.set(id, policy);
          // Not on the first sight of a cluster: its Users are reconciled anyway then.
          return before !== undefined && before !== policy ? usersOf(ns, c.metadata.name) : [];
        },
      },
      {
        kind: KINDS.secret,
        map: (s) => {
          const ns = s.metadata.namespace ?? '';
          const out = [...(brought.get(`${ns}/${s.metadata.name}`) ?? [])].map((name) => ({ namespace: ns, name }));
          // The cluster's CA, server certificate and server secret feed every user's Secret.
          const owner = controllerOwnerKey(s, KINDS.brokerCluster);
          if (owner) {
            const n = objectNames(owner.name);
            const certs = certificateSecretNames(owner.name);
            if (s.metadata.name === n.serverSecret || s.metadata.name === certs.server || s.metadata.name === certs.ca) out.push(...usersOf(ns, owner.name));
          }
          return out;
        },
      },
    ],
    triggers: (enqueue) => tracker.subscribe('User', enqueue),
    reconcile: (key, ctx) => {
      cache = ctx.cache;
      const index = (secret: string | undefined) => {
        const id = `${key.namespace}/${key.name}`;
        const old = broughtBy.get(id);
        if (old === secret) return;
        if (old) brought.get(`${key.namespace}/${old}`)?.delete(key.name);
        if (secret) {
          broughtBy.set(id, secret);
          const k = `${key.namespace}/${secret}`;
          brought.set(k, (brought.get(k) ?? new Set()).add(key.name));
        } else broughtBy.delete(id);
      };
      return reconcileUser(key, ctx, { tracker, digests, index, random: options.randomBytes, certManager: options.certManager === true, derived, clusters });
    },
  };
}

interface Env {
  tracker: PolicyTracker;
  digests: ReadyDigests;
  index: (secret: string | undefined) => void;
  random: ((n: number) => Buffer) | undefined;
  certManager: boolean;
  /** The record last derived per User (namespace/name, with its uid), until the cache shows the Secret written with it. */
  derived: Map<string, { uid: string; record: DerivedRecord }>;
  clusters: ParseCache<BulwarkResource>;
}

async function reconcileUser(key: ObjectKey, ctx: ReconcileContext, env: Env): Promise<ReconcileResult | void> {
  const stored = storedMember(ctx, KINDS.user, key);
  if (!stored) {
    env.derived.delete(keyString(key));
    env.digests.forget(key);
    return void env.index(undefined);
  }
  const ns = key.namespace;
  const clusterName = (stored.spec as { clusterRef?: { name?: string } } | undefined)?.clusterRef?.name ?? '';
  const secretName = userSecretName(key.name);
  let fields: Record<string, unknown> = { secretName };
  const write = (problem: MemberProblem | undefined, digest?: string) =>
    writeMemberStatus(ctx, { kind: 'User', stored, tracker: env.tracker, clusters: [clusterName], digests: env.digests, fields, ...(problem ? { problem } : {}), ...(digest ? { digest } : {}) });
  const parsed = parseMember(stored, 'User');
  if ('problem' in parsed) return void (await write(parsed.problem));
  const user = parsed.value;
  const username = user.spec.username ?? user.metadata.name;
  fields = { username, secretName };
  const auth = user.spec.authentication;
  env.index(auth.passwordSecretRef?.name);

  // 1. The cluster, and what it gives every user: the listener to use, the credential key, the CA.
  const stall = (reason: string, message: string) => write({ reason, message });
  const waitFor = async (message: string): Promise<ReconcileResult> => {
    await write({ reason: UserReason.WaitingForCluster, message, waiting: true });
    return { requeueAfterMs: CLUSTER_WAIT_MS };
  };
  const clusterObj = ctx.cache.get<KubeObject>(KINDS.brokerCluster, { namespace: ns, name: clusterName });
  if (!clusterObj) return void (await stall(MemberReason.ClusterNotFound, `BrokerCluster ${clusterName} does not exist in namespace ${ns}`));
  // Parsed once per resourceVersion: every User of the cluster reads it.
  const clusterParsed = env.clusters.parse(clusterObj);
  if (clusterParsed?.kind !== 'BrokerCluster') return waitFor(`BrokerCluster ${clusterName} has a spec the operator cannot read (see its status)`);
  const cluster = clusterParsed;
  const listener = chooseKafkaListener(cluster, auth.type);
  if (!listener) return void (await stall(UserReason.NoListener, `no Kafka listener of BrokerCluster ${clusterName} accepts ${auth.type} users (spec.listeners[].authentication)`));
  const bootstrap = listenerAddresses(cluster).find((l) => l.name === listener.name)!.bootstrap;
  const secret = async (name: string) => ctx.cache.get<SecretObject>(KINDS.secret, { namespace: ns, name }) ?? (await ctx.api.get<SecretObject>(KINDS.secret, { namespace: ns, name }));
  const serverSecret = (await secret(objectNames(clusterName).serverSecret))?.data?.[SERVER_SECRET_KEY];
  const caPem = secretText(await secret(certificateSecretNames(clusterName).server), 'ca.crt');
  if (serverSecret === undefined || caPem === undefined) return waitFor(`waiting for BrokerCluster ${clusterName}'s server secret and certificates`);
  const saltKey = credentialSaltKey(Buffer.from(serverSecret, 'base64'));

  // 2. The user's own Secret: it must be this User's if it exists.
  const own = await secret(secretName);
  if (own && !controlledBy(own, stored.metadata.uid)) return void (await stall(UserReason.SecretConflict, `Secret ${secretName} exists and does not belong to this User; delete or rename it`));

  // 3. The password: brought (and checked against the cluster's password policy), kept, or generated once.
  const passwordPolicy = passwordPolicyOf(cluster);
  let password: string | undefined;
  let generated = false;
  if (auth.type !== 'tls') {
    if (auth.passwordSecretRef) {
      const ref = auth.passwordSecretRef;
      password = secretText(await secret(ref.name), ref.key);
      if (password === undefined) return void (await stall(UserReason.PasswordSecretNotFound, `Secret ${ref.name} with key ${ref.key} does not exist in namespace ${ns}`));
      const weakness = passwordWeakness(password, passwordPolicy);
      if (weakness) {
        // The password in force (the one the user's Secret holds) stays only if it passes the
        // policy itself: a refused change keeps a good password working, a tightened policy
        // leaves no weak one that logs in.
        const inForce = controlledBy(own, stored.metadata.uid) ? secretText(own, 'password') : undefined;
        if (own && readDerivedRecord(own) && (inForce === undefined || passwordWeakness(inForce, passwordPolicy))) {
          await withdrawCredentials(ctx, own);
          ctx.events.emit(stored, 'Warning', UserEventReason.CredentialsWithdrawn, 'the password in force fails the password policy: its credentials are withdrawn and the user cannot log in');
        }
        return void (await stall(UserReason.WeakPassword, `spec.authentication.passwordSecretRef: ${passwordPolicyFailure(ref, weakness)}`));
      }
    } else {
      password = controlledBy(own, stored.metadata.uid) ? secretText(own, 'password') : undefined;
      const weakness = password ? passwordWeakness(password, passwordPolicy) : undefined;
      if (weakness) ctx.events.emit(stored, 'Normal', UserEventReason.PasswordRegenerated, `the generated password fails the password policy's ${weakness.rule} rule (the policy changed): generated a new one`);
      if (password === undefined || password === '' || weakness) {
        password = generatePassword(env.random, passwordPolicy);
        generated = true;
      }
    }
  }

  // 4. Derived credentials: reused while the password, type, identity and iterations are unchanged.
  let record: DerivedRecord | undefined;
  if (password !== undefined) {
    const identity = `${ns}/${clusterName}/${username}`;
    const iterations = cluster.spec.authentication?.scramIterations ?? 8192;
    const fingerprint = passwordFingerprint(saltKey, password);
    // The record just written may not be in the cache yet: the one remembered counts too, until the Secret shows it.
    const fits = (r: DerivedRecord | undefined) => r !== undefined && r.fingerprint === fingerprint && r.type === auth.type && r.identity === identity && r.iterations === iterations;
    const inSecret = readDerivedRecord(own);
    if (fits(inSecret)) env.derived.delete(keyString(key));
    const kept = generated ? undefined : [inSecret, remembered(env.derived.get(keyString(key)), stored)].find(fits);
    if (kept) record = kept;
    else {
      const t0 = performance.now();
      const credentials = await deriveCredentials(auth.type, password, { saltKey, identity, scramIterations: iterations });
      record = { fingerprint, type: auth.type, identity, iterations, credentials };
      env.derived.set(keyString(key), { uid: stored.metadata.uid ?? '', record });
      const algorithm = auth.type === 'password' ? 'argon2id' : auth.type;
      ctx.metrics?.credentialHashes.inc({ algorithm });
      ctx.metrics?.credentialHashSeconds.observe({ algorithm }, (performance.now() - t0) / 1000);
      // An Event for a password that changed; not for every new User (thousands at once in a bulk apply).
      if (inSecret !== undefined) ctx.events.emit(stored, 'Normal', UserEventReason.CredentialsDerived, `the password changed: derived its ${auth.type} credentials`);
    }
  }

  // 5. A tls user's certificate.
  let clientCert: { certPem: string; keyPem: string } | undefined;
  let requeueAfterMs: number | undefined;
  if (auth.type === 'tls') {
    const got = await clientCertificate(ctx, cluster, user, stored, own);
    if ('problem' in got) return void (await write(got.problem));
    if ('waiting' in got) return waitFor(got.waiting);
    clientCert = got.cert;
    requeueAfterMs = got.renewAtMs === undefined ? undefined : Math.max(1_000, got.renewAtMs - ctx.clock.now());
  }

  // 6. The Secret, written only when its content changed.
  let data: Record<string, string>;
  try {
    data = connectionSecretData({ username, ...(password !== undefined ? { password } : {}), authType: auth.type, bootstrap, tls: listener.tls?.enabled === true, caPem, ...(clientCert ? { clientCert } : {}) });
  } catch (err) {
    return void (await stall(UserReason.InvalidConnection, (err as Error).message));
  }
  if (record) data[DERIVED_KEY] = JSON.stringify(record);
  const encoded = Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v, 'utf8').toString('base64')]));
  if (!own || !sameData(own.data, encoded) || own.metadata.labels?.[CLUSTER_LABEL] !== clusterName) {
    await ctx.api.apply({
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: secretName, namespace: ns, labels: { 'app.kubernetes.io/managed-by': 'bulwark-operator', [COMPONENT_LABEL]: USER_SECRET_COMPONENT, [CLUSTER_LABEL]: clusterName }, ownerReferences: [controllerReference(stored)] },
      type: 'Opaque',
      data: encoded,
    });
  }

  // 7. Status: Ready once every broker holds a snapshot with this generation and these credentials.
  const held = await write(undefined, record?.fingerprint);
  const waits = [held?.requeueAfterMs, requeueAfterMs].filter((ms): ms is number => ms !== undefined);
  return waits.length > 0 ? { requeueAfterMs: Math.min(...waits) } : undefined;
}

/** The user's Secret without its derived credentials: the next snapshot has none for the user, who then cannot log in. */
async function withdrawCredentials(ctx: ReconcileContext, own: SecretObject): Promise<void> {
  const data = Object.fromEntries(Object.entries(own.data ?? {}).filter(([k]) => k !== DERIVED_KEY));
  await ctx.api.apply({ apiVersion: 'v1', kind: 'Secret', metadata: { name: own.metadata.name, namespace: own.metadata.namespace, labels: own.metadata.labels ?? {}, ownerReferences: own.metadata.ownerReferences ?? [] }, type: 'Opaque', data });
}

/** The record remembered for this very User (not an earlier one of the same name). */
const remembered = (kept: { uid: string; record: DerivedRecord } | undefined, user: KubeObject) => (kept && kept.uid === user.metadata.uid ? kept.record : undefined);

function sameData(a: Record<string, string> | undefined, b: Record<string, string>): boolean {
  const ak = Object.keys(a ?? {});
  return ak.length === Object.keys(b).length && ak.every((k) => a![k] === b[k]);
}

type CertOutcome = { cert: { certPem: string; keyPem: string }; renewAtMs?: number } | { problem: MemberProblem } | { waiting: string };

async function clientCertificate(ctx: ReconcileContext, cluster: BrokerCluster, user: User, stored: KubeObject, own: SecretObject | undefined): Promise<CertOutcome> {
  const ns = cluster.metadata.namespace;
  if (cluster.spec.tls?.certManager) {
    const built = userCertManagerCertificate(cluster, user, { ownerReferences: [controllerReference(stored)], labels: { 'app.kubernetes.io/managed-by': 'bulwark-operator', [CLUSTER_LABEL]: cluster.metadata.name } });
    if (!built.ok) return { problem: { reason: built.reason, message: built.message } };
    await ctx.api.apply(built.certificate.toJSON() as unknown as KubeObject);
    const name = userCertificateSecretName(user);
    const issued = ctx.cache.get<SecretObject>(KINDS.secret, { namespace: ns, name });
    const certPem = secretText(issued, 'tls.crt');
    const keyPem = secretText(issued, 'tls.key');
    if (!certPem || !keyPem) return { waiting: `waiting for cert-manager to issue the user's certificate (Secret ${name})` };
    return { cert: { certPem, keyPem } };
  }
  const caSecret = ctx.cache.get<SecretObject>(KINDS.secret, { namespace: ns, name: certificateSecretNames(cluster.metadata.name).ca });
  const existingCert = controlledBy(own, stored.metadata.uid) ? secretText(own, 'tls.crt') : undefined;
  const existingKey = controlledBy(own, stored.metadata.uid) ? secretText(own, 'tls.key') : undefined;
  const plan = await planUserCertificate({ cluster, user, caSecret, ...(existingCert && existingKey ? { existing: { certPem: existingCert, keyPem: existingKey } } : {}), now: ctx.clock.now() });
  if (plan.action === 'wait') return { waiting: plan.message };
  if (plan.action === 'stalled') return { problem: { reason: plan.reason, message: plan.message } };
  if (plan.action === 'issue') ctx.events.emit(stored, 'Normal', UserEventReason.CertificateIssued, `issued the user's client certificate (${plan.reason}), valid until ${new Date(plan.notAfter).toISOString()}`);
  return { cert: { certPem: plan.certPem, keyPem: plan.keyPem }, renewAtMs: plan.renewAtMs };
}
