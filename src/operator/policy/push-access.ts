// How the operator reaches a BrokerCluster's brokers on their internal listener: the broker pods
// that run (by IP, each checked against its own DNS name), the port, and the operator's client
// certificate with the CA of the internal listener. Shared by every push (the PolicySnapshot, the
// ClusterState) and the topic-request long poll, so they all reach the same brokers the same way.
import type { BrokerCluster } from '../../api/index.ts';
import type { DistributionTls } from '../../lib/index.ts';
import { internalPort, objectNames, podSelectorLabels } from '../brokercluster/index.ts';
import type { SecretObject } from '../certificates/index.ts';
import { KINDS, type KubeObject, type ObjectCache } from '../controller/index.ts';
import { pushTargets, type BrokerPod, type BrokerTarget } from './distributor.ts';
import { secretText } from './secrets.ts';

export interface BrokerAccess {
  /** Pods whose broker container runs (pushTargets). */
  targets: BrokerTarget[];
  /** Every broker pod of the cluster, running or not. */
  pods: number;
  port: number;
  /** The operator's client certificate and the internal CA; undefined until their Secrets exist. */
  tls: DistributionTls | undefined;
}

/** The brokers of `cluster` the operator can reach now, from the cache. */
export function brokerAccess(cache: ObjectCache, cluster: BrokerCluster, clusterDomain: string): BrokerAccess {
  const ns = cluster.metadata.namespace;
  const names = objectNames(cluster.metadata.name);
  const secret = (name: string) => cache.get<SecretObject>(KINDS.secret, { namespace: ns, name });
  const pods = cache.list<BrokerPod & KubeObject>(KINDS.pod, ns, podSelectorLabels(cluster.metadata.name));
  const operatorTls = secret(names.operatorTlsSecret);
  const cert = secretText(operatorTls, 'tls.crt');
  const key = secretText(operatorTls, 'tls.key');
  const ca = secretText(secret(names.internalTlsSecret), 'ca.crt') ?? secretText(operatorTls, 'ca.crt');
  const tls = cert && key && ca ? { ca, cert, key } : undefined;
  const targets = tls ? pushTargets(pods, (pod) => `${pod}.${names.headlessService}.${ns}.svc.${clusterDomain}`) : [];
  return { targets, pods: pods.length, port: internalPort(cluster), tls };
}
