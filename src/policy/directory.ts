// Local mode: a directory of CR YAML files (and Secrets that hold passwords and tokens) compiled
// with the same compiler the operator uses. Used by `bulwark policy check|explain`, by
// `bulwark broker --policy-dir` and by `bulwark dev`.
//
// Every problem is reported with its file, its document number (1-based, as editors count
// `---` sections) and the field path; nothing is compiled from a directory that has errors
// unless the caller asks for the diagnostics only.
import { randomBytes } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { LineCounter, parseAllDocuments } from 'yaml';
import { isBulwarkApiVersion, parseResource, type BrokerCluster, type BulwarkResource } from '../api/index.ts';
import { BulwarkError } from '../lib/index.ts';
import { compilePolicy, type TokenCredential } from './compile.ts';
import { deriveCredentials, passwordPolicyFailure, passwordPolicyOf, passwordWeakness, tokenHash, TOKEN_FORMAT, type DerivedCredentials } from './credentials.ts';
import { openAuthorization } from './authorization-mode.ts';
import type { PolicySnapshot } from './snapshot.ts';

export interface LocatedError {
  severity: 'error' | 'warning';
  file: string;
  /** 1-based index of the YAML document in the file; 0 when the problem is the file itself. */
  document: number;
  path: string;
  message: string;
  /** The kind of the resource the problem is in, when known (a document that failed to parse still says its kind). */
  kind?: string;
}

interface Origin {
  file: string;
  document: number;
}

export interface PolicyDirectory {
  resources: BulwarkResource[];
  /** Secrets by namespace/name, with their decoded keys. */
  secrets: Map<string, { data: Map<string, string>; annotations: Record<string, string> }>;
  problems: LocatedError[];
  originOf(kind: string, namespace: string, name: string): Origin | undefined;
}

export const TOKEN_SECRET_KEY = 'token';
export const ISSUED_AT_ANNOTATION = 'bulwark.dev/issued-at';

async function yamlFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  const entries = await readdir(dir, { withFileTypes: true });
  for (const e of entries.sort((a, b) => (a.name < b.name ? -1 : 1))) {
    if (e.name.startsWith('.')) continue;
    const full = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await yamlFiles(full)));
    else if (/\.ya?ml$/.test(e.name) && !/^kustomization\.ya?ml$/.test(e.name)) out.push(full);
  }
  return out;
}

/** Reads and parses every document of every YAML file under `dir`. Never throws on bad content. */
export async function readPolicyDirectory(dir: string): Promise<PolicyDirectory> {
  let files: string[];
  try {
    files = await yamlFiles(dir);
  } catch (err) {
    throw new BulwarkError('BWK_ERR_POLICY_DIR_UNREADABLE', { dir, detail: (err as NodeJS.ErrnoException).code ?? (err as Error).message }, { cause: err });
  }
  const resources: BulwarkResource[] = [];
  const secrets: PolicyDirectory['secrets'] = new Map();
  const problems: LocatedError[] = [];
  const origins = new Map<string, Origin>();

  for (const path of files) {
    const file = relative(process.cwd(), path) || path;
    const text = await readFile(path, 'utf8');
    const lines = new LineCounter();
    const docs = parseAllDocuments(text, { lineCounter: lines });
    if (!Array.isArray(docs)) continue; // an empty stream
    docs.forEach((doc, i) => {
      const document = i + 1;
      const problem = (path: string, message: string, severity: LocatedError['severity'] = 'error') => problems.push({ severity, file, document, path, message });
      if (doc.errors.length > 0) {
        for (const e of doc.errors) {
          const pos = lines.linePos(e.pos[0]);
          problem('', `YAML syntax error at line ${pos.line}, column ${pos.col}: ${e.message.split('\n')[0]}`);
        }
        return;
      }
      const value = doc.toJS({ maxAliasCount: 100 }) as unknown;
      if (value === null || value === undefined) return; // an empty document between separators
      const v = value as Record<string, unknown>;
      if (v.apiVersion === 'v1' && v.kind === 'Secret') {
        const parsed = parseSecret(v);
        if (typeof parsed === 'string') return problem('data', parsed);
        const key = `${parsed.namespace}/${parsed.name}`;
        if (secrets.has(key)) return problem('metadata.name', `Secret ${key} is declared twice`);
        secrets.set(key, parsed);
        return;
      }
      if (!isBulwarkApiVersion(v)) {
        return problem('apiVersion', `not a Bulwark resource (apiVersion ${JSON.stringify(v.apiVersion)}, kind ${JSON.stringify(v.kind)}); only bulwark.dev/v1alpha1 kinds and v1 Secrets belong in a policy directory`);
      }
      const result = parseResource(v);
      if (!result.ok) {
        for (const e of result.errors) problems.push({ severity: 'error', file, document, path: e.path, message: e.message, ...(typeof v.kind === 'string' ? { kind: v.kind } : {}) });
        return;
      }
      const r = result.value;
      const key = `${r.kind}/${r.metadata.namespace}/${r.metadata.name}`;
      const earlier = origins.get(key);
      if (earlier) return problem('metadata.name', `${r.kind} ${r.metadata.namespace}/${r.metadata.name} is already declared in ${earlier.file} (document ${earlier.document})`);
      origins.set(key, { file, document });
      resources.push(r);
    });
  }
  return { resources, secrets, problems, originOf: (kind, ns, name) => origins.get(`${kind}/${ns}/${name}`) };
}

