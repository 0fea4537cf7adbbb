// Which certificates a BrokerCluster needs, with their names: shared by the built-in CA and
// cert-manager modes, so both fill the same Secrets with the same names. Pure.
import type { BrokerCluster } from '../../api/index.ts';

export const LEAF_IDS = ['server', 'internal', 'operator'] as const;
/** server: the client listeners; internal: the brokers' internal listener (and, later, replication); operator: the operator's client certificate for the internal listener. */
export type LeafId = (typeof LEAF_IDS)[number];
export type CertificateId = LeafId | 'ca';

export interface LeafCertificate {
  id: LeafId;
  /** The kubernetes.io/tls Secret it lives in: tls.crt, tls.key, ca.crt. */
  secretName: string;
  commonName: string;
  dnsNames: string[];
  usage: 'server' | 'client' | 'both';
}

export interface CertificateIdentity {
  /** CN of the operator's client certificate; the internal listener admits only it. */
  operatorIdentity: string;
  clusterDomain: string;
}

export function certificateSecretNames(clusterName: string): Record<CertificateId, string> {
  return { ca: `${clusterName}-ca`, server: `${clusterName}-tls`, internal: `${clusterName}-internal-tls`, operator: `${clusterName}-operator-tls` };
}

/** The names clients use for the cluster and for each broker, in `.svc` and `.svc.<domain>` forms. */
export function brokerDnsNames(cluster: BrokerCluster, clusterDomain: string): { service: string[]; brokers: string[] } {
  const { name, namespace } = cluster.metadata;
  const headless = `${name}-brokers.${namespace}.svc`;
  const withDomain = (n: string) => [n, `${n}.${clusterDomain}`];
  const pods = Array.from({ length: cluster.spec.replicas }, (_, i) => withDomain(`${name}-${i}.${headless}`)).flat();
  return {
    service: [name, `${name}.${namespace}`, ...withDomain(`${name}.${namespace}.svc`)],
    brokers: [...withDomain(`*.${headless}`), ...pods],
  };
}

/** The leaf certificates of a cluster, in LEAF_IDS order. */
export function leafCertificates(cluster: BrokerCluster, identity: CertificateIdentity): LeafCertificate[] {
  const { name, namespace } = cluster.metadata;
  const secrets = certificateSecretNames(name);
  const dns = brokerDnsNames(cluster, identity.clusterDomain);
  const cn = (preferred: string) => (preferred.length <= 64 ? preferred : name.slice(0, 64));
  return [
    { id: 'server', secretName: secrets.server, commonName: cn(`${name}.${namespace}.svc`), dnsNames: [...dns.service, ...dns.brokers], usage: 'server' },
    { id: 'internal', secretName: secrets.internal, commonName: cn(`${name}-brokers.${namespace}.svc`), dnsNames: dns.brokers, usage: 'both' },
    { id: 'operator', secretName: secrets.operator, commonName: identity.operatorIdentity, dnsNames: [], usage: 'client' },
  ];
}
