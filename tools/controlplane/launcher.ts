// A real Kubernetes control plane (etcd + kube-apiserver, no controllers) for tests, started the
// way controller-runtime's envtest starts it.  See docs/testing.md.
//
//   const cp = await startControlPlane();
//   const ns = await cp.createNamespace('acl');
//   await cp.kubectl(['-n', ns, 'apply', '-f', '-'], { input: yamlText });
//   await cp.stop();
//
// Binaries come from TEST_ASSET_KUBE_APISERVER / TEST_ASSET_ETCD / TEST_ASSET_KUBECTL, from
// KUBEBUILDER_ASSETS, or are built once from the pinned Go modules in tools/controlplane/ by
// scripts/controlplane-build.sh into ${BULWARK_CACHE:-~/.cache/bulwark}/controlplane/.
//
// What to expect without controllers: no garbage collection of owned objects, no default
// ServiceAccount in a namespace, and deleted namespaces stay Terminating.  Assert on
// ownerReferences, not on cascading deletion.
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import * as https from 'node:https';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createCa, issueCertificate, type PemPair } from '../../src/pki/index.ts';

export interface Binaries {
  kubeApiserver: string;
  etcd: string;
  kubectl: string;
}

export interface KubectlResult {
  stdout: string;
  stderr: string;
  code: number;
}

export interface KubectlOptions {
  /** Written to kubectl's standard input (for `apply -f -`). */
  input?: string;
  /** Run as this user instead of the admin (see ControlPlane.createUser). */
  user?: UserCredentials;
  /** Use this kubeconfig instead (overrides `user`). */
  kubeconfig?: string;
  /** Kill kubectl after this many milliseconds (default 60000). */
  timeoutMs?: number;
  /** Throw when kubectl exits non-zero (default false: the caller inspects `code`). */
  check?: boolean;
}

export interface UserCredentials {
  name: string;
  groups: string[];
  certPem: string;
  keyPem: string;
  /** A kubeconfig for this user alone. */
  kubeconfigPath: string;
}

export interface ApiResponse {
  status: number;
  body: string;
  json<T = unknown>(): T;
}

export interface ControlPlane {
  /** Working directory: certificates, etcd data, logs, kubeconfig. */
  dir: string;
  kubeconfigPath: string;
  /** https://127.0.0.1:<port> */
  server: string;
  caPem: string;
  adminCertPem: string;
  adminKeyPem: string;
  binaries: Binaries;
  pids: { etcd: number; kubeApiserver: number };
  etcdUrl: string;
  /** The address the API server binds to (127.0.0.1 unless `bindAddress` was given). */
  host: string;
  apiPort: number;
  pkiFiles: ControlPlanePkiFiles;
  kubectl(args: string[], opts?: KubectlOptions): Promise<KubectlResult>;
  /** A raw HTTPS call to the API server, as admin unless `user` is given. */
  request(method: string, apiPath: string, body?: unknown, opts?: { user?: UserCredentials }): Promise<ApiResponse>;
  /** Creates a namespace with a unique name starting with `prefix`, and returns its name. */
  createNamespace(prefix?: string): Promise<string>;
  /** A client certificate (signed by the cluster's client CA) for a user with no RBAC rights. */
  createUser(name: string, groups?: string[]): Promise<UserCredentials>;
  stop(): Promise<void>;
}

