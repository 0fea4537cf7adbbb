// Parsing a custom resource from an untyped document, with errors that name the field.
//
// The zod schema checks shape and bounds; the CEL rules, taken from the same generated CRD
// schema the API server enforces, check the cross-field rules. Rules that compare against
// oldSelf (immutability) only mean something on update, so they are skipped here.
import { Environment } from '@marcbachmann/cel-js';
import type { z } from 'zod';
import type { AccessTokenSpec } from './access-token.ts';
import type { BrokerClusterSpec } from './broker-cluster.ts';
import { API_GROUP_VERSION, DNS_LABEL, DNS_SUBDOMAIN } from './common.ts';
import { toStructuralSchema } from './crd.ts';
import { kindDefinition, type KindName } from './kinds.ts';
import type { RoleSpec } from './role.ts';
import type { TopicGrantSpec } from './topic-grant.ts';
import type { TopicSpec } from './topic.ts';
import type { UserSpec } from './user.ts';

export interface ResourceMeta {
  name: string;
  namespace: string;
  generation?: number;
  uid?: string;
}

interface Resource<K extends KindName, S> {
  apiVersion: typeof API_GROUP_VERSION;
  kind: K;
  metadata: ResourceMeta;
  spec: S;
}
export type BrokerCluster = Resource<'BrokerCluster', BrokerClusterSpec>;
export type User = Resource<'User', UserSpec>;
export type Role = Resource<'Role', RoleSpec>;
export type AccessToken = Resource<'AccessToken', AccessTokenSpec>;
export type TopicGrant = Resource<'TopicGrant', TopicGrantSpec>;
export type Topic = Resource<'Topic', TopicSpec>;
export type BulwarkResource = BrokerCluster | User | Role | AccessToken | TopicGrant | Topic;

export interface FieldError {
  /** Dotted field path from the top of the document, such as spec.listeners[0].port. */
  path: string;
  message: string;
}

export type ParseResult<T> = { ok: true; value: T } | { ok: false; errors: FieldError[] };

export function formatPath(segments: readonly PropertyKey[]): string {
  let out = '';
  for (const s of segments) out += typeof s === 'number' ? `[${s}]` : out ? `.${String(s)}` : String(s);
  return out;
}

export function isBulwarkApiVersion(doc: unknown): boolean {
  return typeof doc === 'object' && doc !== null && (doc as { apiVersion?: unknown }).apiVersion === API_GROUP_VERSION;
}

/** Parses one document as a Bulwark resource. `defaultNamespace` fills a missing namespace. */
export function parseResource(doc: unknown, defaultNamespace = 'default'): ParseResult<BulwarkResource> {
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) return fail('', 'expected an object with apiVersion, kind, metadata and spec');
  const d = doc as Record<string, unknown>;
  if (d.apiVersion !== API_GROUP_VERSION) return fail('apiVersion', `expected ${API_GROUP_VERSION}, got ${JSON.stringify(d.apiVersion)}`);
  const def = typeof d.kind === 'string' ? kindDefinition(d.kind) : undefined;
  if (!def) return fail('kind', `unknown kind ${JSON.stringify(d.kind)}: expected BrokerCluster, User, Role, AccessToken, TopicGrant or Topic`);

  const errors: FieldError[] = [];
  const meta = (d.metadata ?? {}) as Record<string, unknown>;
  if (typeof d.metadata !== 'object' || d.metadata === null) errors.push({ path: 'metadata', message: 'required' });
  const name = meta.name;
  if (typeof name !== 'string' || name.length > 253 || !DNS_SUBDOMAIN.test(name)) errors.push({ path: 'metadata.name', message: 'must be a DNS subdomain name (lowercase letters, digits, "-" and ".")' });
  const namespace = meta.namespace ?? defaultNamespace;
  if (typeof namespace !== 'string' || namespace.length > 63 || !DNS_LABEL.test(namespace)) errors.push({ path: 'metadata.namespace', message: 'must be a DNS label' });

  if (d.spec === undefined) errors.push({ path: 'spec', message: 'required' });
  else {
    const parsed = (def.spec as z.ZodType).safeParse(d.spec);
    if (!parsed.success) {
      for (const issue of parsed.error.issues) errors.push({ path: formatPath(['spec', ...issue.path]), message: issue.message });
    } else {
      errors.push(...celErrors(def.kind as KindName, parsed.data, 'spec'), ...listTypeErrors(def.kind as KindName, parsed.data, 'spec'));
    }
  }
  if (errors.length > 0) return { ok: false, errors };
  return {
    ok: true,
    value: {
      apiVersion: API_GROUP_VERSION,
      kind: def.kind as KindName,
      metadata: { name: name as string, namespace: namespace as string, ...(typeof meta.generation === 'number' ? { generation: meta.generation } : {}) },
      spec: (def.spec as z.ZodType).parse(d.spec),
    } as BulwarkResource,
  };
}

