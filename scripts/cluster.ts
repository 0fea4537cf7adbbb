// A long-lived local control plane (etcd + kube-apiserver) for manual use.
//
//   tsx scripts/cluster.ts up       start it in the background, print `export KUBECONFIG=...`
//   tsx scripts/cluster.ts down     stop it and remove its data
//   tsx scripts/cluster.ts status   say whether it is running
//
// State lives in ${BULWARK_CACHE:-~/.cache/bulwark}/controlplane/run/ (state.json, kubeconfig,
// cluster/ with certificates, etcd data and logs).
import * as fs from 'node:fs';
import { rm, writeFile, mkdir } from 'node:fs/promises';
import * as path from 'node:path';
import {
  alive,
  readControlPlaneRunState,
  runDir,
  startControlPlane,
  stateFile,
  stopGroup,
  type ControlPlaneRunState,
} from '../tools/controlplane/launcher.ts';

const kubeconfig = () => path.join(runDir(), 'kubeconfig');
const clusterDir = () => path.join(runDir(), 'cluster');

/** Alive and still the program we started (guards against pid reuse). */
function ours(pid: number, name: string): boolean {
  if (!pid || !alive(pid)) return false;
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')[0]?.endsWith(name) ?? false;
  } catch {
    return true; // no /proc (macOS): trust the pid
  }
}

function running(st: ControlPlaneRunState): { api: boolean; etcd: boolean } {
  return { api: ours(st.pids.kubeApiserver, 'kube-apiserver'), etcd: ours(st.pids.etcd, 'etcd') };
}

async function down(quiet = false): Promise<void> {
  const st = readControlPlaneRunState();
  if (st) {
    const r = running(st);
    if (r.api) await stopGroup(st.pids.kubeApiserver);
    if (r.etcd) await stopGroup(st.pids.etcd);
    if (!quiet) console.error(r.api || r.etcd ? 'cluster: stopped' : 'cluster: was not running; cleaned up');
  } else if (!quiet) {
    console.error('cluster: not running');
  }
  await rm(st?.dir ?? clusterDir(), { recursive: true, force: true });
  await rm(kubeconfig(), { force: true });
  await rm(stateFile(), { force: true });
}

async function up(): Promise<void> {
  const st = readControlPlaneRunState();
  if (st) {
    const r = running(st);
    if (r.api && r.etcd) {
      console.error(`cluster: already running at ${st.server} (pids ${st.pids.kubeApiserver}, ${st.pids.etcd})`);
      console.log(`export KUBECONFIG=${st.kubeconfigPath}`);
      return;
    }
    console.error('cluster: found a stale or half-running cluster; cleaning it up');
    await down(true);
  }
  await rm(clusterDir(), { recursive: true, force: true });
  await mkdir(runDir(), { recursive: true });
  console.error('cluster: starting etcd and kube-apiserver (the first run builds them; that takes minutes)...');
  const cp = await startControlPlane({ dir: clusterDir(), detached: true, publishKubeconfig: kubeconfig() });
  const state: ControlPlaneRunState = {
    dir: cp.dir,
    kubeconfigPath: kubeconfig(),
    server: cp.server,
    pids: cp.pids,
    startedAt: new Date().toISOString(),
  };
  await writeFile(stateFile(), JSON.stringify(state, null, 2) + '\n');
  console.error(`cluster: ready at ${cp.server}; logs in ${cp.dir}; stop it with: npm run cluster:down`);
  console.log(`export KUBECONFIG=${state.kubeconfigPath}`);
}

function status(): number {
  const st = readControlPlaneRunState();
  if (!st) {
    console.log('cluster: not running');
    return 1;
  }
  const r = running(st);
  if (r.api && r.etcd) {
    console.log(`cluster: running at ${st.server} since ${st.startedAt}`);
    console.log(`export KUBECONFIG=${st.kubeconfigPath}`);
    return 0;
  }
  console.log(`cluster: not running (kube-apiserver ${r.api ? 'up' : 'down'}, etcd ${r.etcd ? 'up' : 'down'}); run: npm run cluster:down`);
  return 1;
}

const cmd = process.argv[2];
try {
  if (cmd === 'up') {
    await up();
    process.exit(0); // the control plane runs on, detached
  } else if (cmd === 'down') {
    await down();
  } else if (cmd === 'status') {
    process.exitCode = status();
  } else {
    console.error('usage: tsx scripts/cluster.ts up|down|status');
    process.exitCode = 2;
  }
} catch (err) {
  console.error(`cluster: ${err instanceof Error ? err.message : String(err)}`);
  process.exitCode = 1;
}
