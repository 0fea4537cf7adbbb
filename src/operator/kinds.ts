// The kinds the operator reads and writes, named as the API server knows them: the group/version
// a request path is built from, and the plural its collection is served under.
import { API_GROUP, API_VERSION } from '../api/index.ts';

export interface KindRef {
  readonly apiVersion: string;
  readonly kind: string;
  readonly plural: string;
  readonly namespaced: true;
}

const kind = (apiVersion: string, kindName: string, plural: string): KindRef => Object.freeze({ apiVersion, kind: kindName, plural, namespaced: true });
const bulwark = `${API_GROUP}/${API_VERSION}`;

export const KINDS = Object.freeze({
  brokerCluster: kind(bulwark, 'BrokerCluster', 'brokerclusters'),
  user: kind(bulwark, 'User', 'users'),
  role: kind(bulwark, 'Role', 'roles'),
  accessToken: kind(bulwark, 'AccessToken', 'accesstokens'),
  topicGrant: kind(bulwark, 'TopicGrant', 'topicgrants'),
  topic: kind(bulwark, 'Topic', 'topics'),
  secret: kind('v1', 'Secret', 'secrets'),
  configMap: kind('v1', 'ConfigMap', 'configmaps'),
  service: kind('v1', 'Service', 'services'),
  serviceAccount: kind('v1', 'ServiceAccount', 'serviceaccounts'),
  pod: kind('v1', 'Pod', 'pods'),
  event: kind('v1', 'Event', 'events'),
  statefulSet: kind('apps/v1', 'StatefulSet', 'statefulsets'),
  podDisruptionBudget: kind('policy/v1', 'PodDisruptionBudget', 'poddisruptionbudgets'),
  networkPolicy: kind('networking.k8s.io/v1', 'NetworkPolicy', 'networkpolicies'),
  lease: kind('coordination.k8s.io/v1', 'Lease', 'leases'),
  certificate: kind('cert-manager.io/v1', 'Certificate', 'certificates'),
});

/** Kinds the operator may read only per namespace (least privilege: no cluster-wide Secret read). */
export const NAMESPACE_SCOPED_READS: readonly KindRef[] = [KINDS.secret, KINDS.configMap];

/** `apps/v1/statefulsets`: the key an informer or a cache is kept under. */
export function kindId(kind: KindRef): string {
  return `${kind.apiVersion}/${kind.plural}`;
}

/** The REST path of a kind's collection (in a namespace, or across all of them), or of one object. */
export function kindPath(kind: KindRef, namespace?: string, name?: string): string {
  const base = kind.apiVersion.includes('/') ? `/apis/${kind.apiVersion}` : `/api/${kind.apiVersion}`;
  const ns = namespace === undefined ? '' : `/namespaces/${encodeURIComponent(namespace)}`;
  const one = name === undefined ? '' : `/${encodeURIComponent(name)}`;
  return `${base}${ns}/${kind.plural}${one}`;
}
