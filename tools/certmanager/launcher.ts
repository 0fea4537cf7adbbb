// The real cert-manager controller for tests, run as a host process against a running control
// plane (tools/controlplane/launcher.ts). See docs/testing.md, "cert-manager".
//
//   const cp = await startControlPlane();
//   const cm = await startCertManager(cp);      // installs the CRDs, waits until the caches synced
//   ... apply Issuers and Certificates with cp.kubectl ...
//   await cm.stop();
//
// The binary and the CRDs come from scripts/certmanager-build.sh (built once from the pinned
// tools/certmanager/go.mod into ${BULWARK_CACHE:-~/.cache/bulwark}/certmanager/<version>/).
//
// What differs from a cert-manager installed with its Helm chart: one process with no leader
// election; only the controllers in DEFAULT_CONTROLLERS (CA and self-signed issuers, the
// certificates-* controllers, the CertificateRequest approver); no webhook, because the plain
// control plane cannot call one. Without the webhook nothing checks a Certificate beyond the
// CRD's OpenAPI schema (cert-manager's own validation: a name to put in the certificate,
// renewBefore < duration, duration >= 1h, ...), and a CertificateRequest carries no requester
// (username, groups, uid): the approver approves every request for the issuers it knows.
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { alive, killGroup, logTail, repoRoot, runBuildScript, spawnLogged, stopGroup, type ControlPlane } from '../controlplane/launcher.ts';

/** The controllers started by default: enough to sign Certificates with a CA or self-signed Issuer. */
export const DEFAULT_CONTROLLERS = [
  'issuers',
  'clusterissuers',
  'certificates-trigger',
  'certificates-key-manager',
  'certificates-request-manager',
  'certificates-issuing',
  'certificates-readiness',
  'certificates-revision-manager',
  'certificaterequests-approver',
  'certificaterequests-issuer-ca',
  'certificaterequests-issuer-selfsigned',
] as const;

/** The line tools/certmanager/controller prints once every informer cache has synced. */
const READY_LINE = 'bulwark-certmanager: ready';

export interface CertManagerBuild {
  /** The pinned cert-manager version (tools/certmanager/go.mod). */
  version: string;
  /** The controller binary. */
  controller: string;
  /** Directory of cert-manager's CRDs (the module's deploy/crds/*.yaml). */
  crds: string;
}

/** scripts/certmanager-build.sh could not run because Go is not installed. */
export class GoMissingError extends Error {
  constructor() {
    super('Go is not installed: the cert-manager controller is built from its Go module (Go >= 1.26 needed); see docs/testing.md');
    this.name = 'GoMissingError';
  }
}

let buildPromise: Promise<CertManagerBuild> | undefined;

/** Builds the controller if needed (minutes the first time; progress on stderr) and returns where it is. */
export function ensureCertManager(): Promise<CertManagerBuild> {
  buildPromise ??= runBuild().catch((err: unknown) => {
    buildPromise = undefined;
    throw err;
  });
  return buildPromise;
}

async function runBuild(): Promise<CertManagerBuild> {
  const { code, values } = await runBuildScript('certmanager-build.sh');
  if (code === 3) throw new GoMissingError();
  if (code !== 0) throw new Error(`scripts/certmanager-build.sh failed (exit ${code}); its output is above`);
  const { CERTMANAGER_VERSION: version, CERTMANAGER_CONTROLLER: controller, CERTMANAGER_CRDS: crds } = values;
  if (!version || !controller || !crds) throw new Error(`scripts/certmanager-build.sh printed no paths: ${JSON.stringify(values)}`);
  return { version, controller, crds };
}

export interface StartCertManagerOptions {
  /** Controllers to run (default DEFAULT_CONTROLLERS). */
  controllers?: readonly string[];
  /** Watch only this namespace (default: all; ClusterIssuers then are not served). */
  namespace?: string;
  /** Namespace of the Secrets ClusterIssuers read (default kube-system). */
  clusterResourceNamespace?: string;
  /** klog verbosity (default 2: cert-manager's info level). */
  verbosity?: number;
  /** How long to wait for the CRDs and the caches (default 120 s). */
  readyTimeoutMs?: number;
}

export interface CertManager {
  version: string;
  pid: number;
  /** The controller's log file (stdout and stderr), in the control plane's directory: cert-manager.log, then cert-manager.2.log, ... */
  logs: string;
  /** The last lines of the log, for assertion messages. */
  logTail(lines?: number): string;
  /** Resident memory of the controller, in KiB (from /proc). */
  rssKiB(): number | undefined;
  /** Milliseconds from spawning the controller to its caches being synced. */
  startupMs: number;
  /** Stops the controller (SIGTERM, then SIGKILL) and its watchdog. The CRDs stay installed. */
  stop(): Promise<void>;
}

