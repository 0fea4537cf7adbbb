// Broker configuration: a YAML file, then environment variables, then command-line flags, each
// overriding the one before; validated once at start-up with zod, every error naming its key.
//
// Environment variables are BULWARK_ followed by the key path in upper snake case:
// BULWARK_DATA_DIR, BULWARK_KAFKA_PORT, BULWARK_TOPICS_AUTO_CREATE, BULWARK_LOG_RETENTION_MS.
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { z } from 'zod';
import { BulwarkError } from '../lib/index.ts';

const port = z.number().int().min(0).max(65535);
const host = z.string().min(1).max(253);

/** Kafka SASL mechanisms and connection-level identities a listener accepts. */
export const KAFKA_MECHANISMS = ['scram-sha-256', 'scram-sha-512', 'plain', 'mtls', 'anonymous'] as const;
/** How HTTP clients authenticate: password login (returns a JWT), bearer (access token or that JWT), certificates, or none. */
export const HTTP_MECHANISMS = ['password', 'bearer', 'mtls', 'anonymous'] as const;
export type KafkaMechanism = (typeof KAFKA_MECHANISMS)[number];
export type HttpMechanism = (typeof HTTP_MECHANISMS)[number];

const tlsConfig = z.strictObject({
  certFile: z.string().min(1),
  keyFile: z.string().min(1),
  /** CA bundle for client certificates; needed when clientAuth is optional or required. */
  caFile: z.string().min(1).optional(),
  clientAuth: z.enum(['none', 'optional', 'required']).default('none'),
  minVersion: z.enum(['TLSv1.2', 'TLSv1.3']).default('TLSv1.2'),
});
export type ListenerTls = z.infer<typeof tlsConfig>;
const cidrs = z.array(z.string().min(1).max(43)).max(1024).optional();

const kafkaListenerFields = {
  host: host.default('127.0.0.1'),
  port: port.default(9092),
  /** The host clients are told to connect to; defaults to host. */
  advertisedHost: host.optional(),
  advertisedPort: port.optional(),
  tls: tlsConfig.optional(),
  authentication: z.array(z.enum(KAFKA_MECHANISMS)).min(1).max(5).default(['scram-sha-256', 'scram-sha-512']),
  /** Only clients from these addresses or CIDR blocks may connect; left out, any. */
  allowedCidrs: cidrs,
};
const kafkaListener = z.strictObject({ name: z.string().regex(/^[a-z0-9-]{1,32}$/), ...kafkaListenerFields });
export type KafkaListenerConfig = z.infer<typeof kafkaListener>;

