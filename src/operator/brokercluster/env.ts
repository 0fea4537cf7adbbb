// spec.env, checked again by the operator (defence in depth: the CRD's CEL rule may be missing
// from an old CRD, or an object may predate it). Pure.
import { BLOCKED_ENV, type FieldError } from '../../api/index.ts';

/** Variables the operator sets on the broker container itself; spec.env may not override them. */
export const OPERATOR_ENV = ['POD_NAME', 'POD_NAMESPACE'] as const;

const BLOCKED_PREFIXES = ['BULWARK_', 'LD_', 'NODE_'] as const;

/**
 * Why each refused variable of spec.env is refused, naming it; [] when all are acceptable. Takes
 * the spec as stored (not parsed): parsing would refuse some of these names with the CRD's own
 * rule, and the operator must name them as InvalidEnv all the same.
 */
export function envRefusals(spec: { env?: readonly { name: string }[] } | undefined): FieldError[] {
  const out: FieldError[] = [];
  const env = Array.isArray(spec?.env) ? spec.env : [];
  env.forEach((v, i) => {
    if (typeof v?.name !== 'string') return;
    const path = `spec.env[${i}].name`;
    if ((BLOCKED_ENV as readonly string[]).includes(v.name)) out.push({ path, message: `${v.name} would change how the broker process loads or runs; it is refused` });
    else if (BLOCKED_PREFIXES.some((p) => v.name.startsWith(p))) out.push({ path, message: `${v.name}: variables starting with ${BLOCKED_PREFIXES.join(', ')} are reserved or unsafe` });
    else if ((OPERATOR_ENV as readonly string[]).includes(v.name)) out.push({ path, message: `${v.name} is set by the operator; a BrokerCluster cannot override it` });
  });
  return out;
}
