// Broker configuration: a YAML file, then environment variables, then command-line flags, each
// overriding the one before; validated once at start-up with zod, every error naming its key.
//
// Environment variables are BULWARK_ followed by the key path in upper snake case:
// BULWARK_DATA_DIR, BULWARK_KAFKA_PORT, BULWARK_TOPICS_AUTO_CREATE, BULWARK_LOG_RETENTION_MS.
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { z } from 'zod';
import { BulwarkError } from '../lib/errors.ts';

const port = z.number().int().min(0).max(65535);
const host = z.string().min(1).max(253);

export const brokerConfigSchema = z.strictObject({
  brokerId: z.number().int().min(0).max(2 ** 31 - 1).default(0),
  clusterId: z.string().min(1).max(64).default('bulwark-standalone'),
  dataDir: z.string().min(1).default('./data'),
  kafka: z
    .strictObject({
      host: host.default('127.0.0.1'),
      port: port.default(9092),
      /** The host clients are told to connect to; defaults to host. */
      advertisedHost: host.optional(),
      advertisedPort: port.optional(),
    })
    .prefault({}),
  http: z.strictObject({ host: host.default('127.0.0.1'), port: port.default(8080), enabled: z.boolean().default(true) }).prefault({}),
  topics: z
    .strictObject({
      autoCreate: z.boolean().default(false),
      defaultPartitions: z.number().int().min(1).max(10_000).default(1),
    })
    .prefault({}),
  log: z
    .strictObject({
      segmentBytes: z.number().int().min(1024).max(0x7fff_ffff).default(1 << 30),
      segmentMs: z.number().int().min(1).default(7 * 24 * 3600_000),
      retentionMs: z.number().int().min(1).nullable().default(7 * 24 * 3600_000),
      retentionBytes: z.number().int().min(1).nullable().default(null),
      retentionCheckIntervalMs: z.number().int().min(100).default(300_000),
      flush: z
        .discriminatedUnion('mode', [
          z.strictObject({ mode: z.literal('batch') }),
          z.strictObject({ mode: z.literal('messages'), messages: z.number().int().min(1) }),
          z.strictObject({ mode: z.literal('interval'), ms: z.number().int().min(1) }),
        ])
        .default({ mode: 'interval', ms: 1000 }),
    })
    .prefault({}),
  limits: z
    .strictObject({
      maxRequestBytes: z.number().int().min(1024).max(1 << 30).default(100 << 20),
      maxMessageBytes: z.number().int().min(128).max(1 << 30).default(8 << 20),
      maxConnections: z.number().int().min(1).max(1_000_000).default(10_000),
      maxFetchWaitMs: z.number().int().min(0).max(300_000).default(30_000),
    })
    .prefault({}),
  groups: z
    .strictObject({
      initialRebalanceDelayMs: z.number().int().min(0).max(300_000).default(3000),
      minSessionTimeoutMs: z.number().int().min(1).default(6000),
      maxSessionTimeoutMs: z.number().int().min(1).default(1_800_000),
    })
    .prefault({}),
});

export type BrokerConfig = z.infer<typeof brokerConfigSchema>;
export type BrokerConfigInput = z.input<typeof brokerConfigSchema>;

/** Every key path of the schema with its leaf schema, for environment variable mapping. */
function leafPaths(schema: z.ZodType, prefix: string[] = []): { path: string[]; leaf: z.ZodType }[] {
  let s: z.ZodType = schema;
  // Unwrap defaults, prefaults, optionals and nullables to find objects.
  for (;;) {
    const def = (s as unknown as { _zod: { def: { type: string; innerType?: z.ZodType } } })._zod.def;
    if (def.innerType && ['default', 'prefault', 'optional', 'nullable'].includes(def.type)) s = def.innerType;
    else break;
  }
  const def = (s as unknown as { _zod: { def: { type: string; shape?: Record<string, z.ZodType> } } })._zod.def;
  if (def.type === 'object' && def.shape) return Object.entries(def.shape).flatMap(([k, v]) => leafPaths(v, [...prefix, k]));
  return [{ path: prefix, leaf: schema }];
}

const envName = (path: string[]) => `BULWARK_${path.map((p) => p.replace(/([a-z])([A-Z])/g, '$1_$2').toUpperCase()).join('_')}`;

function setPath(target: Record<string, unknown>, path: string[], value: unknown): void {
  let node = target;
  for (const key of path.slice(0, -1)) {
    if (typeof node[key] !== 'object' || node[key] === null) node[key] = {};
    node = node[key] as Record<string, unknown>;
  }
  node[path.at(-1)!] = value;
}

/** Environment values are text; numbers, booleans, null and JSON objects are parsed. */
function parseEnvValue(text: string): unknown {
  if (/^-?\d+(\.\d+)?$/.test(text)) return Number(text);
  if (text === 'true' || text === 'false') return text === 'true';
  if (text === 'null') return null;
  if (text.startsWith('{')) {
    try {
      return JSON.parse(text);
    } catch {
      return text;
    }
  }
  return text;
}

export interface ConfigSources {
  file?: string;
  env?: NodeJS.ProcessEnv;
  /** Already-structured overrides from flags, e.g. { kafka: { port: 9093 } }. */
  overrides?: BrokerConfigInput;
}

export function loadBrokerConfig(sources: ConfigSources = {}): BrokerConfig {
  let raw: Record<string, unknown> = {};
  if (sources.file) {
    let text: string;
    try {
      text = readFileSync(sources.file, 'utf8');
    } catch (err) {
      throw new BulwarkError('BWK_ERR_CONFIG_INVALID', { detail: `cannot read ${sources.file}: ${(err as NodeJS.ErrnoException).code}` });
    }
    try {
      raw = (parse(text) ?? {}) as Record<string, unknown>;
    } catch (err) {
      throw new BulwarkError('BWK_ERR_CONFIG_INVALID', { detail: `${sources.file} is not valid YAML: ${(err as Error).message.split('\n')[0]}` });
    }
    if (typeof raw !== 'object' || Array.isArray(raw)) throw new BulwarkError('BWK_ERR_CONFIG_INVALID', { detail: `${sources.file} must hold a mapping of keys` });
  }
  const env = sources.env ?? {};
  for (const { path } of leafPaths(brokerConfigSchema)) {
    const value = env[envName(path)];
    if (value !== undefined) setPath(raw, path, parseEnvValue(value));
  }
  const merged = deepMerge(raw, (sources.overrides ?? {}) as Record<string, unknown>);
  const result = brokerConfigSchema.safeParse(merged);
  if (!result.success) {
    const detail = result.error.issues
      .map((i) => {
        const key = i.path.join('.') || '<root>';
        const hint = i.path.length > 0 ? ` (env ${envName(i.path.map(String))})` : '';
        return i.code === 'unrecognized_keys' ? `unknown key ${[...i.path, ...i.keys].join('.')}` : `${key}: ${i.message}${hint}`;
      })
      .join('; ');
    throw new BulwarkError('BWK_ERR_CONFIG_INVALID', { detail });
  }
  return result.data;
}

function deepMerge(base: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) {
    if (v === undefined) continue;
    out[k] = v && typeof v === 'object' && !Array.isArray(v) && out[k] && typeof out[k] === 'object' ? deepMerge(out[k] as Record<string, unknown>, v as Record<string, unknown>) : v;
  }
  return out;
}
