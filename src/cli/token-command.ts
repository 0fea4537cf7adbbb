// `bulwark token create|list|revoke`: AccessTokens from the command line, for people who prefer a
// command to a YAML file (Iggy's `pat create NAME 7d`, Rivven's `auth token create --ttl 365d`).
//
// One command, two places a token lives:
// - Kubernetes (the default): AccessToken resources through the API server, written as field
//   manager `bulwark-cli`. The operator generates the token into Secret
//   `spec.secretName ?? <name>-token` (key `token`, owned by the AccessToken); `create` waits for
//   that Secret and prints the token once. `revoke` deletes the AccessToken; the Secret goes with
//   it (garbage collection of its controller ownerReference) and the brokers drop the token.
// - Local mode (`--policy-dir DIR`): the command does the operator's job. `create` generates the
//   token and writes the AccessToken and its Secret to DIR/token-<name>.yaml (mode 0600; a
//   temporary file linked into place, so the broker's watcher never reads half a file and an
//   existing file is never replaced), which `bulwark broker --policy-dir DIR` reloads; `revoke`
//   removes the file that holds the token, and refuses when the token shares a file with other
//   documents.
//
// The token is printed alone on stdout (`T=$(bulwark token create …)` captures it); everything
// else goes to stderr. No message carries a token: errors and notes name resources only.
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, fsyncSync, linkSync, openSync, readFileSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { homedir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { KubeConfig } from '@kubernetes/client-node';
import { parseAllDocuments, stringify } from 'yaml';
import { API_GROUP_VERSION, DURATION, parseResource, type AccessToken, type BulwarkResource } from '../api/index.ts';
import { BulwarkError, isBulwarkError } from '../lib/index.ts';
import { KINDS, KubeApiError, KubeClient, kindPath, type KindRef, type KubeRequest } from '../operator/index.ts';
import { compilePolicy, generateToken, ISSUED_AT_ANNOTATION, parseDurationMs, readPolicyDirectory, tokenHash, TOKEN_FORMAT, TOKEN_SECRET_KEY, TOKEN_USERNAME, type PolicyDirectory, type TokenCredential } from '../policy/index.ts';
import type { Output } from './policy-commands.ts';

/** The Secret key and annotation of the token contract (src/policy/directory.ts). */
const TOKEN_KEY = TOKEN_SECRET_KEY;
const ISSUED_AT = ISSUED_AT_ANNOTATION;
/** The field manager the command writes as (the operator's is bulwark-operator). */
export const CLI_FIELD_MANAGER = 'bulwark-cli';
const MANAGED_BY = { 'app.kubernetes.io/managed-by': CLI_FIELD_MANAGER };
const DEFAULT_WAIT = '60s';
const POLL_MS = 250;
/** How often a wait that sees no change says it is still waiting. */
const PROGRESS_EVERY_MS = 10_000;
/** Tries of a request the API server answers 429 (about 10 s in all). */
const RETRIES_ON_429 = 8;

export const TOKEN_USAGE = `usage: bulwark token create NAME --user USER [--cluster CLUSTER] [-n NAMESPACE] [--lifetime 720h | --expires-at RFC3339]
                            [--role ROLE]... [--description TEXT] [--secret-name NAME] [--wait 60s] [--kubeconfig FILE] [--context NAME]
       bulwark token list [-n NAMESPACE | -A] [--cluster CLUSTER] [--user USER] [-o table|json] [--kubeconfig FILE] [--context NAME]
       bulwark token revoke NAME [-n NAMESPACE] [--kubeconfig FILE] [--context NAME]
       (each also with --policy-dir DIR instead of the Kubernetes flags: local mode)`;

const TOKEN_HELP = `${TOKEN_USAGE}

Access tokens for applications. On Kubernetes the command works on AccessToken resources
through the API server (kubeconfig: --kubeconfig, else KUBECONFIG, else ~/.kube/config); the
operator generates each token into a Secret. With --policy-dir DIR (local mode: \`bulwark broker
--policy-dir DIR\`, \`bulwark dev\`) it writes the AccessToken and its Secret into DIR itself.

create   prints the token once, alone on stdout (T=$(bulwark token create …)); details on stderr.
         Refuses a name that exists. Without --lifetime or --expires-at the token never expires.
  --user USER          the User the token acts for (required)
  --cluster CLUSTER    the BrokerCluster (default: the only one in the namespace)
  -n, --namespace NS   default: the kubeconfig context's namespace, else default (local: the cluster's)
  --lifetime D         valid for this long after creation: 720h, 90m, or days as 30d
  --expires-at T       valid until this RFC 3339 time
  --role ROLE          narrow the token to these Roles (repeatable)
  --description TEXT   what the token is for
  --secret-name NAME   the Secret that holds the token (default NAME-token)
  --wait D             how long to wait for the operator to write the Secret (default ${DEFAULT_WAIT})
list     NAME, USER, CLUSTER, EXPIRES, STATUS of each token (never the token); -o json for JSON;
         -A, --all-namespaces lists every namespace.
revoke   deletes the AccessToken: the brokers refuse the token and close its connections.

Exit codes: 0 done, 2 refused (usage, not found, exists, forbidden, no API server, timeout).`;

export interface TokenCommandHost {
  env: NodeJS.ProcessEnv;
  now(): number;
  home(): string;
}

export const processHost: TokenCommandHost = { env: process.env, now: () => Date.now(), home: () => homedir() };

const usage = (detail: string) => new BulwarkError('BWK_ERR_CLI_USAGE', { detail: `${detail}\n${TOKEN_USAGE}` });

const TARGET_OPTIONS = {
  namespace: { type: 'string', short: 'n' },
  'policy-dir': { type: 'string' },
  kubeconfig: { type: 'string' },
  context: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;
const CREATE_OPTIONS = {
  ...TARGET_OPTIONS,
  user: { type: 'string' },
  cluster: { type: 'string' },
  lifetime: { type: 'string' },
  'expires-at': { type: 'string' },
  role: { type: 'string', multiple: true },
  description: { type: 'string' },
  'secret-name': { type: 'string' },
  wait: { type: 'string' },
} as const;
const LIST_OPTIONS = {
  ...TARGET_OPTIONS,
  'all-namespaces': { type: 'boolean', short: 'A' },
  cluster: { type: 'string' },
  user: { type: 'string' },
  output: { type: 'string', short: 'o' },
} as const;

type Target = { mode: 'local'; dir: string } | { mode: 'kube'; kubeconfig?: string; context?: string };

function targetOf(values: { 'policy-dir'?: string; kubeconfig?: string; context?: string; wait?: string }): Target {
  if (values['policy-dir'] === undefined) return { mode: 'kube', ...(values.kubeconfig !== undefined ? { kubeconfig: values.kubeconfig } : {}), ...(values.context !== undefined ? { context: values.context } : {}) };
  for (const flag of ['kubeconfig', 'context', 'wait'] as const) {
    if (values[flag] !== undefined) throw usage(`--${flag} is for Kubernetes mode and --policy-dir for local mode: give one or the other`);
  }
  return { mode: 'local', dir: values['policy-dir'] };
}

export async function tokenCommand(argv: string[], io: Output, host: TokenCommandHost = processHost): Promise<number> {
  const [sub, ...rest] = argv;
  switch (sub) {
    case 'create':
      return create(rest, io, host);
    case 'list':
    case 'ls':
      return list(rest, io, host);
    case 'revoke':
    case 'delete':
      return revoke(rest, io, host);
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      io.out(TOKEN_HELP);
      return 0;
    default:
      throw usage(`unknown token command ${JSON.stringify(sub)}: expected create, list or revoke`);
  }
}

// --- The AccessToken a create asks for: pure ------------------------------------------------

export interface CreateRequest {
  name: string;
  namespace: string;
  cluster: string;
  user: string;
  lifetime?: string;
  expiresAt?: string;
  roles: string[];
  description?: string;
  secretName?: string;
}

/** `720h`, `90m`, `1h30m` (Go durations, as the CRD takes them) or whole days, `30d` → `720h`. */
export function normalizeLifetime(text: string): string {
  const days = /^([0-9]{1,6})d$/.exec(text);
  const go = days ? `${Number(days[1]) * 24}h` : text;
  if (!DURATION.test(go) || parseDurationMs(go) <= 0) throw usage(`--lifetime: ${JSON.stringify(text)} is not a duration such as 720h, 90m or 30d`);
  return go;
}

/** An RFC 3339 time in the future, as UTC with a Z (what the CRD's date-time takes). */
export function normalizeExpiresAt(text: string, now: number): string {
  const ms = Date.parse(text);
  if (!/^\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d(\.\d+)?)?(Z|[+-]\d\d:\d\d)$/i.test(text) || Number.isNaN(ms)) throw usage(`--expires-at: ${JSON.stringify(text)} is not an RFC 3339 time such as 2027-01-31T00:00:00Z`);
  if (ms <= now) throw usage(`--expires-at: ${text} is in the past`);
  return rfc3339(ms);
}

/** The AccessToken document, checked with the parser the policy directory and `policy check` use (schema and CEL rules). */
export function accessTokenDocument(r: CreateRequest): AccessToken & { metadata: { labels: Record<string, string> } } {
  const doc = {
    apiVersion: API_GROUP_VERSION as typeof API_GROUP_VERSION,
    kind: 'AccessToken' as const,
    metadata: { name: r.name, namespace: r.namespace, labels: { ...MANAGED_BY } },
    spec: {
      clusterRef: { name: r.cluster },
      userRef: { name: r.user },
      ...(r.expiresAt !== undefined ? { expiresAt: r.expiresAt } : {}),
      ...(r.lifetime !== undefined ? { lifetime: r.lifetime } : {}),
      ...(r.roles.length > 0 ? { roles: r.roles } : {}),
      ...(r.secretName !== undefined ? { secretName: r.secretName } : {}),
      ...(r.description !== undefined ? { description: r.description } : {}),
    },
  };
  const parsed = parseResource(doc);
  if (!parsed.ok) throw new BulwarkError('BWK_ERR_TOKEN_SPEC_INVALID', { token: `${r.namespace}/${r.name}`, detail: parsed.errors.map((e) => `${e.path}: ${e.message}`).join('; ') });
  return doc;
}

/** RFC 3339 in UTC, whole seconds as `2027-01-31T00:00:00Z` when there are no milliseconds. */
const rfc3339 = (ms: number) => new Date(ms).toISOString().replace(/\.000Z$/, 'Z');
/** A file as the directory reader names it (relative to the working directory), absolute when that relative path climbs out. */
const shownPath = (file: string) => (file.startsWith('..') ? resolve(process.cwd(), file) : file);

const secretNameOf = (t: { metadata: { name: string }; spec: { secretName?: string | undefined } }) => t.spec.secretName ?? `${t.metadata.name}-token`;

function createRequestFrom(argv: string[], host: TokenCommandHost) {
  const { values, positionals } = parseArgs({ args: argv, allowPositionals: true, options: CREATE_OPTIONS });
  if (values.help) return { help: true as const };
  const target = targetOf(values);
  const [name, extra] = positionals;
  if (name === undefined) throw usage('token create needs a NAME');
  if (extra !== undefined) throw usage(`unexpected argument ${JSON.stringify(extra)}`);
  if (values.user === undefined) throw usage('token create needs --user USER: the User the token acts for');
  if (values.lifetime !== undefined && values['expires-at'] !== undefined) throw usage('--lifetime and --expires-at are mutually exclusive');
  const waitMs = parseDurationMs(normalizeLifetime(values.wait ?? DEFAULT_WAIT));
  return {
    help: false as const,
    target,
    waitMs,
    wait: values.wait ?? DEFAULT_WAIT,
    namespace: values.namespace,
    cluster: values.cluster,
    request: {
      name,
      user: values.user,
      roles: values.role ?? [],
      ...(values.lifetime !== undefined ? { lifetime: normalizeLifetime(values.lifetime) } : {}),
      ...(values['expires-at'] !== undefined ? { expiresAt: normalizeExpiresAt(values['expires-at'], host.now()) } : {}),
      ...(values.description !== undefined ? { description: values.description } : {}),
      ...(values['secret-name'] !== undefined ? { secretName: values['secret-name'] } : {}),
    },
  };
}

async function create(argv: string[], io: Output, host: TokenCommandHost): Promise<number> {
  const parsed = createRequestFrom(argv, host);
  if (parsed.help) {
    io.out(TOKEN_HELP);
    return 0;
  }
  return parsed.target.mode === 'local' ? createLocal(parsed.target.dir, parsed, io, host) : createInKubernetes(parsed.target, parsed, io, host);
}

/** What to tell the person who just got a token (stderr), with the token itself left out. */
function usageNotes(io: Output, t: { namespace: string; name: string; user: string; cluster: string; expires: string; secret: string; roles: string[] }) {
  io.err(`AccessToken ${t.namespace}/${t.name}: user ${t.user}, cluster ${t.cluster}${t.roles.length > 0 ? `, narrowed to Role(s) ${t.roles.join(', ')}` : ''}`);
  io.err(`  expires: ${t.expires}`);
  io.err(`  secret:  ${t.secret}, key ${TOKEN_KEY}`);
  io.err(`  use it:  Kafka SASL PLAIN with username "${TOKEN_USERNAME}" and the token as password; HTTP with "Authorization: Bearer <token>"`);
  io.err('  The token is on stdout and is shown only now: keep it (T=$(bulwark token create …) captures it).');
}

function expiryText(spec: { expiresAt?: string | undefined; lifetime?: string | undefined }, issuedAt: string | undefined): string {
  if (spec.expiresAt) return spec.expiresAt;
  if (spec.lifetime) return issuedAt ? `${rfc3339(Date.parse(issuedAt) + parseDurationMs(spec.lifetime))} (${spec.lifetime} after issue)` : `${spec.lifetime} after issue`;
  return 'never (give --lifetime or --expires-at to limit it)';
}

// --- Listing: one row per AccessToken ---------------------------------------------------------

export interface TokenRow {
  namespace: string;
  name: string;
  user: string;
  cluster: string;
  /** RFC 3339; null: never expires; undefined: not known yet (a lifetime the operator has not started). */
  expiresAt: string | null | undefined;
  /** Ready, Expired, Reconciling, Pending, Revoking, or Stalled:<Reason>. */
  status: string;
  message?: string;
  secretName: string;
  roles: string[];
  description?: string;
  /** Local mode: the file that declares it. */
  file?: string;
}

export function formatTable(rows: readonly TokenRow[], withNamespace: boolean): string[] {
  const header = [...(withNamespace ? ['NAMESPACE'] : []), 'NAME', 'USER', 'CLUSTER', 'EXPIRES', 'STATUS'];
  const cells = rows.map((r) => [...(withNamespace ? [r.namespace] : []), r.name, r.user, r.cluster, r.expiresAt === null ? 'never' : (r.expiresAt ?? 'unknown'), r.status]);
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  return [header, ...cells].map((c) => c.map((v, i) => (i === c.length - 1 ? v : v.padEnd(widths[i]!))).join('  '));
}

async function list(argv: string[], io: Output, host: TokenCommandHost): Promise<number> {
  const { values, positionals } = parseArgs({ args: argv, allowPositionals: true, options: LIST_OPTIONS });
  if (values.help) {
    io.out(TOKEN_HELP);
    return 0;
  }
  if (positionals.length > 0) throw usage(`unexpected argument ${JSON.stringify(positionals[0])}`);
  const output = values.output ?? 'table';
  if (output !== 'table' && output !== 'json') throw usage(`-o: expected table or json (got ${JSON.stringify(output)})`);
  if (values['all-namespaces'] && values.namespace !== undefined) throw usage('-n and --all-namespaces are mutually exclusive');
  const target = targetOf(values);
  let rows: TokenRow[];
  let withNamespace: boolean;
  if (target.mode === 'local') {
    rows = await listLocal(target.dir, values.namespace, host);
    withNamespace = values.namespace === undefined && new Set(rows.map((r) => r.namespace)).size > 1;
  } else {
    const kube = connect(target, host);
    try {
      const namespace = values['all-namespaces'] ? undefined : (values.namespace ?? kube.namespace);
      rows = await listInKubernetes(kube, namespace, host);
    } finally {
      kube.client.close();
    }
    withNamespace = !!values['all-namespaces'];
  }
  rows = rows.filter((r) => (values.cluster === undefined || r.cluster === values.cluster) && (values.user === undefined || r.user === values.user));
  rows.sort((a, b) => (a.namespace === b.namespace ? (a.name < b.name ? -1 : 1) : a.namespace < b.namespace ? -1 : 1));
  if (output === 'json') io.out(JSON.stringify(rows, null, 2));
  else if (rows.length === 0) io.err('no access tokens');
  else for (const line of formatTable(rows, withNamespace)) io.out(line);
  return 0;
}

async function revoke(argv: string[], io: Output, host: TokenCommandHost): Promise<number> {
  const { values, positionals } = parseArgs({ args: argv, allowPositionals: true, options: TARGET_OPTIONS });
  if (values.help) {
    io.out(TOKEN_HELP);
    return 0;
  }
  const [name, extra] = positionals;
  if (name === undefined) throw usage('token revoke needs a NAME');
  if (extra !== undefined) throw usage(`unexpected argument ${JSON.stringify(extra)}`);
  const target = targetOf(values);
  return target.mode === 'local' ? revokeLocal(target.dir, name, values.namespace, io) : revokeInKubernetes(target, name, values.namespace, io, host);
}

// --- Local mode: the policy directory ---------------------------------------------------------

/** The cluster a new token in the directory is for: --cluster, or the one the directory (or namespace) declares. */
function localCluster(resources: readonly BulwarkResource[], dir: string, namespace: string | undefined, wanted: string | undefined): { namespace: string; name: string } {
  const pool = resources.filter((r) => namespace === undefined || r.metadata.namespace === namespace);
  const declared = pool.filter((r) => r.kind === 'BrokerCluster');
  const from = declared.length > 0 ? declared.map((c) => ({ namespace: c.metadata.namespace, name: c.metadata.name })) : pool.flatMap((r) => ('clusterRef' in r.spec ? [{ namespace: r.metadata.namespace, name: r.spec.clusterRef.name }] : []));
  const candidates = new Map(from.filter((c) => wanted === undefined || c.name === wanted).map((c) => [`${c.namespace}/${c.name}`, c]));
  if (candidates.size === 1) return [...candidates.values()][0]!;
  if (candidates.size === 0 && wanted !== undefined && namespace !== undefined) return { namespace, name: wanted };
  const where = namespace === undefined ? dir : `namespace ${namespace} of ${dir}`;
  if (candidates.size === 0) throw new BulwarkError('BWK_ERR_TOKEN_CLUSTER_UNKNOWN', { detail: `${where} has no BrokerCluster${wanted ? ` named ${wanted}` : ''}; give --cluster CLUSTER and -n NAMESPACE` });
  throw new BulwarkError('BWK_ERR_TOKEN_CLUSTER_UNKNOWN', { detail: `${where} has ${[...candidates.keys()].join(', ')}; choose one with --cluster (and -n)` });
}

/** The token credentials of a namespace's AccessTokens, read from the directory's Secrets as the directory loader reads them. */
function localTokenCredentials(directory: PolicyDirectory, namespace: string): Map<string, TokenCredential> {
  const out = new Map<string, TokenCredential>();
  for (const r of directory.resources) {
    if (r.kind !== 'AccessToken' || r.metadata.namespace !== namespace) continue;
    const secret = directory.secrets.get(`${namespace}/${secretNameOf(r)}`);
    const token = secret?.data.get(TOKEN_KEY);
    if (token === undefined || !TOKEN_FORMAT.test(token)) continue;
    const issuedAt = secret!.annotations[ISSUED_AT];
    out.set(r.metadata.name, { sha256: tokenHash(token), ...(issuedAt ? { issuedAt } : {}) });
  }
  return out;
}

/** Each token of the directory as the broker would take it: compiled per cluster, with the compiler's reasons. */
function localRows(directory: PolicyDirectory, now: number, only?: (t: AccessToken) => boolean): TokenRow[] {
  const tokens = directory.resources.filter((r): r is AccessToken => r.kind === 'AccessToken' && (only?.(r) ?? true));
  const rows: TokenRow[] = [];
  const groups = new Map<string, AccessToken[]>();
  for (const t of tokens) {
    const key = `${t.metadata.namespace}/${t.spec.clusterRef.name}`;
    groups.set(key, [...(groups.get(key) ?? []), t]);
  }
  for (const group of groups.values()) {
    const { namespace } = group[0]!.metadata;
    const cluster = { namespace, name: group[0]!.spec.clusterRef.name };
    const { snapshot, diagnostics } = compilePolicy({ cluster, resources: directory.resources, credentials: { tokens: localTokenCredentials(directory, namespace) } });
    for (const t of group) {
      const origin = directory.originOf('AccessToken', namespace, t.metadata.name);
      const problem = diagnostics.find((d) => d.severity === 'error' && d.resource === `AccessToken/${t.metadata.name}`);
      const compiled = snapshot.tokens.find((s) => s.id === t.metadata.name);
      const expiresAt = compiled ? compiled.expiresAt && rfc3339(Date.parse(compiled.expiresAt)) : (t.spec.expiresAt ?? (t.spec.lifetime ? undefined : null));
      const status = problem ? `Stalled:${problem.reason}` : expiresAt && Date.parse(expiresAt) <= now ? 'Expired' : 'Ready';
      rows.push({
        namespace,
        name: t.metadata.name,
        user: t.spec.userRef.name,
        cluster: cluster.name,
        expiresAt,
        status,
        ...(problem ? { message: problem.message } : {}),
        secretName: secretNameOf(t),
        roles: t.spec.roles ?? [],
        ...(t.spec.description !== undefined ? { description: t.spec.description } : {}),
        ...(origin ? { file: shownPath(origin.file) } : {}),
      });
    }
  }
  return rows;
}

async function listLocal(dir: string, namespace: string | undefined, host: TokenCommandHost): Promise<TokenRow[]> {
  const directory = await readPolicyDirectory(dir);
  return localRows(directory, host.now(), (t) => namespace === undefined || t.metadata.namespace === namespace);
}

/** The file a new local token goes to. */
export const localTokenFile = (dir: string, name: string) => join(dir, `token-${name}.yaml`);

/**
 * Writes a new file with its final content and mode from the start: a hidden temporary file
 * (not *.yaml, so the broker's watcher ignores it) is linked to the final name, which fails if
 * that name exists: an atomic rename that never replaces a file.
 */
function writeNewFile(path: string, text: string, token: string): void {
  const tmp = join(dirname(path), `.${basename(path)}.${randomBytes(4).toString('hex')}.tmp`);
  const fd = openSync(tmp, 'wx', 0o600);
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  try {
    try {
      linkSync(tmp, path);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EEXIST') throw new BulwarkError('BWK_ERR_TOKEN_EXISTS', { token, where: `file ${path} exists` });
      // A file system without hard links: the existence check and the rename are then two steps.
      if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP') throw err;
      if (existsSync(path)) throw new BulwarkError('BWK_ERR_TOKEN_EXISTS', { token, where: `file ${path} exists` });
      renameSync(tmp, path);
    }
  } finally {
    if (existsSync(tmp)) unlinkSync(tmp);
  }
  const dirFd = openSync(dirname(path), 'r');
  try {
    fsyncSync(dirFd);
  } finally {
    closeSync(dirFd);
  }
}

/** The YAML of a local token: the AccessToken and the Secret holding the token, read back through the directory's parser before anything is written. */
export function localTokenYaml(doc: AccessToken, token: string, issuedAt: string): string {
  const secret = {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: secretNameOf(doc), namespace: doc.metadata.namespace, labels: { ...MANAGED_BY }, annotations: { [ISSUED_AT]: issuedAt } },
    type: 'Opaque',
    stringData: { [TOKEN_KEY]: token },
  };
  const opts = { defaultStringType: 'QUOTE_DOUBLE', defaultKeyType: 'PLAIN' } as const;
  const text =
    `# Written by \`bulwark token create\`. The Secret holds the token: keep this file private.\n` +
    `# \`bulwark token revoke ${doc.metadata.name} -n ${doc.metadata.namespace} --policy-dir DIR\` removes this file, which revokes the token.\n` +
    [stringify(doc, opts), stringify(secret, opts)].join('---\n');
  // Read back as the directory reads it, so a file this writes always loads.
  const docs = parseAllDocuments(text);
  const back = (Array.isArray(docs) ? docs : [docs]).map((d) => d.toJS() as Record<string, unknown>);
  const parsed = parseResource(back[0]);
  const stored = (back[1]?.stringData as Record<string, unknown> | undefined)?.[TOKEN_KEY];
  if (!parsed.ok || back.length !== 2 || stored !== token) throw new Error('token create: the YAML written for the token does not read back');
  return text;
}

