// Status conditions, shaped like metav1.Condition and read by kstatus, Argo CD and Flux:
// lastTransitionTime moves only when a condition's status flips, observedGeneration is always
// the generation the condition was computed from, and no status is written when nothing changed.
export type ConditionStatus = 'True' | 'False' | 'Unknown';

export interface Condition {
  type: string;
  status: ConditionStatus;
  reason: string;
  message: string;
  observedGeneration?: number;
  lastTransitionTime: string;
}

export type ConditionInput = Omit<Condition, 'lastTransitionTime'>;

/** kstatus's condition types. */
export const CONDITION_READY = 'Ready';
export const CONDITION_RECONCILING = 'Reconciling';
export const CONDITION_STALLED = 'Stalled';

/** Metav1 time: RFC 3339 to the second. */
export function conditionTime(nowMs: number): string {
  return new Date(Math.floor(nowMs / 1000) * 1000).toISOString().replace('.000Z', 'Z');
}

/**
 * `conditions` with `next` set: a new array (the input is not changed), other types kept in
 * their order, the new type appended. lastTransitionTime is kept unless the status flips.
 */
export function setCondition(conditions: readonly Condition[] | undefined, next: ConditionInput, nowMs: number): Condition[] {
  const list = conditions ?? [];
  const old = list.find((c) => c.type === next.type);
  const lastTransitionTime = old && old.status === next.status ? old.lastTransitionTime : conditionTime(nowMs);
  const set: Condition = { type: next.type, status: next.status, reason: next.reason, message: next.message, ...(next.observedGeneration === undefined ? {} : { observedGeneration: next.observedGeneration }), lastTransitionTime };
  return old ? list.map((c) => (c === old ? set : c)) : [...list, set];
}

/** `conditions` without the given type (a new array). */
export function removeCondition(conditions: readonly Condition[] | undefined, type: string): Condition[] {
  return (conditions ?? []).filter((c) => c.type !== type);
}

export function findCondition(conditions: readonly Condition[] | undefined, type: string): Condition | undefined {
  return conditions?.find((c) => c.type === type);
}

export function isConditionTrue(conditions: readonly Condition[] | undefined, type: string): boolean {
  return findCondition(conditions, type)?.status === 'True';
}

function sameCondition(a: Condition, b: Condition): boolean {
  return a.type === b.type && a.status === b.status && a.reason === b.reason && a.message === b.message && a.observedGeneration === b.observedGeneration && a.lastTransitionTime === b.lastTransitionTime;
}

/** The same conditions, whatever their order. */
export function conditionsEqual(a: readonly Condition[] | undefined, b: readonly Condition[] | undefined): boolean {
  const x = a ?? [];
  const y = b ?? [];
  if (x.length !== y.length) return false;
  return x.every((c) => {
    const other = y.find((d) => d.type === c.type);
    return other !== undefined && sameCondition(c, other);
  });
}

/** Deep equality of JSON values, object keys in any order. */
export function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a)) {
    const bb = b as unknown[];
    return a.length === bb.length && a.every((v, i) => jsonEqual(v, bb[i]));
  }
  const ao = a as Record<string, unknown>;
  const bo = b as Record<string, unknown>;
  const ak = Object.keys(ao).filter((k) => ao[k] !== undefined);
  const bk = Object.keys(bo).filter((k) => bo[k] !== undefined);
  return ak.length === bk.length && ak.every((k) => Object.hasOwn(bo, k) && jsonEqual(ao[k], bo[k]));
}

/**
 * Whether writing `next` would change the stored status `old`: conditions compared by type
 * (order ignored), every other field as JSON. False means skip the write.
 */
export function statusChanged(old: { conditions?: readonly Condition[]; [k: string]: unknown } | undefined, next: { conditions?: readonly Condition[]; [k: string]: unknown }): boolean {
  const { conditions: oc, ...orest } = old ?? {};
  const { conditions: nc, ...nrest } = next;
  return !conditionsEqual(oc, nc) || !jsonEqual(orest, nrest);
}

/** One decision a reconciler makes about its object: the three kstatus conditions follow from it. */
export interface StatusDecision {
  reason: string;
  message: string;
  stalled: boolean;
  reconciling: boolean;
  ready: boolean;
}

/** Ready, Reconciling and Stalled from one decision, each with observedGeneration. */
export function applyDecision(conditions: readonly Condition[] | undefined, d: StatusDecision, generation: number | undefined, nowMs: number): Condition[] {
  const g = generation === undefined ? {} : { observedGeneration: generation };
  let out = setCondition(conditions, { type: CONDITION_READY, status: d.ready ? 'True' : 'False', reason: d.reason, message: d.message, ...g }, nowMs);
  out = setCondition(out, { type: CONDITION_RECONCILING, status: d.reconciling ? 'True' : 'False', reason: d.reconciling ? d.reason : d.stalled ? d.reason : 'Reconciled', message: d.reconciling ? d.message : d.stalled ? 'stalled: see the Stalled condition' : 'nothing left to do', ...g }, nowMs);
  out = setCondition(out, { type: CONDITION_STALLED, status: d.stalled ? 'True' : 'False', reason: d.stalled ? d.reason : d.reconciling ? 'Progressing' : 'Reconciled', message: d.stalled ? d.message : 'the spec can be carried out', ...g }, nowMs);
  return out;
}