export const brokerConfigSchema = z.strictObject({
  brokerId: z.number().int().min(0).max(2 ** 31 - 1).default(0),
  clusterId: z.string().min(1).max(64).default('bulwark-standalone'),
  dataDir: z.string().min(1).default('./data'),
  /** The first Kafka listener (named "kafka"); `listeners` adds more. */
  kafka: z.strictObject(kafkaListenerFields).prefault({}),
  listeners: z.array(kafkaListener).max(8).default([]),
  http: z
    .strictObject({
      host: host.default('127.0.0.1'),
      port: port.default(8080),
      enabled: z.boolean().default(true),
      tls: tlsConfig.optional(),
      authentication: z.array(z.enum(HTTP_MECHANISMS)).min(1).max(4).default(['bearer']),
      allowedCidrs: cidrs,
    })
    .prefault({}),
  /** The internal listener: HTTPS with client certificates, for policy pushes from the operator. */
  internal: z
    .strictObject({
      enabled: z.boolean().default(false),
      host: host.default('127.0.0.1'),
      port: port.default(9094),
      tls: tlsConfig.optional(),
      /** Certificate identities (CN, or per certificatePrincipal) allowed to push policy. */
      clients: z.array(z.string().min(1).max(253)).min(1).max(16).default(['bulwark-operator']),
    })
    .prefault({}),
  policy: z
    .strictObject({
      /** A directory of CR YAML compiled into the policy and reloaded when files change. */
      dir: z.string().min(1).optional(),
      reloadDebounceMs: z.number().int().min(0).max(60_000).default(100),
    })
    .prefault({}),
  auth: z
    .strictObject({
      /** Standalone brokers have a root super user (password from BULWARK_ROOT_PASSWORD, or generated and printed once). */
      rootUser: z.boolean().default(true),
      jwt: z
        .strictObject({
          issuer: z.string().min(1).max(253).default('bulwark'),
          audience: z.string().min(1).max(253).default('bulwark-http'),
          ttlSeconds: z.number().int().min(30).max(86_400).default(900),
          clockToleranceSeconds: z.number().int().min(0).max(300).default(30),
        })
        .prefault({}),
      argon2: z.strictObject({ maxConcurrent: z.number().int().min(1).max(64).default(2), maxQueued: z.number().int().min(0).max(100_000).default(64) }).prefault({}),
      /** A Kafka connection that has not authenticated by then is closed. */
      authenticationTimeoutMs: z.number().int().min(100).max(300_000).default(10_000),
      /** How often sessions are checked for expired tokens (policy changes are checked at once). */
      sessionCheckIntervalMs: z.number().int().min(50).max(60_000).default(250),
    })
    .prefault({}),
  audit: z
    .strictObject({
      /** JSON lines appended to this file; null for none. */
      file: z.string().min(1).nullable().default(null),
      /** Also write audit events to the internal topic __audit. */
      topic: z.boolean().default(false),
      /** Log allowed requests too, not only denials. */
      logAllowed: z.boolean().default(false),
    })
    .prefault({}),
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
      maxConnectionsPerIp: z.number().int().min(1).max(1_000_000).default(1_000),
      /** Byte-rate limits per topic pattern (exact, prefix*, or *); the most specific wins. */
      topicRates: z
        .array(z.strictObject({ topic: z.string().min(1).max(250), produceBytesPerSecond: z.number().int().min(1).optional(), fetchBytesPerSecond: z.number().int().min(1).optional() }))
        .max(1024)
        .default([]),
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
  if (text.startsWith('{') || text.startsWith('[')) {
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
  const problems = listenerProblems(result.data);
  if (problems.length > 0) throw new BulwarkError('BWK_ERR_CONFIG_INVALID', { detail: problems.join('; ') });
  return result.data;
}

/** Rules across keys: mechanisms that send a password need TLS, certificates need a CA. */
function listenerProblems(c: BrokerConfig): string[] {
  const out: string[] = [];
  const check = (key: string, tls: ListenerTls | undefined, mechanisms: readonly string[], passwordMechanism: string) => {
    if (mechanisms.includes(passwordMechanism) && !tls) out.push(`${key}.authentication: ${passwordMechanism} sends the password itself and needs TLS on this listener (set ${key}.tls)`);
    if (mechanisms.includes('mtls') && (!tls || tls.clientAuth === 'none' || !tls.caFile)) out.push(`${key}.authentication: mtls needs ${key}.tls with clientAuth optional or required and a caFile`);
    if (tls && tls.clientAuth !== 'none' && !tls.caFile) out.push(`${key}.tls.caFile: clientAuth ${tls.clientAuth} needs the CA that signs client certificates`);
  };
  check('kafka', c.kafka.tls, c.kafka.authentication, 'plain');
  c.listeners.forEach((l, i) => check(`listeners.${i}`, l.tls, l.authentication, 'plain'));
  const names = new Set(['kafka']);
  c.listeners.forEach((l, i) => {
    if (names.has(l.name)) out.push(`listeners.${i}.name: ${l.name} is used twice`);
    names.add(l.name);
  });
  if (c.http.enabled) check('http', c.http.tls, c.http.authentication, 'password');
  if (c.internal.enabled && (!c.internal.tls || c.internal.tls.clientAuth !== 'required' || !c.internal.tls.caFile)) {
    out.push('internal.tls: the internal listener needs TLS with clientAuth required and a caFile (the operator authenticates with its certificate)');
  }
  return out;
}

function deepMerge(base: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) {
    if (v === undefined) continue;
    out[k] = v && typeof v === 'object' && !Array.isArray(v) && out[k] && typeof out[k] === 'object' ? deepMerge(out[k] as Record<string, unknown>, v as Record<string, unknown>) : v;
  }
  return out;
}