async function createLocal(dir: string, c: Extract<ReturnType<typeof createRequestFrom>, { help: false }>, io: Output, host: TokenCommandHost): Promise<number> {
  const directory = await readPolicyDirectory(dir);
  const cluster = localCluster(directory.resources, dir, c.namespace, c.cluster);
  const doc = accessTokenDocument({ ...c.request, namespace: cluster.namespace, cluster: cluster.name });
  const id = `${doc.metadata.namespace}/${doc.metadata.name}`;
  const origin = directory.originOf('AccessToken', doc.metadata.namespace, doc.metadata.name);
  if (origin) throw new BulwarkError('BWK_ERR_TOKEN_EXISTS', { token: id, where: `declared in ${shownPath(origin.file)}` });
  const secretName = secretNameOf(doc);
  if (directory.secrets.has(`${doc.metadata.namespace}/${secretName}`))
    throw new BulwarkError('BWK_ERR_TOKEN_SPEC_INVALID', { token: id, detail: `spec.secretName: the directory already has a Secret ${doc.metadata.namespace}/${secretName}; choose another --secret-name` });

  const token = generateToken();
  const issuedAt = rfc3339(Math.floor(host.now() / 1000) * 1000);
  const text = localTokenYaml(doc, token, issuedAt);
  // What the broker will say about it: a missing User or Role is worth knowing now.
  const resources = [...directory.resources, parseResourceOrThrow(doc)];
  const credentials = localTokenCredentials(directory, cluster.namespace).set(doc.metadata.name, { sha256: tokenHash(token), issuedAt });
  const { diagnostics } = compilePolicy({ cluster, resources, credentials: { tokens: credentials } });
  const file = localTokenFile(dir, doc.metadata.name);
  writeNewFile(file, text, id);
  io.out(token);
  usageNotes(io, { namespace: doc.metadata.namespace, name: doc.metadata.name, user: doc.spec.userRef.name, cluster: cluster.name, expires: expiryText(doc.spec, issuedAt), secret: `${doc.metadata.namespace}/${secretName} in ${file}`, roles: doc.spec.roles ?? [] });
  for (const d of diagnostics) if (d.resource === `AccessToken/${doc.metadata.name}`) io.err(`${d.severity}: the broker will not accept this token until this is fixed: ${d.path ? `${d.path}: ` : ''}${d.message}`);
  io.err(`  A broker serving --policy-dir ${dir} accepts it after its next reload.`);
  return 0;
}

