export { compilePolicy, parseDurationMs, type CompileInput, type CompileResult, type Diagnostic, type TokenCredential } from './compile.ts';
export { buildAuthorizer, Reason, ANONYMOUS_USER, AUTHENTICATED_GROUP, UNAUTHENTICATED_GROUP, type Authorizer, type AuthorizeRequest, type Decision, type Principal } from './authorizer.ts';
export { decodeSnapshot, encodeSnapshot, hashSnapshotContent, policySnapshot, SNAPSHOT_FORMAT, type PolicySnapshot, type SnapshotRule, type SnapshotUser, type SnapshotToken, type SnapshotSettings, type CertificatePrincipal } from './snapshot.ts';
export { deriveCredentials, generateToken, passwordWeakness, scramCredential, tokenHash, TOKEN_FORMAT, TOKEN_USERNAME, type DerivedCredentials, type ScramCredential } from './credentials.ts';
export { parsePattern, formatPattern, matchesPattern, intersectPatterns, type Pattern } from './pattern.ts';
export { loadPolicyDirectory, type PolicyDirectory, type LocatedError } from './directory.ts';
export { ARGON2_PARAMS, type ScramMechanism } from './credentials.ts';
export { sealSnapshot } from './snapshot.ts';
