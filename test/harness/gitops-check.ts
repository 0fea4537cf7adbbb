// What Argo CD and Flux would say about objects, through bulwark-gitops-check (tools/gitops): the
// Argo CD health script run in gopher-lua the way Argo CD runs custom checks, and kstatus from
// sigs.k8s.io/cli-utils. The binary is built once by scripts/gitops-build.sh (minutes the first
// time, progress on stderr; Go >= 1.26 needed). A check that errs fails the call.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { repoRoot, runBuildScript } from '../../tools/controlplane/launcher.ts';

/** The script every bulwark.dev kind's Argo CD health check holds. */
export const HEALTH_LUA = join(repoRoot, 'gitops', 'argocd', 'health.lua');

export type ArgocdHealthStatus = 'Healthy' | 'Progressing' | 'Degraded' | 'Suspended' | 'Missing' | 'Unknown';
export type KstatusStatus = 'Current' | 'InProgress' | 'Failed' | 'Terminating' | 'NotFound' | 'Unknown';

export interface CheckResult<S extends string> {
  kind: string;
  name: string;
  status: S;
  message: string;
}

let binPromise: Promise<string> | undefined;

/** The path of bulwark-gitops-check, built if needed. */
export function ensureGitopsCheck(): Promise<string> {
  binPromise ??= (async () => {
    const { code, values } = await runBuildScript('gitops-build.sh');
    if (code === 3) throw new Error('Go is not installed: bulwark-gitops-check is built from tools/gitops (Go >= 1.26)');
    if (code !== 0) throw new Error(`scripts/gitops-build.sh failed (exit ${code}); its output is above`);
    if (!values.GITOPS_BIN) throw new Error(`scripts/gitops-build.sh printed no GITOPS_BIN: ${JSON.stringify(values)}`);
    return join(values.GITOPS_BIN, 'bulwark-gitops-check');
  })().catch((err: unknown) => {
    binPromise = undefined;
    throw err;
  });
  return binPromise;
}

async function runCheck<S extends string>(args: string[], objects: readonly unknown[]): Promise<CheckResult<S>[]> {
  const bin = await ensureGitopsCheck();
  const { code, stdout, stderr } = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve, reject) => {
    const child = execFile(bin, args, { timeout: 60_000, maxBuffer: 64 * 1024 * 1024, encoding: 'utf8' }, (err, out, errOut) => {
      if (err && typeof (err as NodeJS.ErrnoException).code === 'string') return reject(err);
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout: out, stderr: errOut });
    });
    child.stdin!.end(JSON.stringify(objects));
  });
  const lines = stdout.split('\n').filter((l) => l.trim() !== '');
  if (code !== 0) throw new Error(`bulwark-gitops-check ${args.join(' ')} exited ${code}: ${stderr.trim()}\n${lines.join('\n')}`);
  const results = lines.map((l) => JSON.parse(l) as CheckResult<S>);
  if (results.length !== objects.length) throw new Error(`bulwark-gitops-check ${args[0]}: ${results.length} results for ${objects.length} objects`);
  return results;
}

/** Argo CD's health of each object under `script` (default gitops/argocd/health.lua), in order. */
export function argocdHealth(objects: readonly unknown[], script = HEALTH_LUA): Promise<CheckResult<ArgocdHealthStatus>[]> {
  return runCheck(['argocd-health', script], objects);
}

/** kstatus's status of each object (what Flux waits on), in order. */
export function kstatus(objects: readonly unknown[]): Promise<CheckResult<KstatusStatus>[]> {
  return runCheck(['kstatus'], objects);
}
