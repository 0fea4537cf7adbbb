// Certificates of a BrokerCluster: which ones it needs (leaves.ts), the built-in CA's plan and
// rotation (plan.ts, builtin.ts), and the seam cert-manager mode plugs into (source.ts).
export * from './leaves.ts';
export * from './plan.ts';
export * from './source.ts';
export { builtinCertificateSource, CertificateEventReason, NEXT_CA_ANNOTATION, observeCaSecret, observeLeafSecret, PREVIOUS_CA_ANNOTATION } from './builtin.ts';