function parseResourceOrThrow(doc: unknown): BulwarkResource {
  const parsed = parseResource(doc);
  if (!parsed.ok) throw new Error('token create: a document that parsed no longer does');
  return parsed.value;
}

/** A file holds only this token when each of its documents is the AccessToken or the Secret that holds its token. */
function holdsOnlyToken(text: string, token: AccessToken): boolean {
  const docs = parseAllDocuments(text);
  return (Array.isArray(docs) ? docs : [docs]).every((d) => {
    const v = d.toJS() as Record<string, unknown> | null;
    if (v === null || v === undefined) return true;
    const meta = (v.metadata ?? {}) as { name?: unknown; namespace?: unknown };
    const namespace = typeof meta.namespace === 'string' ? meta.namespace : 'default';
    if (namespace !== token.metadata.namespace) return false;
    if (v.apiVersion === API_GROUP_VERSION && v.kind === 'AccessToken') return meta.name === token.metadata.name;
    return v.apiVersion === 'v1' && v.kind === 'Secret' && meta.name === secretNameOf(token);
  });
}

async function revokeLocal(dir: string, name: string, namespace: string | undefined, io: Output): Promise<number> {
  const directory = await readPolicyDirectory(dir);
  const found = directory.resources.filter((r): r is AccessToken => r.kind === 'AccessToken' && r.metadata.name === name && (namespace === undefined || r.metadata.namespace === namespace));
  if (found.length === 0) throw new BulwarkError('BWK_ERR_TOKEN_NOT_FOUND', { token: namespace ? `${namespace}/${name}` : name, where: `in ${dir}` });
  if (found.length > 1) throw usage(`AccessToken ${name} is declared in namespaces ${found.map((t) => t.metadata.namespace).join(', ')} of ${dir}: give -n NAMESPACE`);
  const token = found[0]!;
  const id = `${token.metadata.namespace}/${name}`;
  const origin = directory.originOf('AccessToken', token.metadata.namespace, name)!;
  const path = resolve(process.cwd(), origin.file);
  if (!holdsOnlyToken(readFileSync(path, 'utf8'), token)) throw new BulwarkError('BWK_ERR_TOKEN_FILE_SHARED', { token: id, file: shownPath(origin.file) });
  unlinkSync(path);
  const dirFd = openSync(dirname(path), 'r');
  try {
    fsyncSync(dirFd);
  } finally {
    closeSync(dirFd);
  }
  io.out(`revoked AccessToken ${id} (removed ${shownPath(origin.file)})`);
  const after = await readPolicyDirectory(dir);
  if (after.secrets.has(`${token.metadata.namespace}/${secretNameOf(token)}`))
    io.err(`note: Secret ${token.metadata.namespace}/${secretNameOf(token)} is declared in another file of ${dir}; no AccessToken refers to it any more, so it grants nothing: delete it when convenient`);
  return 0;
}