export interface StartOptions {
  /** Working directory. Default: a fresh temp dir, removed by stop(). A given dir is kept. */
  dir?: string;
  /**
   * Leave etcd and kube-apiserver running when this Node process exits (for `cluster up`).
   * No exit handlers and no reaper are installed; call stop() or `cluster down` to end them.
   */
  detached?: boolean;
  /**
   * Also copy the kubeconfig here for manual use. Default: ${BULWARK_CACHE}/controlplane/run/kubeconfig,
   * unless a `cluster up` cluster owns that file. `false` turns it off.
   */
  publishKubeconfig?: string | false;
  /** How long to wait for /readyz and the default namespace (default 120 s). */
  startTimeoutMs?: number;
  /** Extra kube-apiserver flags (`--name=value`), appended after the defaults. */
  apiserverArgs?: string[];
  /** Keep the temp dir after stop() (also BULWARK_KEEP_CONTROLPLANE=1), e.g. to read logs. */
  keepDir?: boolean;
  /**
   * The address kube-apiserver binds to and advertises (default 127.0.0.1). A non-loopback
   * address (the test node's bridge gateway) lets pods reach the API server; it must already be
   * assigned to an interface. The serving certificate names it, and `server` uses it.
   */
  bindAddress?: string;
  /** Extra serving-certificate names, as `DNS:name` or `IP:address`. */
  servingSans?: string[];
  /** `--authorization-mode` (default `['RBAC']`; a node needs `['Node', 'RBAC']`). */
  authorizationModes?: string[];
  /**
   * Admission: `serviceAccount` turns the ServiceAccount plugin back on (envtest turns it off
   * because no controller creates the `default` ServiceAccount); `enable` adds plugins
   * (e.g. `NodeRestriction`).
   */
  admission?: { serviceAccount?: boolean; enable?: string[] };
  /**
   * `none` (default, envtest) or `lease`: keep the `kubernetes` Service's endpoints at the
   * advertised address (needs a non-loopback `bindAddress`).
   */
  endpointReconciler?: 'none' | 'lease';
  /**
   * Issue a client certificate for the API server's calls to kubelets (logs, exec):
   * `CN=kube-apiserver-kubelet-client, O=system:masters`, used with InternalIP addresses.
   */
  kubeletClient?: boolean;
}

/** Files under `<dir>/pki` that other components of a cluster (a node) need. */
export interface ControlPlanePkiFiles {
  caCert: string;
  caKey: string;
  serviceAccountKey: string;
  serviceAccountPub: string;
}

const here = path.dirname(fileURLToPath(import.meta.url));
export const repoRoot = path.resolve(here, '..', '..');

export function cacheRoot(): string {
  const c = process.env.BULWARK_CACHE;
  return c && c.length > 0 ? path.resolve(c) : path.join(os.homedir(), '.cache', 'bulwark');
}

/** ${BULWARK_CACHE}/controlplane/run: kubeconfig and state of `cluster up`. */
export function runDir(): string {
  return path.join(cacheRoot(), 'controlplane', 'run');
}

// ---------------------------------------------------------------------------------------------
// Service addresses

/** --service-cluster-ip-range of the API server (and the kube-controller-manager of a test node). */
export const SERVICE_CLUSTER_IP_RANGE = '10.0.0.0/24';
/** The `kubernetes` Service's ClusterIP, the range's first address: in the API server's serving certificate. */
export const KUBERNETES_SERVICE_IP = '10.0.0.1';

// ---------------------------------------------------------------------------------------------
// Binaries

let binariesPromise: Promise<Binaries> | undefined;

/**
 * Returns the paths of kube-apiserver, etcd and kubectl, building them first if needed (the
 * first build takes several minutes; progress goes to stderr).
 */
export function ensureBinaries(): Promise<Binaries> {
  binariesPromise ??= resolveBinaries().catch((err: unknown) => {
    binariesPromise = undefined;
    throw err;
  });
  return binariesPromise;
}

async function resolveBinaries(): Promise<Binaries> {
  const { code, values } = await runBuildScript('controlplane-build.sh');
  if (code !== 0) {
    throw new Error(
      `scripts/controlplane-build.sh failed (exit ${code}). Set KUBEBUILDER_ASSETS to a directory with ` +
        'kube-apiserver, etcd and kubectl, or install Go >= 1.26; see docs/testing.md.',
    );
  }
  const { KUBE_APISERVER: kubeApiserver, ETCD: etcd, KUBECTL: kubectl } = values;
  if (!kubeApiserver || !etcd || !kubectl) throw new Error(`scripts/controlplane-build.sh printed no binary paths: ${JSON.stringify(values)}`);
  return { kubeApiserver, etcd, kubectl };
}

/**
 * Runs one of the scripts/*-build.sh scripts (their progress goes to this process's stderr) and
 * returns its exit code and the NAME=value lines it printed on stdout.
 */
export async function runBuildScript(name: string): Promise<{ code: number; values: Record<string, string> }> {
  const child = spawn('bash', [path.join(repoRoot, 'scripts', name)], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'inherit'] });
  let stdout = '';
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (d: string) => (stdout += d));
  const code = await new Promise<number>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (c) => resolve(c ?? 1));
  });
  const values: Record<string, string> = {};
  for (const line of stdout.split('\n')) {
    const m = /^([A-Z][A-Z0-9_]*)=(.+)$/.exec(line.trim());
    if (m?.[1] && m[2]) values[m[1]] = m[2];
  }
  return { code, values };
}