function fail(path: string, message: string): ParseResult<never> {
  return { ok: false, errors: [{ path, message }] };
}

// --- CEL rules, evaluated offline -------------------------------------------------------------

interface SchemaNode {
  type?: string;
  properties?: Record<string, SchemaNode>;
  items?: SchemaNode;
  'x-kubernetes-validations'?: { rule: string; message: string; fieldPath?: string }[];
  'x-kubernetes-list-type'?: 'atomic' | 'set' | 'map';
  'x-kubernetes-list-map-keys'?: string[];
}

const celEnv = new Environment({ unlistedVariablesAreDyn: true, homogeneousAggregateLiterals: false });
const specSchemas = new Map<KindName, SchemaNode>();
const compiledRules = new Map<string, (ctx: Record<string, unknown>) => unknown>();

function specSchema(kind: KindName): SchemaNode {
  let s = specSchemas.get(kind);
  if (!s) {
    s = toStructuralSchema(kindDefinition(kind)!.spec) as SchemaNode;
    specSchemas.set(kind, s);
  }
  return s;
}

function compiled(rule: string) {
  let fn = compiledRules.get(rule);
  if (!fn) {
    fn = celEnv.parse(rule) as unknown as (ctx: Record<string, unknown>) => unknown;
    compiledRules.set(rule, fn);
  }
  return fn;
}

/** CEL integers are 64-bit: hand integral numbers to the evaluator as bigint. */
function toCelValue(v: unknown): unknown {
  if (typeof v === 'number' && Number.isInteger(v)) return BigInt(v);
  if (Array.isArray(v)) return v.map(toCelValue);
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, toCelValue(x)]));
  return v;
}

export function celErrors(kind: KindName, spec: unknown, root: string): FieldError[] {
  const errors: FieldError[] = [];
  walk(specSchema(kind), spec, root, errors);
  return errors;
}

function walk(node: SchemaNode, value: unknown, path: string, errors: FieldError[]): void {
  if (value === undefined || value === null) return;
  for (const v of node['x-kubernetes-validations'] ?? []) {
    if (v.rule.includes('oldSelf')) continue;
    let ok: unknown;
    let message = v.message;
    try {
      ok = compiled(v.rule)({ self: toCelValue(value) });
    } catch (err) {
      ok = false; // fail closed: a rule we cannot evaluate is a rule not met
      message += ` (rule could not be evaluated: ${(err as Error).message})`;
    }
    if (ok !== true) errors.push({ path: path + (v.fieldPath ?? ''), message });
  }
  if (node.type === 'object' && node.properties && typeof value === 'object') {
    for (const [k, child] of Object.entries(node.properties)) walk(child, (value as Record<string, unknown>)[k], `${path}.${k}`, errors);
  } else if (node.type === 'array' && node.items && Array.isArray(value)) {
    value.forEach((item, i) => walk(node.items!, item, `${path}[${i}]`, errors));
  }
}

// --- List types, checked offline as the API server checks them ----------------------------------

/**
 * Duplicates in the lists the CRD declares as sets (every item unique) or maps (the map keys
 * unique), each reported at the later item with the value and where it first appeared.
 */
export function listTypeErrors(kind: KindName, spec: unknown, root: string): FieldError[] {
  const errors: FieldError[] = [];
  walkLists(specSchema(kind), spec, root, errors);
  return errors;
}

function walkLists(node: SchemaNode, value: unknown, path: string, errors: FieldError[]): void {
  if (value === undefined || value === null) return;
  if (node.type === 'object' && node.properties && typeof value === 'object') {
    for (const [k, child] of Object.entries(node.properties)) walkLists(child, (value as Record<string, unknown>)[k], `${path}.${k}`, errors);
    return;
  }
  if (node.type !== 'array' || !Array.isArray(value)) return;
  const listType = node['x-kubernetes-list-type'];
  const keys = node['x-kubernetes-list-map-keys'] ?? [];
  if (listType === 'set' || (listType === 'map' && keys.length > 0)) {
    const seen = new Map<string, number>();
    value.forEach((item, i) => {
      const identity = listType === 'set' ? JSON.stringify(item) : JSON.stringify(keys.map((k) => (item as Record<string, unknown>)?.[k]));
      const first = seen.get(identity);
      if (first === undefined) return void seen.set(identity, i);
      const shown = listType === 'set' ? identity : keys.map((k) => `${k} ${JSON.stringify((item as Record<string, unknown>)?.[k])}`).join(', ');
      const at = listType === 'set' ? `${path}[${i}]` : `${path}[${i}]${keys.length === 1 ? `.${keys[0]}` : ''}`;
      errors.push({ path: at, message: `Duplicate value: ${shown} is already at ${path}[${first}] (the list is a ${listType === 'set' ? 'set' : `map keyed by ${keys.join(', ')}`})` });
    });
  }
  if (node.items) value.forEach((item, i) => walkLists(node.items!, item, `${path}[${i}]`, errors));
}
