// The reconcilers `bulwark operator` runs. Each reconciler's module exports a factory taking
// these options; add it to the list here.
import type { Reconciler } from './controller/index.ts';

export interface ReconcilerOptions {
  /** The broker image BrokerCluster pods run (`--broker-image`, else BULWARK_BROKER_IMAGE). */
  brokerImage?: string;
}

export function defaultReconcilers(_options: ReconcilerOptions): Reconciler[] {
  return [];
}