function parseSecret(v: Record<string, unknown>): { name: string; namespace: string; data: Map<string, string>; annotations: Record<string, string> } | string {
  const meta = (v.metadata ?? {}) as Record<string, unknown>;
  if (typeof meta.name !== 'string') return 'a Secret needs metadata.name';
  const data = new Map<string, string>();
  for (const [k, raw] of Object.entries((v.data ?? {}) as Record<string, unknown>)) {
    if (typeof raw !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(raw.replace(/\s/g, ''))) return `data.${k} is not base64`;
    data.set(k, Buffer.from(raw, 'base64').toString('utf8'));
  }
  for (const [k, raw] of Object.entries((v.stringData ?? {}) as Record<string, unknown>)) {
    if (typeof raw !== 'string') return `stringData.${k} must be a string`;
    data.set(k, raw);
  }
  const annotations = (meta.annotations ?? {}) as Record<string, string>;
  return { name: meta.name, namespace: typeof meta.namespace === 'string' ? meta.namespace : 'default', data, annotations };
}

/** The cluster a directory describes: the one BrokerCluster, or the one clusterRef everything uses. */
export function chooseCluster(resources: readonly BulwarkResource[], wanted?: string): { namespace: string; name: string } {
  const candidates = new Map<string, { namespace: string; name: string }>();
  const clusters = resources.filter((r) => r.kind === 'BrokerCluster');
  const from = clusters.length > 0 ? clusters.map((c) => ({ namespace: c.metadata.namespace, name: c.metadata.name })) : resources.flatMap((r) => ('clusterRef' in r.spec ? [{ namespace: r.metadata.namespace, name: r.spec.clusterRef.name }] : []));
  for (const c of from) if (!wanted || c.name === wanted || `${c.namespace}/${c.name}` === wanted) candidates.set(`${c.namespace}/${c.name}`, c);
  if (candidates.size === 1) return [...candidates.values()][0]!;
  if (candidates.size === 0) throw new BulwarkError('BWK_ERR_POLICY_CLUSTER_AMBIGUOUS', { detail: wanted ? `no cluster named ${wanted}` : 'no BrokerCluster and no clusterRef found' });
  throw new BulwarkError('BWK_ERR_POLICY_CLUSTER_AMBIGUOUS', { detail: `found ${[...candidates.keys()].join(', ')}; choose one with --cluster` });
}

export interface LoadOptions {
  /** Key for deterministic credential salts; random when left out (a one-off check). */
  saltKey?: Buffer;
  /** namespace/name or name of the cluster to compile for. */
  cluster?: string;
  version?: number;
}

export interface LoadedPolicy {
  snapshot: PolicySnapshot;
  directory: PolicyDirectory;
  /** Parse errors, credential problems and compiler diagnostics, each located in its file. */
  problems: LocatedError[];
  /** The BrokerCluster compiled for, when the directory declares it (local mode renders the broker's configuration from it). */
  brokerCluster: BrokerCluster | undefined;
}

/** The BrokerCluster resource of the cluster `chooseCluster` picks, if the directory declares it. */
export function findBrokerCluster(resources: readonly BulwarkResource[], cluster: { namespace: string; name: string }): BrokerCluster | undefined {
  return resources.find((r): r is BrokerCluster => r.kind === 'BrokerCluster' && r.metadata.namespace === cluster.namespace && r.metadata.name === cluster.name);
}

/** Where a resource of the directory was declared, as a LocatedError's file and document (the directory itself when unknown). */
export function locate(directory: PolicyDirectory, dir: string, kind: string, namespace: string, name: string): { file: string; document: number } {
  const o = directory.originOf(kind, namespace, name);
  return { file: o?.file ?? dir, document: o?.document ?? 0 };
}

/** Reads a policy directory, derives credentials from its Secrets, and compiles it. */
export async function loadPolicyDirectory(dir: string, opts: LoadOptions = {}): Promise<LoadedPolicy> {
  return compilePolicyDirectory(await readPolicyDirectory(dir), dir, opts);
}