// --- Kubernetes mode: the API server ----------------------------------------------------------

interface Kube {
  client: KubeClient;
  /** The context's namespace, else default. */
  namespace: string;
}

export function connect(target: Extract<Target, { mode: 'kube' }>, host: TokenCommandHost): Kube {
  const kc = new KubeConfig();
  const none = 'no kubeconfig: give --kubeconfig FILE or set KUBECONFIG (or use --policy-dir DIR for local mode)';
  try {
    if (target.kubeconfig !== undefined) {
      if (!existsSync(target.kubeconfig)) throw new BulwarkError('BWK_ERR_KUBE_UNAVAILABLE', { detail: `--kubeconfig ${target.kubeconfig} does not exist` });
      kc.loadFromFile(target.kubeconfig);
    } else if (host.env['KUBECONFIG']) {
      kc.loadFromFile(host.env['KUBECONFIG'].split(process.platform === 'win32' ? ';' : ':')[0]!);
    } else if (existsSync(join(host.home(), '.kube', 'config'))) {
      kc.loadFromFile(join(host.home(), '.kube', 'config'));
    } else if (host.env['KUBERNETES_SERVICE_HOST']) {
      kc.loadFromCluster();
    } else {
      throw new BulwarkError('BWK_ERR_KUBE_UNAVAILABLE', { detail: none });
    }
  } catch (err) {
    if (isBulwarkError(err)) throw err;
    throw new BulwarkError('BWK_ERR_KUBE_UNAVAILABLE', { detail: `cannot read the kubeconfig: ${(err as Error).message.split('\n')[0]}` }, { cause: err });
  }
  if (target.context !== undefined) {
    if (!kc.getContexts().some((c) => c.name === target.context)) throw usage(`--context: the kubeconfig has no context ${JSON.stringify(target.context)} (it has ${kc.getContexts().map((c) => c.name).join(', ') || 'none'})`);
    kc.setCurrentContext(target.context);
  }
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new BulwarkError('BWK_ERR_KUBE_UNAVAILABLE', { detail: 'the kubeconfig has no current cluster (give --context)' });
  if (!cluster.server.startsWith('https://')) throw new BulwarkError('BWK_ERR_KUBE_UNAVAILABLE', { detail: `the API server ${cluster.server} is not https://` });
  return { client: new KubeClient(kc), namespace: kc.getContextObject(kc.getCurrentContext())?.namespace || 'default' };
}

