export { passwordFingerprint, userReconciler, UserEventReason, UserReason, type UserReconcilerOptions } from './reconciler.ts';
export { chooseKafkaListener, connectionSecretData } from './connection.ts';
export { generatePassword } from './password.ts';
