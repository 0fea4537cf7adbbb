// The seam between the BrokerCluster reconciler and whoever signs its certificates: the
// built-in CA (builtin.ts) or cert-manager (cert-manager.ts), chosen by spec.tls.certManager.
// Both fill the same kubernetes.io/tls Secrets (tls.crt, tls.key, ca.crt; names from
// certificateSecretNames), so the StatefulSet does not depend on the mode.
import type { BrokerCluster } from '../../api/index.ts';
import type { KindRef, KubeObject, OwnerReference } from '../controller/index.ts';
import type { CertificateId, CertificateIdentity } from './leaves.ts';

export interface SecretObject extends KubeObject {
  apiVersion: 'v1';
  kind: 'Secret';
  type?: string;
  /** Base64 values, as the API server stores them. */
  data?: Record<string, string>;
}

export interface CertificateRequest {
  cluster: BrokerCluster;
  identity: CertificateIdentity;
  /** Now, in ms since the epoch (the reconciler's clock). */
  now: number;
  /** Labels and the owner reference every object the source builds carries. */
  labels: Readonly<Record<string, string>>;
  ownerReferences: readonly OwnerReference[];
  /** The BrokerCluster's bulwark.dev/rotate-ca annotation: a new value asks the built-in CA to rotate now. */
  rotateCa?: string;
}

/** Reads in the cluster's namespace; a Secret the source would generate anew is read live when the cache lacks it. */
export interface CertificateReader {
  secret(name: string): Promise<SecretObject | undefined>;
  object<T extends KubeObject>(kind: KindRef, name: string): Promise<T | undefined>;
}

export interface CertificateState {
  name: CertificateId;
  secretName: string;
  /** RFC 3339. Left out while there is no certificate. */
  notAfter?: string;
  /** When the operator (or cert-manager) renews it. */
  renewalTime?: string;
}

export interface CertificateOutcome {
  /** Objects to apply: Secrets (built-in CA) or cert-manager Certificates. */
  objects: KubeObject[];
  /** Every Secret the pods mount holds a usable certificate. */
  ready: boolean;
  /** Why not, when not ready. */
  message: string;
  certificates: CertificateState[];
  /** Look again after this long (a renewal, a rotation step, waiting for an issuer). */
  requeueAfterMs?: number;
  /** Notable actions, as Events on the BrokerCluster. */
  events: { reason: string; message: string }[];
}

export interface CertificateSource {
  readonly mode: 'builtin' | 'certManager';
  reconcile(request: CertificateRequest, reader: CertificateReader): Promise<CertificateOutcome>;
}

/** The source spec.tls.certManager chooses. */
export function chooseCertificateSource(cluster: BrokerCluster, sources: { builtin: CertificateSource; certManager?: CertificateSource }): CertificateSource | undefined {
  return cluster.spec.tls?.certManager ? sources.certManager : sources.builtin;
}