/** How an error message names a kind: accesstokens.bulwark.dev, secrets. */
const resourceOf = (kind: KindRef) => (kind.apiVersion.includes('/') ? `${kind.plural}.${kind.apiVersion.split('/')[0]}` : kind.plural);

interface Call {
  verb: 'get' | 'list' | 'create' | 'delete';
  kind: KindRef;
  /** Undefined: all namespaces. */
  namespace: string | undefined;
  name?: string;
}

/** One API request; 404 is returned as undefined, everything else a caller cannot act on becomes a coded error that names the verb and resource. */
async function call<T>(kube: Kube, c: Call, req: KubeRequest = {}): Promise<T | undefined> {
  const method = { get: 'GET', list: 'GET', create: 'POST', delete: 'DELETE' }[c.verb];
  const path = kindPath(c.kind, c.namespace, c.name);
  const details = { verb: c.verb, resource: resourceOf(c.kind), namespace: c.namespace ?? '(all namespaces)' };
  try {
    // 429 is "not now" (the API server is starting, or a freshly installed CRD's storage is): nothing was done, so try again.
    for (let attempt = 1; ; attempt++) {
      try {
        return await kube.client.request<T>(method, path, { idleTimeoutMs: 30_000, ...req });
      } catch (err) {
        if (!(err instanceof KubeApiError && err.status === 429) || attempt >= RETRIES_ON_429) throw err;
        await sleep(250 * attempt);
      }
    }
  } catch (err) {
    if (err instanceof KubeApiError) {
      if (err.status === 404) return undefined;
      const said = err.message.slice(`${method} ${path}: `.length);
      if (err.status === 403) throw new BulwarkError('BWK_ERR_KUBE_FORBIDDEN', { ...details, detail: said }, { cause: err });
      if (err.status === 401) throw new BulwarkError('BWK_ERR_KUBE_REQUEST_FAILED', { ...details, detail: `${said} (the kubeconfig's credentials were not accepted)` }, { cause: err });
      throw new BulwarkError('BWK_ERR_KUBE_REQUEST_FAILED', { ...details, detail: said }, { cause: err });
    }
    const e = err as NodeJS.ErrnoException;
    throw new BulwarkError('BWK_ERR_KUBE_UNAVAILABLE', { detail: `cannot reach ${kube.client.server.origin}: ${e.code ?? e.message}` }, { cause: err });
  }
}

