// Actions as bits, so a grant's actions (with what they imply) are one integer and a decision
// is a mask test.
import { ACTIONS, IMPLIED, RESOURCE_TYPES, type Action, type ResourceType } from '../api/index.ts';

export const ACTION_BIT = Object.fromEntries(ACTIONS.map((a, i) => [a, 1 << i])) as Record<Action, number>;
export const TYPE_ORDINAL = Object.fromEntries(RESOURCE_TYPES.map((t, i) => [t, i])) as Record<ResourceType, number>;

/** Bits an Allow of these actions grants: the actions and everything they imply. */
export function allowMask(actions: readonly Action[]): number {
  let mask = 0;
  for (const a of actions) {
    mask |= ACTION_BIT[a];
    for (const implied of IMPLIED[a]) mask |= ACTION_BIT[implied];
  }
  return mask;
}

/** Bits a Deny of these actions takes away: the actions themselves; all takes away everything. */
export function denyMask(actions: readonly Action[]): number {
  let mask = 0;
  for (const a of actions) mask |= a === 'all' ? allowMask(['all']) : ACTION_BIT[a];
  return mask;
}