// ---------------------------------------------------------------------------------------------
// Small helpers

export function runCommand(cmd: string, args: string[], opts: { cwd?: string; input?: string; timeoutMs?: number; env?: NodeJS.ProcessEnv } = {}): Promise<KubectlResult> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      cmd,
      args,
      { cwd: opts.cwd, env: opts.env ?? process.env, timeout: opts.timeoutMs ?? 60_000, maxBuffer: 64 * 1024 * 1024, encoding: 'utf8' },
      (err, stdout, stderr) => {
        if (err && typeof (err as NodeJS.ErrnoException).code === 'string') {
          // spawn failure (ENOENT, ...), not a non-zero exit
          reject(err);
          return;
        }
        const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
        resolve({ stdout, stderr, code: err?.killed ? 124 : code });
      },
    );
    if (opts.input !== undefined) child.stdin?.end(opts.input);
    else child.stdin?.end();
  });
}

/** `n` distinct ports that were free on `host` a moment ago. */
export async function freePorts(n: number, host = '127.0.0.1'): Promise<number[]> {
  const servers: net.Server[] = [];
  try {
    const ports: number[] = [];
    for (let i = 0; i < n; i++) {
      const srv = net.createServer();
      servers.push(srv);
      await new Promise<void>((resolve, reject) => {
        srv.once('error', reject);
        srv.listen(0, host, () => resolve());
      });
      ports.push((srv.address() as net.AddressInfo).port);
    }
    return ports;
  } finally {
    await Promise.all(servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
  }
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** The last `lines` lines of a log file, or `(no log)`. */
export function logTail(file: string, lines = 30): string {
  try {
    return fs.readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9:._@-]*$/;

/** A DNS-1123 label: `<prefix>-<time>-<random>`, at most 63 characters. */
export function uniqueName(prefix = 'test'): string {
  const clean = prefix.toLowerCase().replace(/[^a-z0-9-]+/g, '-').replace(/^-+|-+$/g, '') || 'test';
  const suffix = `${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
  return `${clean.slice(0, 62 - suffix.length)}-${suffix}`.replace(/^-+/, '');
}

// ---------------------------------------------------------------------------------------------

// Certificates, made with Bulwark's own PKI (src/pki): ECDSA P-256, the CA signs all of them.

interface Pki {
  dir: string;
  caCert: string;
  ca: PemPair;
}

async function makeCa(dir: string): Promise<Pki> {
  const ca = await createCa({ commonName: `bulwark-test-ca-${randomBytes(4).toString('hex')}`, validDays: 365 });
  const caCert = path.join(dir, 'ca.crt');
  await writeFile(caCert, ca.certPem);
  await writeFile(path.join(dir, 'ca.key'), ca.keyPem, { mode: 0o600 });
  return { dir, caCert, ca };
}

/** `sans` as `DNS:name` or `IP:address`. */
async function issue(
  pki: Pki,
  base: string,
  subject: { cn: string; orgs?: string[] },
  kind: 'server' | 'client',
  sans: string[] = [],
): Promise<{ certFile: string; keyFile: string; certPem: string; keyPem: string }> {
  const dnsNames = sans.filter((x) => x.startsWith('DNS:')).map((x) => x.slice(4));
  const ipAddresses = sans.filter((x) => x.startsWith('IP:')).map((x) => x.slice(3));
  const pair = await issueCertificate({ ca: pki.ca, commonName: subject.cn, organizations: subject.orgs ?? [], dnsNames, ipAddresses, usage: kind, validDays: 365 });
  const keyFile = path.join(pki.dir, `${base}.key`);
  const certFile = path.join(pki.dir, `${base}.crt`);
  await writeFile(keyFile, pair.keyPem, { mode: 0o600 });
  await writeFile(certFile, pair.certPem);
  return { certFile, keyFile, certPem: pair.certPem, keyPem: pair.keyPem };
}

function kubeconfigYaml(server: string, caPem: string, user: string, certPem: string, keyPem: string): string {
  const b64 = (s: string) => Buffer.from(s).toString('base64');
  return [
    'apiVersion: v1',
    'kind: Config',
    'clusters:',
    '- name: bulwark-test',
    '  cluster:',
    `    server: ${server}`,
    `    certificate-authority-data: ${b64(caPem)}`,
    'users:',
    `- name: ${JSON.stringify(user)}`,
    '  user:',
    `    client-certificate-data: ${b64(certPem)}`,
    `    client-key-data: ${b64(keyPem)}`,
    'contexts:',
    '- name: bulwark-test',
    '  context:',
    '    cluster: bulwark-test',
    `    user: ${JSON.stringify(user)}`,
    'current-context: bulwark-test',
    '',
  ].join('\n');
}

// ---------------------------------------------------------------------------------------------
// Process management: every child leads its own process group, which is what gets killed.

const live = new Set<{ pgids: number[]; dir: string | undefined; reaper: number | undefined }>();
let handlersInstalled = false;

export function killGroup(pgid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(-pgid, sig);
  } catch {
    /* already gone */
  }
}

function installExitHandlers(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  // Synchronous last resort: normal exit, process.exit(), uncaught exceptions.
  process.on('exit', () => {
    for (const entry of live) {
      for (const g of entry.pgids) killGroup(g, 'SIGKILL');
      if (entry.reaper) killGroup(entry.reaper, 'SIGKILL');
      if (entry.dir) {
        try {
          fs.rmSync(entry.dir, { recursive: true, force: true });
        } catch {
          /* ignore */
        }
      }
    }
    live.clear();
  });
  const onSignal = (sig: NodeJS.Signals, code: number) => {
    process.once(sig, () => {
      // The 'exit' handler does the cleanup.
      process.exit(128 + code);
    });
  };
  onSignal('SIGINT', 2);
  onSignal('SIGTERM', 15);
  onSignal('SIGHUP', 1);
}

/**
 * A detached shell that waits for this Node process to die, then kills the control plane's
 * process groups and removes its directory: covers SIGKILL of the test process, which no
 * handler can catch.
 */
function startReaper(pgids: number[], dir: string | undefined): number | undefined {
  const script =
    'parent=$1; dir=$2; shift 2\n' +
    'while kill -0 "$parent" 2>/dev/null; do sleep 1; done\n' +
    'for g in "$@"; do kill -TERM -"$g" 2>/dev/null; done\n' +
    'sleep 3\n' +
    'for g in "$@"; do kill -KILL -"$g" 2>/dev/null; done\n' +
    'if [ -n "$dir" ]; then rm -rf "$dir"; fi\n';
  const child = spawn('/bin/sh', ['-c', script, 'bulwark-reaper', String(process.pid), dir ?? '', ...pgids.map(String)], {
    detached: true,
    stdio: 'ignore',
  });
  child.on('error', () => {});
  child.unref();
  return child.pid;
}

/** Starts `bin` as the leader of its own process group, stdout and stderr appended to `logFile`. */
export function spawnLogged(bin: string, args: string[], logFile: string, detached: boolean, env?: NodeJS.ProcessEnv): ChildProcess {
  const fd = fs.openSync(logFile, 'a');
  try {
    fs.writeSync(fd, `# ${bin} ${args.join(' ')}\n`);
    const child = spawn(bin, args, { detached: true, stdio: ['ignore', fd, fd], env: env ?? process.env });
    child.on('error', () => {});
    if (detached) child.unref();
    return child;
  } finally {
    fs.closeSync(fd);
  }
}

function exited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

async function waitExit(child: ChildProcess, pid: number, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (exited(child) || !alive(pid)) return true;
    await sleep(50);
  }
  return exited(child) || !alive(pid);
}

/** True if a process with this pid exists (and is not a zombie). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z';
  } catch {
    return true;
  }
}

/** Stops a process group: SIGTERM, then SIGKILL after `graceMs`. */
export async function stopGroup(pgid: number, graceMs = 10_000): Promise<void> {
  killGroup(pgid, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline) {
    if (!groupAlive(pgid)) return;
    await sleep(50);
  }
  killGroup(pgid, 'SIGKILL');
  const hard = Date.now() + 5_000;
  while (Date.now() < hard && groupAlive(pgid)) await sleep(50);
}

export function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
  } catch {
    return false;
  }
  // kill(0) succeeds for zombies; look for a live member.
  try {
    for (const entry of fs.readdirSync('/proc')) {
      if (!/^\d+$/.test(entry)) continue;
      let stat: string;
      try {
        stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      } catch {
        continue;
      }
      const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (rest[2] === String(pgid) && rest[0] !== 'Z') return true;
    }
    return false;
  } catch {
    return true; // no /proc: trust kill(0)
  }
}