interface Condition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
}
interface AccessTokenObject {
  metadata: { name: string; namespace: string; uid?: string; deletionTimestamp?: string };
  spec: AccessToken['spec'];
  status?: { secretName?: string; expiresAt?: string; conditions?: Condition[] };
}
interface SecretObject {
  metadata: { name: string; annotations?: Record<string, string>; ownerReferences?: { kind: string; uid: string; controller?: boolean }[] };
  data?: Record<string, string>;
}

/** The STATUS column from the conditions the operator writes (Ready, Reconciling, Stalled; Ready False with reason Expired). */
export function kubeStatus(t: AccessTokenObject, now: number): { status: string; message?: string } {
  const cond = (type: string) => t.status?.conditions?.find((c) => c.type === type);
  const ready = cond('Ready');
  const stalled = cond('Stalled');
  const expiresAt = t.status?.expiresAt ?? t.spec.expiresAt;
  const message = (c: Condition | undefined) => (c?.message ? { message: c.message } : {});
  if (t.metadata.deletionTimestamp) return { status: 'Revoking' };
  if ((ready?.status === 'False' && ready.reason === 'Expired') || (expiresAt && Date.parse(expiresAt) <= now)) return { status: 'Expired', ...message(ready) };
  if (stalled?.status === 'True') return { status: `Stalled:${stalled.reason ?? 'Unknown'}`, ...message(stalled) };
  if (ready?.status === 'True') return { status: 'Ready', ...message(ready) };
  if (cond('Reconciling')?.status === 'True') return { status: 'Reconciling', ...message(cond('Reconciling')) };
  return t.status?.conditions?.length ? { status: `NotReady${ready?.reason ? `:${ready.reason}` : ''}`, ...message(ready) } : { status: 'Pending' };
}

