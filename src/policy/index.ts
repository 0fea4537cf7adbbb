export { compilePolicy, compileSettings, DIAGNOSTIC_REASONS, parseDurationMs, type CompileInput, type CompileResult, type Diagnostic, type DiagnosticReason, type TokenCredential } from './compile.ts';
export { buildAuthorizer, Reason, ANONYMOUS_USER, AUTHENTICATED_GROUP, UNAUTHENTICATED_GROUP, type Authorizer, type AuthorizeRequest, type Decision, type Principal } from './authorizer.ts';
export { decodeSnapshot, encodeSnapshot, hashSnapshotContent, policySnapshot, SNAPSHOT_FORMAT, snapshotUser, type PolicySnapshot, type SnapshotRule, type SnapshotUser, type SnapshotToken, type SnapshotSettings, type CertificatePrincipal } from './snapshot.ts';
export { deriveCredentials, generateToken, passwordWeakness, scramCredential, tokenHash, TOKEN_FORMAT, TOKEN_USERNAME, type DerivedCredentials, type ScramCredential } from './credentials.ts';
export { parsePattern, formatPattern, matchesPattern, intersectPatterns, type Pattern } from './pattern.ts';
export { chooseCluster, compilePolicyDirectory, findBrokerCluster, ISSUED_AT_ANNOTATION, loadPolicyDirectory, locate, readPolicyDirectory, TOKEN_SECRET_KEY, type LoadedPolicy, type PolicyDirectory, type LocatedError } from './directory.ts';
export { ARGON2_PARAMS, type ScramMechanism } from './credentials.ts';
export { sealSnapshot } from './snapshot.ts';
export {
  ApplyReason,
  REJECT_REASONS,
  decideApply,
  emptySnapshot,
  POLICY_PATH,
  POLICY_ROUTES,
  POLICY_SOURCES,
  SNAPSHOT_CONTENT_TYPE,
  MAX_SNAPSHOT_BYTES,
  PUSH_REJECTED_CODE,
  UNEXPECTED_ANSWER_CODE,
  DEFAULT_TIMEOUT_MS,
  appliedStateBody,
  pushAppliedBody,
  pushRejectedBody,
  errorBody,
  pushSnapshot,
  readApplied,
  type ApplyDecision,
  type RejectReason,
  type SnapshotRef,
  type PolicySource,
  type AppliedState,
  type PushAppliedBody,
  type PushRejectedBody,
  type ErrorBody,
  type DistributionTarget,
  type DistributionTls,
  type DistributionOptions,
  type DistributionError,
  type PushResult,
  type ReadResult,
} from './distribution.ts';
export { DEFAULT_PASSWORD_POLICY, MAX_PASSWORD_LENGTH, passwordPolicyFailure, passwordPolicyOf, type PasswordPolicy, type PasswordRule, type PasswordWeakness } from './credentials.ts';
export { authorizationModeRules, FULL_ACCESS_MODE, openAuthorization, openAuthorizationWarning, type OpenAuthorization } from './authorization-mode.ts';
