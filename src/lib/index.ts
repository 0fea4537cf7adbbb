// Small shared pieces: errors, files written atomically, canonical JSON, CIDRs, the clock, redaction.
export * from './atomic-file.ts';
export * from './canonical-json.ts';
export * from './cidr.ts';
export * from './clock.ts';
export * from './errors.ts';
export * from './http-errors.ts';
export * from './kafka-error-codes.ts';
export * from './logger.ts';
export * from './redact.ts';
export * from './names.ts';
export * from './package-root.ts';
export * from './internal-https.ts';