// ---------------------------------------------------------------------------------------------
// HTTPS to the API server

function apiRequest(
  host: string,
  port: number,
  tls: { ca: string; cert: string; key: string },
  method: string,
  apiPath: string,
  body?: unknown,
  timeoutMs = 15_000,
): Promise<ApiResponse> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
    const req = https.request(
      {
        host,
        port,
        path: apiPath,
        method,
        ca: tls.ca,
        cert: tls.cert,
        key: tls.key,
        agent: false,
        timeout: timeoutMs,
        headers: {
          Accept: 'application/json',
          ...(payload !== undefined ? { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(payload) } : {}),
        },
      },
      (res) => {
        let data = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (data += d));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, body: data, json: <T>() => JSON.parse(data) as T }),
        );
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`${method} ${apiPath}: timed out`)));
    req.on('error', reject);
    req.end(payload);
  });
}

// ---------------------------------------------------------------------------------------------

let etcdNoFsync: Promise<boolean> | undefined;

function etcdSupportsNoFsync(etcd: string): Promise<boolean> {
  etcdNoFsync ??= runCommand(etcd, ['--help'], { timeoutMs: 15_000 }).then(
    (r) => `${r.stdout}\n${r.stderr}`.includes('--unsafe-no-fsync'),
    () => false,
  );
  return etcdNoFsync;
}