/** Kinds of cert-manager's CRDs, as `<plural>.<group>`. */
function crdNames(crdDir: string): string[] {
  return fs
    .readdirSync(crdDir)
    .filter((f) => f.endsWith('.yaml'))
    .map((f) => {
      const m = /^([a-z.-]+)_([a-z]+)\.yaml$/.exec(f);
      if (!m) throw new Error(`unexpected CRD file name ${f} in ${crdDir}`);
      return `${m[2]}.${m[1]}`;
    });
}

/** Applies cert-manager's CRDs (server-side: the Certificate CRD is too large for the last-applied annotation) and waits until they are Established. */
export async function installCertManagerCrds(cp: ControlPlane, build: CertManagerBuild, timeoutMs = 120_000): Promise<void> {
  await cp.kubectl(['apply', '--server-side', '--force-conflicts', '-f', build.crds], { check: true, timeoutMs });
  const names = crdNames(build.crds).map((n) => `crd/${n}`);
  await cp.kubectl(['wait', '--for=condition=Established', `--timeout=${Math.ceil(timeoutMs / 1000)}s`, ...names], { check: true, timeoutMs: timeoutMs + 5000 });
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * Installs cert-manager's CRDs into `cp` and starts its controller against it, as a host process
 * with the admin kubeconfig. Resolves once every informer cache has synced.
 */
export async function startCertManager(cp: ControlPlane, opts: StartCertManagerOptions = {}): Promise<CertManager> {
  const build = await ensureCertManager();
  const timeoutMs = opts.readyTimeoutMs ?? 120_000;
  await installCertManagerCrds(cp, build, timeoutMs);

  // A log of its own per start: a second controller on the same control plane must not be taken
  // for ready by the first one's ready line.
  let logFile = path.join(cp.dir, 'cert-manager.log');
  for (let n = 2; fs.existsSync(logFile); n++) logFile = path.join(cp.dir, `cert-manager.${n}.log`);
  const args = [
    `--kubeconfig=${cp.kubeconfigPath}`,
    `--controllers=${(opts.controllers ?? DEFAULT_CONTROLLERS).join(',')}`,
    `--cluster-resource-namespace=${opts.clusterResourceNamespace ?? 'kube-system'}`,
    `--v=${opts.verbosity ?? 2}`,
    ...(opts.namespace ? [`--namespace=${opts.namespace}`] : []),
  ];
  const started = Date.now();
  const child = spawnLogged(build.controller, args, logFile, false);
  const pid = child.pid;
  if (pid === undefined) throw new Error(`could not start ${build.controller}`);
  const reaper = startReaper(pid);
  const onExit = () => {
    killGroup(pid, 'SIGKILL');
    if (reaper) killGroup(reaper, 'SIGKILL');
  };
  process.on('exit', onExit);

  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    process.off('exit', onExit);
    await stopGroup(pid, 10_000);
    if (reaper) killGroup(reaper, 'SIGKILL');
  };

  try {
    await waitForReady(child, pid, logFile, started + timeoutMs);
  } catch (err) {
    await stop();
    throw err;
  }
  const startupMs = Date.now() - started;
  return {
    version: build.version,
    pid,
    logs: logFile,
    logTail: (lines = 40) => logTail(logFile, lines),
    rssKiB: () => rssKiB(pid),
    startupMs,
    stop,
  };
}

async function waitForReady(child: ChildProcess, pid: number, logFile: string, deadline: number): Promise<void> {
  for (;;) {
    let text = '';
    try {
      text = fs.readFileSync(logFile, 'utf8');
    } catch {
      /* not yet */
    }
    if (text.includes(READY_LINE)) return;
    if (child.exitCode !== null || child.signalCode !== null || !alive(pid)) {
      throw new Error(`the cert-manager controller exited before it was ready; last lines of ${logFile}:\n${logTail(logFile, 40)}`);
    }
    if (Date.now() > deadline) throw new Error(`the cert-manager controller was not ready in time; last lines of ${logFile}:\n${logTail(logFile, 40)}`);
    await sleep(100);
  }
}

function rssKiB(pid: number): number | undefined {
  try {
    const m = /^VmRSS:\s+(\d+) kB/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m?.[1] ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

/** A detached shell that kills the controller's process group when this Node process dies (SIGKILL included). */
function startReaper(pgid: number): number | undefined {
  const script = 'parent=$1; g=$2\nwhile kill -0 "$parent" 2>/dev/null; do sleep 1; done\nkill -TERM -"$g" 2>/dev/null; sleep 3; kill -KILL -"$g" 2>/dev/null\n';
  const child = spawn('/bin/sh', ['-c', script, 'bulwark-certmanager-reaper', String(process.pid), String(pgid)], { detached: true, stdio: 'ignore' });
  child.on('error', () => {});
  child.unref();
  return child.pid;
}
