// The policy step of a BrokerCluster's reconcile: compile the cluster's PolicySnapshot and push it
// to every broker pod that runs (src/operator/policy), as the operator, with the operator's client
// certificate and the CA that signs the brokers' internal certificates. A broker reports Ready only
// once it holds a snapshot, so this runs on every reconcile that sees pods, Ready or not.
import type { BrokerCluster, BulwarkResource } from '../../api/index.ts';
import type { SecretObject } from '../certificates/index.ts';
import { KINDS, type KubeObject, type ReconcileContext } from '../controller/index.ts';
import { distributePolicy, pushTargets, type BrokerPod, type DistributionOutcome } from '../policy/index.ts';
import type { SnapshotRef } from '../../policy/index.ts';
import { internalPort, objectNames, podSelectorLabels, type ClusterBuildOptions } from './names.ts';

export interface PolicyStep {
  outcome?: DistributionOutcome;
  /** Why nothing was pushed (no pod runs yet, the operator's certificate is not there yet). */
  waiting?: string;
}

const text = (secret: SecretObject | undefined, key: string) => {
  const b64 = secret?.data?.[key];
  return b64 === undefined ? undefined : Buffer.from(b64, 'base64').toString('utf8');
};

export async function pushClusterPolicy(
  cluster: BrokerCluster,
  ctx: ReconcileContext,
  opts: ClusterBuildOptions,
  previous: { version: number; hash: string } | undefined,
  readSecret: (name: string) => Promise<SecretObject | undefined>,
  confirmed: Map<string, SnapshotRef>,
): Promise<PolicyStep> {
  const ns = cluster.metadata.namespace!;
  const names = objectNames(cluster.metadata.name);
  const pods = ctx.cache.list<BrokerPod & KubeObject>(KINDS.pod, ns, podSelectorLabels(cluster.metadata.name));
  const targets = pushTargets(pods, (pod) => `${pod}.${names.headlessService}.${ns}.svc.${opts.clusterDomain}`);
  if (targets.length === 0) return { waiting: 'no broker pod runs yet' };
  const operator = await readSecret(names.operatorTlsSecret);
  const internal = await readSecret(names.internalTlsSecret);
  const cert = text(operator, 'tls.crt');
  const key = text(operator, 'tls.key');
  const ca = text(internal, 'ca.crt') ?? text(operator, 'ca.crt');
  if (!cert || !key || !ca) return { waiting: `the operator's client certificate (Secret ${names.operatorTlsSecret}) is not issued yet` };
  // Users, Roles, AccessTokens and TopicGrants join the snapshot with the next issue; the BrokerCluster's own settings are compiled now.
  const resources: BulwarkResource[] = [cluster];
  const outcome = await distributePolicy({ cluster, resources, ...(previous ? { previous } : {}), targets, port: internalPort(cluster), tls: { ca, cert, key }, confirmed });
  for (const f of outcome.failures) ctx.log.info({ cluster: `${ns}/${cluster.metadata.name}`, pod: f.pod, reason: f.message }, 'policy snapshot not applied on a broker yet');
  return { outcome };
}
