// Broker configuration: a YAML file, then environment variables, then command-line flags, each
// overriding the one before; validated once at start-up with zod, every error naming its key.
//
// Environment variables are BULWARK_ followed by the key path in upper snake case:
// BULWARK_DATA_DIR, BULWARK_KAFKA_PORT, BULWARK_TOPICS_AUTO_CREATE, BULWARK_LOG_RETENTION_MS.
//
// With a BrokerCluster (local mode: `--policy-dir` holds one), its rendering (render.ts) is the
// layer under all three, and it owns the keys it renders (CLUSTER_OWNED_KEYS): a file, variable
// or flag that sets one of those is refused, naming the key. Only where the listeners bind
// (host, port, advertised address) may still be overridden.
//
// The words for TLS versions and mechanisms are the CRD's (src/api/broker-cluster.ts).
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { z } from 'zod';
import { DEFAULT_OAUTH_BEARER_ALGORITHMS, HTTP_MECHANISMS, KAFKA_MECHANISMS, OAUTH_BEARER_ALGORITHMS, TLS_CLIENT_AUTH, TLS_VERSIONS } from '../api/index.ts';
import { BulwarkError, parseCidr } from '../lib/index.ts';

/** Where data lives when nothing says otherwise. */
const DEFAULT_DATA_DIR = './data';
const port = z.number().int().min(0).max(65535);
const host = z.string().min(1).max(253);


const tlsConfig = z.strictObject({
  certFile: z.string().min(1),
  keyFile: z.string().min(1),
  /** CA bundle for client certificates; needed when clientAuth is optional or required. */
  caFile: z.string().min(1).optional(),
  clientAuth: z.enum(TLS_CLIENT_AUTH).default('none'),
  minVersion: z.enum(TLS_VERSIONS).default('TLSv1.2'),
});
export type ListenerTls = z.infer<typeof tlsConfig>;
/** Parsed here, at start-up, so that `10.0.0.0/33` is refused by name instead of matching nobody. */
const cidrs = z
  .array(z.string().min(1).max(43).refine((text) => parseCidr(text) !== undefined, { message: 'not an IP address or CIDR block (such as 10.0.0.0/8 or 2001:db8::/32)' }))
  .max(1024)
  .optional();

const syslogFields = {
  /** The names of src/audit/syslog-sink.ts SYSLOG_FACILITIES (config may not import audit; the broker's wiring type-checks them). */
  facility: z.enum(['kern', 'user', 'mail', 'daemon', 'auth', 'syslog', 'lpr', 'news', 'uucp', 'cron', 'authpriv', 'ftp', 'local0', 'local1', 'local2', 'local3', 'local4', 'local5', 'local6', 'local7']).default('authpriv'),
  /** RFC 5424 APP-NAME: printable ASCII, no spaces, at most 48 characters. */
  appName: z.string().regex(/^[\x21-\x7e]{1,48}$/, 'an APP-NAME is 1-48 printable ASCII characters without spaces').default('bulwark'),
  /** RFC 5424 HOSTNAME; left out, the machine's host name. */
  hostname: z.string().regex(/^[\x21-\x7e]{1,255}$/, 'a HOSTNAME is 1-255 printable ASCII characters without spaces').optional(),
  /** Most events waiting for the receiver; past that, new events are dropped and counted. */
  maxQueuedEvents: z.number().int().min(1).max(1_000_000).default(10_000),
};

const kafkaListenerFields = {
  host: host.default('127.0.0.1'),
  port: port.default(9092),
  /** The host clients are told to connect to; defaults to host. */
  advertisedHost: host.optional(),
  advertisedPort: port.optional(),
  tls: tlsConfig.optional(),
  /** [] lets no client authenticate (a BrokerCluster listener that lists none renders to that). */
  authentication: z.array(z.enum(KAFKA_MECHANISMS)).max(KAFKA_MECHANISMS.length).default(['scram-sha-256', 'scram-sha-512']),
  /** Only clients from these addresses or CIDR blocks may connect; left out, any. */
  allowedCidrs: cidrs,
};
const kafkaListener = z.strictObject({ name: z.string().regex(/^[a-z0-9-]{1,32}$/), ...kafkaListenerFields });
export type KafkaListenerConfig = z.infer<typeof kafkaListener>;