/** The `cluster up` state file, if any, and whether its processes are alive. */
export interface ControlPlaneRunState {
  dir: string;
  kubeconfigPath: string;
  server: string;
  pids: { etcd: number; kubeApiserver: number };
  startedAt: string;
}

export function stateFile(): string {
  return path.join(runDir(), 'state.json');
}

export function readControlPlaneRunState(): ControlPlaneRunState | undefined {
  try {
    return JSON.parse(fs.readFileSync(stateFile(), 'utf8')) as ControlPlaneRunState;
  } catch {
    return undefined;
  }
}

function clusterUpIsLive(): boolean {
  const st = readControlPlaneRunState();
  return !!st && (alive(st.pids.kubeApiserver) || alive(st.pids.etcd));
}

/** Starts etcd and kube-apiserver, waits until the API is ready, and returns a handle. */
export async function startControlPlane(opts: StartOptions = {}): Promise<ControlPlane> {
  const binaries = await ensureBinaries();
  const ownDir = opts.dir === undefined;
  const dir = opts.dir !== undefined ? path.resolve(opts.dir) : await mkdtemp(path.join(os.tmpdir(), 'bulwark-cp-'));
  await mkdir(dir, { recursive: true });
  const detached = opts.detached ?? false;
  const keepDir = opts.keepDir ?? process.env.BULWARK_KEEP_CONTROLPLANE === '1';
  const removeDirOnStop = ownDir && !keepDir;
  const timeoutMs = opts.startTimeoutMs ?? 120_000;

  let lastErr: unknown;
  for (let attempt = 1; attempt <= 3; attempt++) {
    try {
      return await startOnce(binaries, dir, removeDirOnStop, detached, timeoutMs, opts);
    } catch (err) {
      lastErr = err;
      // Another process may have taken a port between choosing and binding it: try again.
      if (!(err instanceof PortInUseError)) break;
    }
  }
  if (removeDirOnStop) await rm(dir, { recursive: true, force: true });
  throw lastErr;
}

class PortInUseError extends Error {}

