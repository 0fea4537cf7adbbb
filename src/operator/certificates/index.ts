// Certificates of a BrokerCluster: which ones it needs (leaves.ts), the built-in CA's plan and
// rotation (plan.ts, builtin.ts), and the seam cert-manager mode plugs into (source.ts).
export * from './leaves.ts';
export * from './plan.ts';
export * from './source.ts';
export { builtinCertificateSource, CertificateEventReason, NEXT_CA_ANNOTATION, observeCaSecret, observeLeafSecret, PREVIOUS_CA_ANNOTATION, ROTATE_CA_ANNOTATION, ROTATE_CA_HANDLED_ANNOTATION } from './builtin.ts';
export {
  CERT_MANAGER_GROUP,
  CERT_MANAGER_POLL_MS,
  CertManagerCertificate,
  certManagerCertificates,
  certManagerCertificateSource,
  CertManagerEventReason,
  certificateName,
  certificateReadiness,
  certificatesReadiness,
  CertificateWaitReason,
  goDuration,
  type CertificateReadiness,
  type CertManagerCertificateOptions,
} from './cert-manager.ts';
