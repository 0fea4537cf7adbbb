// The broker's policy: the PolicySnapshot in force and the authorizer built from it.
//
// On-disk contract: <dataDir>/__policy/snapshot.json holds the last snapshot applied, in its
// canonical JSON, replaced atomically (a crash leaves the old one or the new). It is loaded at
// start, so a broker restarted without the operator enforces the last policy it was given
// (fail-static). With no file, the policy is empty: nobody but the bootstrap root user may do
// anything (fail closed).
//
// Versions only move forward: a snapshot older than the one in force is refused, the same
// version with the same hash is a no-op, the same version with another hash is refused. That rule
// is the push contract's `decideApply` (src/policy/distribution.ts), shared with the operator.
// Nothing about permissions is copied into sessions: every request asks `authorizer` of the
// store, so a swap takes effect on open sessions at once; listeners subscribe with onChange to
// close the sessions whose principal is gone.
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../../lib/index.ts';
import { BulwarkError } from '../../lib/index.ts';
import {
  buildAuthorizer,
  decideApply,
  decodeSnapshot,
  emptySnapshot,
  encodeSnapshot,
  type ApplyReason,
  type AppliedState,
  type Authorizer,
  type PolicySnapshot,
  type PolicySource,
  type SnapshotRef,
} from '../../policy/index.ts';

export type ApplyResult = { applied: true; previous: SnapshotRef } | { applied: false; reason: ApplyReason; current: SnapshotRef };

export interface PolicyChange {
  /** What is enforced now (the received snapshot plus what the broker adds). */
  snapshot: PolicySnapshot;
  /** The snapshot as received: its version and hash are the ones to report. */
  received: PolicySnapshot;
  source: PolicySource;
  previous: SnapshotRef;
}

export interface PolicyStoreOptions {
  /** Adds what the broker itself contributes (the standalone root user) before indexing. */
  augment?: (snapshot: PolicySnapshot) => PolicySnapshot;
  now?: () => number;
}

export class PolicyStore {
  readonly #file: string;
  readonly #opts: PolicyStoreOptions;
  #received: PolicySnapshot;
  #effective: PolicySnapshot;
  #authorizer: Authorizer;
  #source: PolicySource;
  readonly #listeners: ((change: PolicyChange) => void)[] = [];

  private constructor(file: string, snapshot: PolicySnapshot, source: PolicySource, opts: PolicyStoreOptions) {
    this.#file = file;
    this.#opts = opts;
    this.#received = snapshot;
    this.#source = source;
    this.#effective = opts.augment ? opts.augment(snapshot) : snapshot;
    this.#authorizer = buildAuthorizer(this.#effective, opts.now ? { now: opts.now } : {});
  }

  /** Loads the persisted snapshot of a data directory; a damaged file stops the broker rather than dropping to no policy silently. */
  static open(dataDir: string, opts: PolicyStoreOptions = {}): PolicyStore {
    const dir = join(dataDir, '__policy');
    mkdirSync(dir, { recursive: true });
    const file = join(dir, 'snapshot.json');
    if (!existsSync(file)) return new PolicyStore(file, emptySnapshot(), 'empty', opts);
    let snapshot: PolicySnapshot;
    try {
      snapshot = decodeSnapshot(readFileSync(file, 'utf8'));
    } catch (err) {
      throw new BulwarkError('BWK_ERR_POLICY_PERSISTED_INVALID', { file, detail: (err as Error).message }, { cause: err });
    }
    return new PolicyStore(file, snapshot, 'disk', opts);
  }

  /** The authorizer in force now. Read it per request; never keep it. */
  get authorizer(): Authorizer {
    return this.#authorizer;
  }

  /** The snapshot in force, with what the broker adds (root user). */
  get snapshot(): PolicySnapshot {
    return this.#effective;
  }

  /** What was applied, as received: its version and hash are what the broker reports. */
  get applied(): AppliedState {
    return { version: this.#received.version, hash: this.#received.hash, source: this.#source };
  }

  onChange(listener: (change: PolicyChange) => void): void {
    this.#listeners.push(listener);
  }

  /**
   * Applies a verified snapshot: persists it first (so what is enforced is what survives a
   * restart), then swaps the authorizer. `force` lets a policy directory replace a pushed policy
   * of a higher version: the directory is then the only source.
   */
  apply(snapshot: PolicySnapshot, source: PolicySource, opts: { force?: boolean } = {}): ApplyResult {
    const current = { version: this.#received.version, hash: this.#received.hash };
    const decision = decideApply(current, snapshot, opts);
    if (!decision.apply) return { applied: false, reason: decision.reason, current };
    const effective = this.#opts.augment ? this.#opts.augment(snapshot) : snapshot;
    const authorizer = buildAuthorizer(effective, this.#opts.now ? { now: this.#opts.now } : {});
    writeFileAtomic(this.#file, [Buffer.from(encodeSnapshot(snapshot))]);
    this.#received = snapshot;
    this.#effective = effective;
    this.#authorizer = authorizer;
    this.#source = source;
    const change = { snapshot: effective, received: snapshot, source, previous: current };
    for (const l of this.#listeners) l(change);
    return { applied: true, previous: current };
  }
}