/** The status, in words, for messages: each condition that is True (and Ready). */
export function describeStatus(t: AccessTokenObject | undefined): string {
  const conditions = t?.status?.conditions ?? [];
  if (conditions.length === 0) return 'no status yet';
  return conditions
    .filter((c) => c.status === 'True' || c.type === 'Ready')
    .map((c) => `${c.type}=${c.status}${c.reason ? ` ${c.reason}` : ''}${c.message ? `: ${c.message}` : ''}`)
    .join('; ');
}

function kubeRow(t: AccessTokenObject, now: number): TokenRow {
  const { status, message } = kubeStatus(t, now);
  return {
    namespace: t.metadata.namespace,
    name: t.metadata.name,
    user: t.spec.userRef.name,
    cluster: t.spec.clusterRef.name,
    expiresAt: t.status?.expiresAt ?? t.spec.expiresAt ?? (t.spec.lifetime ? undefined : null),
    status,
    ...(message !== undefined ? { message } : {}),
    secretName: t.status?.secretName ?? secretNameOf(t),
    roles: t.spec.roles ?? [],
    ...(t.spec.description !== undefined ? { description: t.spec.description } : {}),
  };
}

async function listInKubernetes(kube: Kube, namespace: string | undefined, host: TokenCommandHost): Promise<TokenRow[]> {
  const items: AccessTokenObject[] = [];
  let cont: string | undefined;
  do {
    const page = await call<{ items: AccessTokenObject[]; metadata: { continue?: string } }>(kube, { verb: 'list', kind: KINDS.accessToken, namespace }, { query: { limit: 500, continue: cont } });
    if (!page) throw new BulwarkError('BWK_ERR_KUBE_REQUEST_FAILED', { verb: 'list', resource: resourceOf(KINDS.accessToken), namespace: namespace ?? '(all namespaces)', detail: 'the API server does not serve AccessTokens: install Bulwark\'s CRDs (crds/)' });
    items.push(...page.items);
    cont = page.metadata.continue || undefined;
  } while (cont);
  return items.map((t) => kubeRow(t, host.now()));
}