async function startOnce(
  binaries: Binaries,
  dir: string,
  removeDirOnStop: boolean,
  detached: boolean,
  timeoutMs: number,
  opts: StartOptions,
): Promise<ControlPlane> {
  const host = opts.bindAddress ?? '127.0.0.1';
  const [etcdPort, peerPort] = (await freePorts(2)) as [number, number];
  const [apiPort] = (await freePorts(1, host)) as [number];
  const pkiDir = path.join(dir, 'pki');
  const etcdData = path.join(dir, 'etcd-data');
  const certDir = path.join(dir, 'apiserver-certs');
  await rm(etcdData, { recursive: true, force: true });
  await mkdir(pkiDir, { recursive: true });
  await mkdir(certDir, { recursive: true });
  await mkdir(etcdData, { recursive: true, mode: 0o700 });

  // One CA signs the serving certificate and the client certificates (it is the --client-ca-file).
  const pki = await makeCa(pkiDir);
  const caPem = await readFile(pki.caCert, 'utf8');
  const serving = await issue(pki, 'apiserver', { cn: 'kube-apiserver' }, 'server', [
    'IP:127.0.0.1',
    'DNS:localhost',
    `IP:${KUBERNETES_SERVICE_IP}`,
    'DNS:kubernetes',
    'DNS:kubernetes.default',
    'DNS:kubernetes.default.svc',
    'DNS:kubernetes.default.svc.cluster.local',
    ...(host !== '127.0.0.1' ? [`IP:${host}`] : []),
    ...(opts.servingSans ?? []),
  ]);
  const admin = await issue(pki, 'admin', { cn: 'admin', orgs: ['system:masters'] }, 'client');
  const kubeletClient = opts.kubeletClient
    ? await issue(pki, 'apiserver-kubelet-client', { cn: 'kube-apiserver-kubelet-client', orgs: ['system:masters'] }, 'client')
    : undefined;
  // Service-account token signing key pair.
  const sa = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const saKey = path.join(pkiDir, 'sa-signer.key');
  const saPub = path.join(pkiDir, 'sa-signer.pub');
  await writeFile(saKey, sa.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), { mode: 0o600 });
  await writeFile(saPub, sa.publicKey.export({ type: 'spki', format: 'pem' }).toString());

  const server = `https://${host}:${apiPort}`;
  const etcdUrl = `http://127.0.0.1:${etcdPort}`;
  const peerUrl = `http://127.0.0.1:${peerPort}`;
  const kubeconfigPath = path.join(dir, 'kubeconfig');
  await writeFile(kubeconfigPath, kubeconfigYaml(server, caPem, 'admin', admin.certPem, admin.keyPem), { mode: 0o600 });

  const etcdArgs = [
    '--name=bulwark-test',
    `--data-dir=${etcdData}`,
    `--listen-client-urls=${etcdUrl}`,
    `--advertise-client-urls=${etcdUrl}`,
    `--listen-peer-urls=${peerUrl}`,
    `--initial-advertise-peer-urls=${peerUrl}`,
    `--initial-cluster=bulwark-test=${peerUrl}`,
    '--listen-metrics-urls=',
    '--log-level=warn',
  ];
  if (await etcdSupportsNoFsync(binaries.etcd)) etcdArgs.push('--unsafe-no-fsync=true');

  const apiArgs = [
    `--etcd-servers=${etcdUrl}`,
    `--cert-dir=${certDir}`,
    `--tls-cert-file=${serving.certFile}`,
    `--tls-private-key-file=${serving.keyFile}`,
    `--client-ca-file=${pki.caCert}`,
    `--authorization-mode=${(opts.authorizationModes ?? ['RBAC']).join(',')}`,
    `--secure-port=${apiPort}`,
    `--bind-address=${host}`,
    `--advertise-address=${host}`,
    // kube-apiserver refuses a loopback --advertise-address with the default (lease) endpoint
    // reconciler ("may not be in the loopback range"); on loopback nothing routes to the
    // `kubernetes` Service, so don't reconcile its endpoints.
    `--endpoint-reconciler-type=${opts.endpointReconciler ?? 'none'}`,
    `--service-cluster-ip-range=${SERVICE_CLUSTER_IP_RANGE}`,
    '--allow-privileged=true',
    // As envtest: no controller creates the default ServiceAccount, so don't require it.
    ...(opts.admission?.serviceAccount ? [] : ['--disable-admission-plugins=ServiceAccount']),
    ...(opts.admission?.enable?.length ? [`--enable-admission-plugins=${opts.admission.enable.join(',')}`] : []),
    `--service-account-issuer=${server}/`,
    `--service-account-key-file=${saPub}`,
    `--service-account-signing-key-file=${saKey}`,
    ...(kubeletClient
      ? [
          `--kubelet-client-certificate=${kubeletClient.certFile}`,
          `--kubelet-client-key=${kubeletClient.keyFile}`,
          '--kubelet-preferred-address-types=InternalIP',
        ]
      : []),
    ...(opts.apiserverArgs ?? []),
  ];

  const etcdLog = path.join(dir, 'etcd.log');
  const apiLog = path.join(dir, 'kube-apiserver.log');
  const procs: ChildProcess[] = [];
  const entry = { pgids: [] as number[], dir: removeDirOnStop ? dir : undefined, reaper: undefined as number | undefined };
  if (!detached) {
    installExitHandlers();
    live.add(entry);
  }
  const abort = async () => {
    for (const p of procs.slice().reverse()) if (p.pid) await stopGroup(p.pid, 5_000);
    if (entry.reaper) killGroup(entry.reaper, 'SIGKILL');
    live.delete(entry);
  };
  const failIfExited = (child: ChildProcess, name: string, log: string) => {
    if (!exited(child)) return;
    const text = logTail(log, 40);
    const msg = `${name} exited (${child.exitCode ?? child.signalCode}) while starting; last lines of ${log}:\n${text}`;
    if (/address already in use/i.test(text)) throw new PortInUseError(msg);
    throw new Error(msg);
  };

  try {
    const etcd = spawnLogged(binaries.etcd, etcdArgs, etcdLog, detached);
    procs.push(etcd);
    if (!etcd.pid) throw new Error(`could not start ${binaries.etcd}`);
    entry.pgids.push(etcd.pid);

    const deadline = Date.now() + timeoutMs;
    for (;;) {
      failIfExited(etcd, 'etcd', etcdLog);
      try {
        const r = await fetch(`${etcdUrl}/health`, { signal: AbortSignal.timeout(2_000) });
        const j = (await r.json()) as { health?: string };
        if (j.health === 'true') break;
      } catch {
        /* not yet */
      }
      if (Date.now() > deadline) throw new Error(`etcd did not become healthy; last lines of ${etcdLog}:\n${logTail(etcdLog)}`);
      await sleep(100);
    }

    const api = spawnLogged(binaries.kubeApiserver, apiArgs, apiLog, detached);
    procs.push(api);
    if (!api.pid) throw new Error(`could not start ${binaries.kubeApiserver}`);
    entry.pgids.push(api.pid);
    if (!detached) entry.reaper = startReaper(entry.pgids, entry.dir);

    const tls = { ca: caPem, cert: admin.certPem, key: admin.keyPem };
    let last = '';
    for (;;) {
      failIfExited(api, 'kube-apiserver', apiLog);
      failIfExited(etcd, 'etcd', etcdLog);
      try {
        const r = await apiRequest(host, apiPort, tls, 'GET', '/readyz', undefined, 5_000);
        if (r.status === 200) {
          const ns = await apiRequest(host, apiPort, tls, 'GET', '/api/v1/namespaces/default', undefined, 5_000);
          if (ns.status === 200) break;
          last = `GET /api/v1/namespaces/default: ${ns.status}`;
        } else {
          last = `GET /readyz: ${r.status} ${r.body.slice(0, 2000)}`;
        }
      } catch (err) {
        last = String(err);
      }
      if (Date.now() > deadline) {
        throw new Error(`kube-apiserver not ready after ${timeoutMs} ms (${last}); last lines of ${apiLog}:\n${logTail(apiLog)}`);
      }
      await sleep(200);
    }

    // Publish the kubeconfig for manual use, without taking over a `cluster up` cluster's file.
    let published: string | undefined;
    const kubeconfigText = await readFile(kubeconfigPath, 'utf8');
    if (opts.publishKubeconfig !== false) {
      const target = opts.publishKubeconfig ?? path.join(runDir(), 'kubeconfig');
      if (opts.publishKubeconfig !== undefined || detached || !clusterUpIsLive()) {
        await mkdir(path.dirname(target), { recursive: true });
        await writeFile(target, kubeconfigText, { mode: 0o600 });
        published = target;
      }
    }

    return makeHandle({
      dir, binaries, server, caPem, admin, kubeconfigPath, host, apiPort, etcdUrl, pki,
      pkiFiles: { caCert: pki.caCert, caKey: path.join(pkiDir, 'ca.key'), serviceAccountKey: saKey, serviceAccountPub: saPub },
      etcd, api, entry, removeDirOnStop, published, kubeconfigText,
    });
  } catch (err) {
    await abort();
    throw err;
  }
}