/** Compiles a directory already read (readPolicyDirectory). Throws BWK_ERR_POLICY_CLUSTER_AMBIGUOUS when no single cluster can be chosen. */
export async function compilePolicyDirectory(directory: PolicyDirectory, dir: string, opts: LoadOptions = {}): Promise<LoadedPolicy> {
  const problems = [...directory.problems];
  const cluster = chooseCluster(directory.resources, opts.cluster);
  const saltKey = opts.saltKey ?? randomBytes(32);
  const located = (kind: string, name: string, path: string, message: string, severity: LocatedError['severity'] = 'error') => {
    problems.push({ severity, ...locate(directory, dir, kind, cluster.namespace, name), path, message });
  };
  const secretValue = (name: string, key: string) => directory.secrets.get(`${cluster.namespace}/${name}`)?.data.get(key);
  const brokerCluster = findBrokerCluster(directory.resources, cluster);
  const scramIterations = brokerCluster?.spec.authentication?.scramIterations;
  const passwordPolicy = passwordPolicyOf(brokerCluster);

  const userCredentials = new Map<string, DerivedCredentials>();
  const tokenCredentials = new Map<string, TokenCredential>();
  const derivations: Promise<void>[] = [];
  for (const r of directory.resources) {
    if (r.metadata.namespace !== cluster.namespace) continue;
    if (r.kind === 'User' && r.spec.clusterRef.name === cluster.name && r.spec.authentication.type !== 'tls') {
      const ref = r.spec.authentication.passwordSecretRef;
      if (!ref) {
        located('User', r.metadata.name, 'spec.authentication.passwordSecretRef', 'local mode needs a password Secret for each password user (the operator would generate one)');
        continue;
      }
      const password = secretValue(ref.name, ref.key);
      if (password === undefined) {
        located('User', r.metadata.name, 'spec.authentication.passwordSecretRef', `Secret ${ref.name} with key ${ref.key} is not in the directory`);
        continue;
      }
      // Refused, not derived: the user cannot log in with a password the cluster's policy forbids.
      const weakness = passwordWeakness(password, passwordPolicy);
      if (weakness) {
        located('User', r.metadata.name, 'spec.authentication.passwordSecretRef', passwordPolicyFailure(ref, weakness));
        continue;
      }
      const identity = `${cluster.namespace}/${cluster.name}/${r.spec.username ?? r.metadata.name}`;
      derivations.push(deriveCredentials(r.spec.authentication.type, password, { saltKey, identity, ...(scramIterations ? { scramIterations } : {}) }).then((c) => void userCredentials.set(r.metadata.name, c)));
    }
    if (r.kind === 'AccessToken' && r.spec.clusterRef.name === cluster.name) {
      const secretName = r.spec.secretName ?? `${r.metadata.name}-token`;
      const secret = directory.secrets.get(`${cluster.namespace}/${secretName}`);
      const token = secret?.data.get(TOKEN_SECRET_KEY);
      if (token === undefined) {
        located('AccessToken', r.metadata.name, 'spec.secretName', `Secret ${secretName} with key ${TOKEN_SECRET_KEY} is not in the directory`);
        continue;
      }
      if (!TOKEN_FORMAT.test(token)) {
        located('AccessToken', r.metadata.name, 'spec.secretName', `the token in Secret ${secretName} is not a Bulwark token (bwk_ and 43 base64url characters)`);
        continue;
      }
      const issuedAt = secret!.annotations[ISSUED_AT_ANNOTATION];
      tokenCredentials.set(r.metadata.name, { sha256: tokenHash(token), ...(issuedAt ? { issuedAt } : {}) });
    }
  }
  await Promise.all(derivations);

  const { snapshot, diagnostics } = compilePolicy({
    cluster,
    resources: directory.resources,
    credentials: { users: userCredentials, tokens: tokenCredentials },
    ...(opts.version !== undefined ? { version: opts.version } : {}),
  });
  for (const d of diagnostics) {
    const [kind = '', name = ''] = d.resource.split('/');
    // Missing credentials were already reported above, with the Secret that is missing.
    const alreadyReported =
      (d.path === 'spec.authentication.passwordSecretRef' && !userCredentials.has(name)) || (d.path === 'spec.secretName' && !tokenCredentials.has(name));
    if (alreadyReported) continue;
    located(kind, name, d.path ?? '', d.message, d.severity);
  }
  const open = openAuthorization(snapshot);
  if (open) located('BrokerCluster', cluster.name, 'spec.authorization.mode', `${open.mode}: every authenticated user may do every action on every resource; only Deny grants, token scopes, disabled users and host lists still refuse anything`, 'warning');
  return { snapshot, directory, problems, brokerCluster };
}