/** --cluster, or the only BrokerCluster of the namespace. */
async function kubeCluster(kube: Kube, namespace: string, wanted: string | undefined): Promise<string> {
  if (wanted !== undefined) return wanted;
  const page = await call<{ items: { metadata: { name: string } }[] }>(kube, { verb: 'list', kind: KINDS.brokerCluster, namespace });
  const names = (page?.items ?? []).map((c) => c.metadata.name);
  if (names.length === 1) return names[0]!;
  if (names.length === 0) throw new BulwarkError('BWK_ERR_TOKEN_CLUSTER_UNKNOWN', { detail: `namespace ${namespace} has no BrokerCluster; give --cluster CLUSTER (or -n for another namespace)` });
  throw new BulwarkError('BWK_ERR_TOKEN_CLUSTER_UNKNOWN', { detail: `namespace ${namespace} has BrokerClusters ${names.join(', ')}; choose one with --cluster` });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function createInKubernetes(target: Extract<Target, { mode: 'kube' }>, c: Extract<ReturnType<typeof createRequestFrom>, { help: false }>, io: Output, host: TokenCommandHost): Promise<number> {
  const kube = connect(target, host);
  try {
    const namespace = c.namespace ?? kube.namespace;
    const cluster = await kubeCluster(kube, namespace, c.cluster);
    const doc = accessTokenDocument({ ...c.request, namespace, cluster });
    const id = `${namespace}/${doc.metadata.name}`;
    const secretName = secretNameOf(doc);
    const tokenKey = { kind: KINDS.accessToken, namespace, name: doc.metadata.name };
    const secretKey = { kind: KINDS.secret, namespace, name: secretName };
    if (await call(kube, { verb: 'get', ...tokenKey })) throw new BulwarkError('BWK_ERR_TOKEN_EXISTS', { token: id, where: '' });
    // The operator writes only a Secret its AccessToken owns: one that exists already would never hold this token.
    if (await call(kube, { verb: 'get', ...secretKey })) throw new BulwarkError('BWK_ERR_TOKEN_SPEC_INVALID', { token: id, detail: `spec.secretName: Secret ${namespace}/${secretName} already exists; choose another --secret-name` });

    let created: AccessTokenObject;
    try {
      created = (await call<AccessTokenObject>(kube, { verb: 'create', kind: KINDS.accessToken, namespace }, { body: doc, query: { fieldManager: CLI_FIELD_MANAGER } }))!;
    } catch (err) {
      if (isBulwarkError(err, 'BWK_ERR_KUBE_REQUEST_FAILED') && (err.cause as KubeApiError).status === 409) throw new BulwarkError('BWK_ERR_TOKEN_EXISTS', { token: id, where: '' });
      throw err;
    }
    if (!created) throw new BulwarkError('BWK_ERR_KUBE_REQUEST_FAILED', { verb: 'create', resource: resourceOf(KINDS.accessToken), namespace, detail: 'not found: are Bulwark\'s CRDs installed, and does the namespace exist?' });
    io.err(`created AccessToken ${id}; waiting up to ${c.wait} for the operator to write Secret ${namespace}/${secretName}`);

    const deadline = host.now() + c.waitMs;
    let latest: AccessTokenObject | undefined = created;
    let said = '';
    let saidAt = host.now();
    for (;;) {
      const secret = await call<SecretObject>(kube, { verb: 'get', ...secretKey }).catch(async (err: unknown) => {
        await removeAfterFailure(kube, created, io);
        throw err;
      });
      const owned = secret?.metadata.ownerReferences?.some((o) => o.kind === 'AccessToken' && o.uid === created.metadata.uid);
      const value = secret?.data?.[TOKEN_KEY] === undefined ? undefined : Buffer.from(secret.data[TOKEN_KEY], 'base64').toString('utf8');
      if (owned && value !== undefined && TOKEN_FORMAT.test(value)) {
        latest = (await call<AccessTokenObject>(kube, { verb: 'get', ...tokenKey }).catch(() => latest)) ?? latest;
        io.out(value);
        const issuedAt = secret!.metadata.annotations?.[ISSUED_AT];
        usageNotes(io, { namespace, name: doc.metadata.name, user: doc.spec.userRef.name, cluster, expires: latest.status?.expiresAt ?? expiryText(doc.spec, issuedAt), secret: `${namespace}/${secretName}`, roles: doc.spec.roles ?? [] });
        const { status, message } = kubeStatus(latest, host.now());
        if (status.startsWith('Stalled')) io.err(`warning: the brokers do not accept this token yet: ${status}${message ? `: ${message}` : ''}`);
        return 0;
      }
      latest = (await call<AccessTokenObject>(kube, { verb: 'get', ...tokenKey })) ?? undefined;
      if (!latest) throw new BulwarkError('BWK_ERR_TOKEN_NOT_FOUND', { token: id, where: 'any more: it was deleted while the command waited for its Secret' });
      const now = host.now();
      const summary = describeStatus(latest);
      if (summary !== said || now - saidAt >= PROGRESS_EVERY_MS) {
        io.err(`  waiting: ${summary}`);
        said = summary;
        saidAt = now;
      }
      if (now >= deadline) {
        const outcome = await removeAfterFailure(kube, created, io);
        const status = latest.status?.conditions?.length ? summary : `${summary} (no operator has acted on it: is the operator running, and serving namespace ${namespace}?)`;
        throw new BulwarkError('BWK_ERR_TOKEN_WAIT_TIMEOUT', { secret: `${namespace}/${secretName}`, wait: c.wait, status, outcome });
      }
      await sleep(Math.min(POLL_MS, Math.max(0, deadline - now)));
    }
  } finally {
    kube.client.close();
  }
}

/** A create that could not show its token takes the AccessToken back, so no token nobody has seen stays valid. */
async function removeAfterFailure(kube: Kube, created: AccessTokenObject, io: Output): Promise<string> {
  const id = `${created.metadata.namespace}/${created.metadata.name}`;
  try {
    await call(kube, { verb: 'delete', kind: KINDS.accessToken, namespace: created.metadata.namespace, name: created.metadata.name }, { body: { apiVersion: 'v1', kind: 'DeleteOptions', propagationPolicy: 'Background', preconditions: { uid: created.metadata.uid } } });
    const outcome = `The AccessToken ${id} was deleted again (no token nobody has seen stays valid); try again, with a longer --wait if the operator is slow.`;
    io.err(outcome);
    return outcome;
  } catch (err) {
    const outcome = `The AccessToken ${id} could not be deleted again (${(err as Error).message}); delete it with \`bulwark token revoke ${created.metadata.name} -n ${created.metadata.namespace}\`.`;
    io.err(outcome);
    return outcome;
  }
}

async function revokeInKubernetes(target: Extract<Target, { mode: 'kube' }>, name: string, ns: string | undefined, io: Output, host: TokenCommandHost): Promise<number> {
  const kube = connect(target, host);
  try {
    const namespace = ns ?? kube.namespace;
    const key = { kind: KINDS.accessToken, namespace, name };
    const existing = await call<AccessTokenObject>(kube, { verb: 'get', ...key });
    if (!existing) throw new BulwarkError('BWK_ERR_TOKEN_NOT_FOUND', { token: `${namespace}/${name}`, where: '' });
    const body = { apiVersion: 'v1', kind: 'DeleteOptions', propagationPolicy: 'Background', preconditions: { uid: existing.metadata.uid } };
    const deleted = await call(kube, { verb: 'delete', ...key }, { body });
    if (!deleted) throw new BulwarkError('BWK_ERR_TOKEN_NOT_FOUND', { token: `${namespace}/${name}`, where: '' });
    io.out(`revoked AccessToken ${namespace}/${name}`);
    io.err(`  Secret ${namespace}/${existing.status?.secretName ?? secretNameOf(existing)} is deleted with it (garbage collection of its owner reference); the brokers refuse the token and close its connections once the operator's policy reaches them.`);
    return 0;
  } finally {
    kube.client.close();
  }
}
