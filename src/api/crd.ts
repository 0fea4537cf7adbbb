// Generates the CustomResourceDefinitions from the zod schemas, and checks that each one is
// what an admin needs: every field described (kubectl explain), every string, list and number
// bounded (so CEL cost stays estimable and nothing is unbounded), and no schema defaults.
import { z } from 'zod';
import { API_GROUP, API_VERSION } from './common.ts';
import { KINDS, type KindDefinition } from './kinds.ts';

type JsonSchema = Record<string, unknown> & {
  type?: string;
  properties?: Record<string, JsonSchema>;
  items?: JsonSchema;
  additionalProperties?: JsonSchema | boolean;
  description?: string;
};

/** Converts a zod schema to a structural OpenAPI v3 schema as apiextensions.k8s.io/v1 wants. */
export function toStructuralSchema(schema: z.ZodType): JsonSchema {
  const json = z.toJSONSchema(schema, { io: 'input', target: 'openapi-3.0', unrepresentable: 'throw' }) as JsonSchema;
  delete json.$schema;
  return normalize(json);
}

function normalize(node: JsonSchema): JsonSchema {
  const out: JsonSchema = {};
  for (const [key, value] of Object.entries(node)) {
    if (key === 'additionalProperties' && value === false) continue; // structural schemas prune unknown fields anyway
    if (key === 'properties') {
      out.properties = Object.fromEntries(Object.entries(value as Record<string, JsonSchema>).map(([k, v]) => [k, normalize(v)]));
    } else if (key === 'items' || (key === 'additionalProperties' && typeof value === 'object')) {
      out[key] = normalize(value as JsonSchema);
    } else {
      out[key] = value;
    }
  }
  if (out.format === 'date-time') delete out.pattern; // the API server checks the format itself
  if (out.type === 'integer' && typeof out.maximum === 'number' && out.maximum > 2 ** 31) out.format = 'int64';
  return out;
}

/** Every field described, every value bounded, no defaults. Returns the problems found. */
export function auditSchema(node: JsonSchema, path = ''): string[] {
  const problems: string[] = [];
  const at = path || '<root>';
  if (!node.description) problems.push(`${at}: no description`);
  if ('default' in node) problems.push(`${at}: schema default (defaults are applied by the compiler, never stored)`);
  switch (node.type) {
    case 'string':
      if (node.maxLength === undefined && node.enum === undefined && node.format !== 'date-time') problems.push(`${at}: string without maxLength`);
      break;
    case 'integer':
    case 'number':
      if (node.minimum === undefined || node.maximum === undefined) problems.push(`${at}: number without minimum and maximum`);
      break;
    case 'array':
      if (node.maxItems === undefined) problems.push(`${at}: list without maxItems`);
      if (node.items) problems.push(...auditSchema(node.items, `${path}[]`).filter((p) => !p.endsWith('no description') || !node.description));
      break;
    case 'object':
      for (const [name, child] of Object.entries(node.properties ?? {})) problems.push(...auditSchema(child, path ? `${path}.${name}` : name));
      if (typeof node.additionalProperties === 'object') {
        if (node.maxProperties === undefined) problems.push(`${at}: map without maxProperties`);
        problems.push(...auditSchema({ description: 'value', ...node.additionalProperties }, `${path}.*`));
      }
      break;
    case undefined:
      problems.push(`${at}: no type`);
  }
  return problems;
}

export function buildCrd(def: KindDefinition): Record<string, unknown> {
  const spec = toStructuralSchema(def.spec);
  const status = toStructuralSchema(def.status);
  const root: JsonSchema = {
    type: 'object',
    description: def.description,
    required: ['spec'],
    properties: {
      apiVersion: { type: 'string', maxLength: 64, description: `The versioned schema of this object: ${API_GROUP}/${API_VERSION}.` },
      kind: { type: 'string', maxLength: 64, description: `The kind of this object: ${def.kind}.` },
      metadata: { type: 'object' }, // the API server allows nothing else here
      spec,
      // A new object reads with status {observedGeneration: 0} until the operator writes one
      // (the API server applies defaults when it reads from etcd). kstatus, which Flux waits
      // with, calls a resource without any status Current, that is ready; with this it is
      // InProgress until the operator has observed its generation. Spec has no defaults: they
      // would show up as differences to GitOps tools.
      status: { ...status, default: { observedGeneration: 0 } },
    },
    ...(def.rules ? { 'x-kubernetes-validations': def.rules } : {}),
  };
  const problems = auditSchema({ ...root, properties: { spec, status } });
  if (problems.length > 0) throw new Error(`CRD ${def.kind} is incomplete:\n  ${problems.join('\n  ')}`);
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: {
      name: `${def.plural}.${API_GROUP}`,
      labels: { 'app.kubernetes.io/name': 'bulwark', 'app.kubernetes.io/part-of': 'bulwark' },
    },
    spec: {
      group: API_GROUP,
      scope: 'Namespaced',
      names: {
        kind: def.kind,
        listKind: `${def.kind}List`,
        plural: def.plural,
        singular: def.singular,
        shortNames: def.shortNames,
        categories: ['bulwark'],
      },
      versions: [
        {
          name: API_VERSION,
          served: true,
          storage: true,
          subresources: { status: {} },
          additionalPrinterColumns: def.columns,
          schema: { openAPIV3Schema: root },
        },
      ],
    },
  };
}

export function buildAllCrds(): { fileName: string; crd: Record<string, unknown> }[] {
  return KINDS.map((def) => ({ fileName: `${API_GROUP}_${def.plural}.yaml`, crd: buildCrd(def) }));
}