function makeHandle(s: {
  dir: string;
  binaries: Binaries;
  server: string;
  caPem: string;
  admin: { certPem: string; keyPem: string };
  kubeconfigPath: string;
  host: string;
  apiPort: number;
  etcdUrl: string;
  pki: Pki;
  pkiFiles: ControlPlanePkiFiles;
  etcd: ChildProcess;
  api: ChildProcess;
  entry: { pgids: number[]; dir: string | undefined; reaper: number | undefined };
  removeDirOnStop: boolean;
  published: string | undefined;
  kubeconfigText: string;
}): ControlPlane {
  const kubectlCache = path.join(s.dir, 'kubectl-cache');
  const adminTls = { ca: s.caPem, cert: s.admin.certPem, key: s.admin.keyPem };
  let stopping: Promise<void> | undefined;
  let userSeq = 0;

  const cp: ControlPlane = {
    dir: s.dir,
    kubeconfigPath: s.kubeconfigPath,
    server: s.server,
    caPem: s.caPem,
    adminCertPem: s.admin.certPem,
    adminKeyPem: s.admin.keyPem,
    binaries: s.binaries,
    pids: { etcd: s.etcd.pid ?? 0, kubeApiserver: s.api.pid ?? 0 },
    etcdUrl: s.etcdUrl,
    host: s.host,
    apiPort: s.apiPort,
    pkiFiles: s.pkiFiles,

    async kubectl(args, o = {}) {
      const kubeconfig = o.kubeconfig ?? o.user?.kubeconfigPath ?? s.kubeconfigPath;
      const env = { ...process.env, KUBECONFIG: kubeconfig };
      const r = await runCommand(s.binaries.kubectl, [`--kubeconfig=${kubeconfig}`, `--cache-dir=${kubectlCache}`, ...args], {
        input: o.input,
        timeoutMs: o.timeoutMs ?? 60_000,
        env,
      });
      if (o.check && r.code !== 0) {
        throw new Error(`kubectl ${args.join(' ')} exited ${r.code}:\n${r.stderr}${r.stdout}`);
      }
      return r;
    },

    request(method, apiPath, body, o = {}) {
      const tls = o.user ? { ca: s.caPem, cert: o.user.certPem, key: o.user.keyPem } : adminTls;
      return apiRequest(s.host, s.apiPort, tls, method, apiPath, body);
    },

    async createNamespace(prefix = 'test') {
      const name = uniqueName(prefix);
      const r = await cp.request('POST', '/api/v1/namespaces', {
        apiVersion: 'v1',
        kind: 'Namespace',
        metadata: { name, labels: { 'bulwark.dev/test': 'true' } },
      });
      if (r.status !== 201) throw new Error(`creating namespace ${name}: HTTP ${r.status} ${r.body}`);
      return name;
    },

    async createUser(name, groups = []) {
      if (!NAME_RE.test(name) || !groups.every((g) => NAME_RE.test(g))) {
        throw new Error(`user and group names must match ${NAME_RE}`);
      }
      const base = `user-${++userSeq}-${name.replace(/[^A-Za-z0-9_-]/g, '_')}`;
      const c = await issue(s.pki, base, { cn: name, orgs: groups }, 'client');
      const kubeconfigPath = path.join(s.dir, `${base}.kubeconfig`);
      await writeFile(kubeconfigPath, kubeconfigYaml(s.server, s.caPem, name, c.certPem, c.keyPem), { mode: 0o600 });
      return { name, groups, certPem: c.certPem, keyPem: c.keyPem, kubeconfigPath };
    },

    stop() {
      stopping ??= (async () => {
        if (s.entry.reaper) killGroup(s.entry.reaper, 'SIGKILL');
        if (s.api.pid) await stopGroup(s.api.pid);
        if (s.etcd.pid) await stopGroup(s.etcd.pid);
        await Promise.all([waitExit(s.api, s.api.pid ?? 0, 2_000), waitExit(s.etcd, s.etcd.pid ?? 0, 2_000)]);
        live.delete(s.entry);
        if (s.published) {
          try {
            if ((await readFile(s.published, 'utf8')) === s.kubeconfigText) await rm(s.published, { force: true });
          } catch {
            /* gone already */
          }
        }
        if (s.removeDirOnStop) await rm(s.dir, { recursive: true, force: true });
      })();
      return stopping;
    },
  };
  return cp;
}
