// The reconcilers `bulwark operator` runs. Each reconciler's module exports a factory taking
// these options; add it to the list here.
import { brokerClusterReconciler } from './brokercluster/index.ts';
import { builtinCertificateSource, certManagerCertificateSource } from './certificates/index.ts';
import type { Reconciler } from './controller/index.ts';
import { accessTokenReconciler } from './accesstoken/index.ts';
import { roleReconciler, topicGrantReconciler } from './grants/index.ts';
import { ClusterStateTracker, clusterStateReconciler } from './cluster-state/index.ts';
import { policyReconciler, PolicyTracker } from './policy/index.ts';
import { topicReconciler } from './topic/index.ts';
import { userReconciler } from './user/index.ts';

export interface ReconcilerOptions {
  /** The broker image BrokerCluster pods run (`--broker-image`, else BULWARK_BROKER_IMAGE). */
  brokerImage?: string;
  /** The namespace the operator runs in: its pods alone may reach the brokers' internal port (NetworkPolicy). */
  operatorNamespace?: string;
  /**
   * Serve BrokerClusters with spec.tls.certManager: watch cert-manager.io/v1 Certificates, which
   * needs cert-manager's CRDs installed. Off, such a cluster is Stalled (InvalidSpec).
   */
  certManager?: boolean;
}

export function defaultReconcilers(options: ReconcilerOptions): Reconciler[] {
  // What every broker holds, shared: the policy reconciler records it, the others write their status from it.
  const tracker = new PolicyTracker();
  // What every broker holds of the cluster state: the cluster-state reconciler records it, the Topic reconciler writes Topic statuses from it.
  const clusterState = new ClusterStateTracker();
  return [
    brokerClusterReconciler({
      ...(options.brokerImage ? { brokerImage: options.brokerImage } : {}),
      ...(options.operatorNamespace ? { operatorNamespace: options.operatorNamespace } : {}),
      certificates: { builtin: builtinCertificateSource(), ...(options.certManager ? { certManager: certManagerCertificateSource() } : {}) },
    }),
    policyReconciler({ tracker }),
    userReconciler({ tracker, ...(options.certManager ? { certManager: true } : {}) }),
    accessTokenReconciler({ tracker }),
    topicGrantReconciler({ tracker }),
    roleReconciler({ tracker }),
    clusterStateReconciler({ tracker: clusterState }),
    topicReconciler({ tracker: clusterState }),
  ];
}