export const brokerConfigSchema = z.strictObject({
  brokerId: z.number().int().min(0).max(2 ** 31 - 1).default(0),
  clusterId: z.string().min(1).max(64).default('bulwark-standalone'),
  dataDir: z.string().min(1).default(DEFAULT_DATA_DIR),
  /** The first Kafka listener (named "kafka"); `listeners` adds more. */
  kafka: z.strictObject(kafkaListenerFields).prefault({}),
  listeners: z.array(kafkaListener).max(8).default([]),
  http: z
    .strictObject({
      host: host.default('127.0.0.1'),
      port: port.default(8080),
      enabled: z.boolean().default(true),
      tls: tlsConfig.optional(),
      /** [] by default: bearer and password send a secret and need tls, so a plaintext listener accepts none unless told (anonymous). */
      authentication: z.array(z.enum(HTTP_MECHANISMS)).max(HTTP_MECHANISMS.length).default([]),
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
  /**
   * The probe listener: plain HTTP without authentication for the kubelet, serving only GET
   * /healthz and GET /readyz. Left out, none (the HTTP listener's own /healthz and /readyz remain).
   */
  probes: z
    .strictObject({
      host: host.default('127.0.0.1'),
      port: port.default(9095),
    })
    .optional(),
  /**
   * The metrics listener: plain HTTP without authentication for Prometheus, serving only GET
   * /metrics. Its labels name topics, so it belongs on a port only the scraper can reach (the
   * operator's NetworkPolicy admits spec.networkPolicy.metricsPeers to it). Left out, none; the
   * HTTP listener's /metrics then needs describe on the cluster.
   */
  metrics: z
    .strictObject({
      host: host.default('127.0.0.1'),
      port: port.default(9096),
    })
    .optional(),
  /**
   * A file holding the server secret (at least 32 bytes, used as they are): the key behind fake
   * SCRAM salts for unknown users and the JWT signing key. Brokers of one cluster share it, so an
   * unknown user looks the same on each. Left out, each broker makes its own in <dataDir>/__auth/server.key.
   */
  serverSecretFile: z.string().min(1).optional(),
  /**
   * Encryption at rest (docs/security.md): every record batch is sealed with AES-256-GCM under
   * the key `activeKeyId` before it reaches the disk; the other keys in `keyDir` still decrypt
   * older batches. `keyDir` holds one file per key, named by its id, with 32 bytes base64-encoded
   * or raw (src/log/encryption.ts). Read at start-up only: a new active key takes a restart.
   * Left out, batches are stored in the clear, and a data directory holding sealed batches is refused.
   */
  encryption: z
    .strictObject({
      keyDir: z.string().min(1),
      activeKeyId: z.string().regex(/^[-._a-zA-Z0-9]{1,64}$/, 'a key id is 1-64 characters of letters, digits, ".", "_" and "-" (the key file\'s name)'),
    })
    .optional(),
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
      /**
       * The longest a SASL login lasts before the client must re-authenticate on its connection
       * (KIP-368; Kafka's connections.max.reauth.ms). null: no limit but a token's expiry, which
       * always bounds the session. An expired session's next request other than SaslHandshake or
       * SaslAuthenticate closes the connection.
       */
      maxSessionLifetimeMs: z.number().int().min(1000).max(2 ** 31 - 1).nullable().default(null),
      /**
       * SASL OAUTHBEARER on the listeners that list `oauthbearer`: JWTs signed by a key of the
       * issuer's JWKS (fetched over https, trusting caFile when given), with this issuer and
       * audience; the claim usernameClaim names the policy user. Left out, none.
       */
      oauthBearer: z
        .strictObject({
          issuer: z.string().min(1).max(1024),
          audience: z.string().min(1).max(1024),
          jwksUrl: z.string().max(2048).refine((u) => URL.canParse(u) && new URL(u).protocol === 'https:', { message: 'must be an https URL' }),
          usernameClaim: z.string().min(1).max(64).default('sub'),
          algorithms: z.array(z.enum(OAUTH_BEARER_ALGORITHMS)).min(1).max(OAUTH_BEARER_ALGORITHMS.length).default([...DEFAULT_OAUTH_BEARER_ALGORITHMS]),
          clockToleranceSeconds: z.number().int().min(0).max(300).default(30),
          caFile: z.string().min(1).optional(),
        })
        .optional(),
    })
    .prefault({}),
  audit: z
    .strictObject({
      /** JSON lines appended to this file; null for none. */
      file: z.string().min(1).nullable().default(null),
      /** Also write audit events to the internal topic __audit. */
      topic: z.boolean().default(false),
      /**
       * Also send audit events to a syslog receiver, one RFC 5424 message each (src/audit/syslog-sink.ts).
       * With no file, topic or syslog sink, events go to the broker's own log instead.
       */
      syslog: z
        .discriminatedUnion('transport', [
          z.strictObject({ transport: z.enum(['udp', 'tcp']), ...syslogFields, host: host.default('127.0.0.1'), port: port.min(1).default(514) }),
          z.strictObject({ transport: z.literal('unix'), ...syslogFields, path: z.string().min(1).max(107) }),
        ])
        .nullable()
        .default(null),
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
      /**
       * A Kafka connection with no byte read or written for this long, and no request in flight,
       * is closed (Kafka's connections.max.idle.ms, same default: 10 minutes). null: never.
       */
      connectionsMaxIdleMs: z.number().int().min(100).max(2 ** 31 - 1).nullable().default(600_000),
      /**
       * Limits on one record, checked on Produce (src/broker/limits/record-limits.ts): its key's
       * bytes, its number of headers, and each header's bytes (key and value). null: no limit.
       * With any set, batches compressed with snappy, lz4 or zstd are refused: the broker cannot read them.
       */
      maxRecordKeyBytes: z.number().int().min(0).max(1 << 30).nullable().default(null),
      maxRecordHeaders: z.number().int().min(0).max(1_000_000).nullable().default(null),
      maxRecordHeaderBytes: z.number().int().min(0).max(1 << 30).nullable().default(null),
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

/** Every Kafka listener of a configuration, named: `kafka`, then `listeners`. */
export function kafkaListenersOf(config: BrokerConfig): KafkaListenerConfig[] {
  return [{ name: 'kafka', ...config.kafka }, ...config.listeners];
}

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
  /** A BrokerCluster's rendering (render.ts `clusterConfigSource`): the bottom layer, owning its keys. */
  cluster?: ClusterConfigSource;
}

/** A config layer rendered from a BrokerCluster, and the keys it owns. */
export interface ClusterConfigSource {
  /** namespace/name of the BrokerCluster, for messages. */
  name: string;
  /** Dotted key paths nobody else may set, each with the BrokerCluster field it comes from. */
  owns: readonly { key: string; field: string }[];
  /** Renders the layer; gets the data directory the file, environment and flags chose (relative audit paths live under it). */
  render: (where: { dataDir: string }) => BrokerConfigInput;
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
  let merged = deepMerge(raw, (sources.overrides ?? {}) as Record<string, unknown>);
  if (sources.cluster) {
    const { cluster } = sources;
    const taken = setKeys(merged).flatMap((key) => {
      const owner = cluster.owns.find((o) => key === o.key || key.startsWith(`${o.key}.`) || o.key.startsWith(`${key}.`));
      return owner ? [`${key} is set by BrokerCluster ${cluster.name} (${owner.field}); remove it from the config file, the environment (${envName(key.split('.'))}) and the flags`] : [];
    });
    if (taken.length > 0) throw new BulwarkError('BWK_ERR_CONFIG_INVALID', { detail: taken.join('; ') });
    const dataDir = typeof merged.dataDir === 'string' && merged.dataDir !== '' ? merged.dataDir : DEFAULT_DATA_DIR;
    merged = deepMerge(cluster.render({ dataDir }) as Record<string, unknown>, merged);
  }
  return parseBrokerConfig(merged);
}

/** Validates a whole configuration (schema, then the rules across keys); every problem names its key. */
export function brokerConfigProblems(input: unknown): { ok: true; config: BrokerConfig } | { ok: false; problems: string[] } {
  const result = brokerConfigSchema.safeParse(input);
  if (!result.success) {
    const problems = result.error.issues.map((i) => {
      const key = i.path.join('.') || '<root>';
      const hint = i.path.length > 0 ? ` (env ${envName(i.path.map(String))})` : '';
      return i.code === 'unrecognized_keys' ? `unknown key ${[...i.path, ...i.keys].join('.')}` : `${key}: ${i.message}${hint}`;
    });
    return { ok: false, problems };
  }
  const problems = listenerProblems(result.data);
  return problems.length > 0 ? { ok: false, problems } : { ok: true, config: result.data };
}

/** brokerConfigProblems, throwing BWK_ERR_CONFIG_INVALID with every problem. */
export function parseBrokerConfig(input: unknown): BrokerConfig {
  const checked = brokerConfigProblems(input);
  if (!checked.ok) throw new BulwarkError('BWK_ERR_CONFIG_INVALID', { detail: checked.problems.join('; ') });
  return checked.config;
}

/** The dotted paths a partial configuration sets (a list is one value). */
function setKeys(value: Record<string, unknown>, prefix = ''): string[] {
  return Object.entries(value).flatMap(([k, v]) => {
    if (v === undefined) return [];
    const key = prefix ? `${prefix}.${k}` : k;
    return v && typeof v === 'object' && !Array.isArray(v) && Object.keys(v).length > 0 ? setKeys(v as Record<string, unknown>, key) : [key];
  });
}

/** Rules across keys: mechanisms that send a password or a token need TLS, certificates need a CA. */
function listenerProblems(c: BrokerConfig): string[] {
  const out: string[] = [];
  const check = (key: string, tls: ListenerTls | undefined, mechanisms: readonly string[], passwordMechanism: string) => {
    if (mechanisms.includes('oauthbearer') && !tls) out.push(`${key}.authentication: oauthbearer sends a bearer token and needs TLS on this listener (set ${key}.tls)`);
    if (mechanisms.includes('oauthbearer') && !c.auth.oauthBearer) out.push(`${key}.authentication: oauthbearer needs auth.oauthBearer (issuer, audience, jwksUrl)`);
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
  if (c.http.enabled) {
    check('http', c.http.tls, c.http.authentication, 'password');
    // A bearer token (access token or session JWT) is a credential as replayable as a password.
    if (c.http.authentication.includes('bearer') && !c.http.tls) out.push('http.authentication: bearer sends the token itself (an access token or session JWT) and needs TLS on this listener (set http.tls)');
  }
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
