// The helm CLI for the chart's tests: built once by scripts/helm-build.sh from the pinned
// tools/helm/go.mod into ${BULWARK_CACHE:-~/.cache/bulwark}/helm/<version>/ (minutes the first
// time, progress on stderr), then run as a plain command.
import { join } from 'node:path';
import { repoRoot, runBuildScript, runCommand, type KubectlResult } from '../controlplane/launcher.ts';

export const CHART_DIR = join(repoRoot, 'helm', 'bulwark');

let helmPromise: Promise<string> | undefined;

/** The path of the helm binary, building it first if needed. Fails when it cannot be built (no Go). */
export function ensureHelm(): Promise<string> {
  helmPromise ??= (async () => {
    const { code, values } = await runBuildScript('helm-build.sh');
    if (code === 3) throw new Error('Go is not installed: helm is built from its Go module (Go >= 1.26 needed); see docs/helm.md');
    if (code !== 0 || !values.HELM_BIN) throw new Error(`scripts/helm-build.sh failed (exit ${code}); its output is above`);
    return join(values.HELM_BIN, 'helm');
  })().catch((err: unknown) => {
    helmPromise = undefined;
    throw err;
  });
  return helmPromise;
}

/** Runs helm with `args` (a non-zero exit is returned, not thrown). */
export async function helm(args: string[], opts: { timeoutMs?: number; env?: NodeJS.ProcessEnv } = {}): Promise<KubectlResult> {
  return runCommand(await ensureHelm(), args, { cwd: repoRoot, timeoutMs: opts.timeoutMs ?? 120_000, ...(opts.env ? { env: opts.env } : {}) });
}
