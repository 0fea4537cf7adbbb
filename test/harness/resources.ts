// Small builders for tests: resources as a user would write them, parsed through the real schemas.
import { API_GROUP_VERSION, parseResource, type BulwarkResource } from '../../src/api/index.ts';

export const NS = 'team';
export const CLUSTER = 'main';

export function resource(kind: string, name: string, spec: Record<string, unknown>, namespace = NS): BulwarkResource {
  const r = parseResource({ apiVersion: API_GROUP_VERSION, kind, metadata: { name, namespace }, spec });
  if (!r.ok) throw new Error(`test resource ${kind}/${name} is invalid: ${JSON.stringify(r.errors)}`);
  return r.value;
}

export const user = (name: string, extra: Record<string, unknown> = {}) =>
  resource('User', name, { clusterRef: { name: CLUSTER }, authentication: { type: 'tls' }, ...extra });

export const grant = (name: string, extra: Record<string, unknown>) =>
  resource('TopicGrant', name, { clusterRef: { name: CLUSTER }, effect: 'Allow', ...extra });

export const role = (name: string, rules: unknown[]) => resource('Role', name, { rules });
