// A long-lived local Kubernetes for manual use: by default the whole single-node cluster of
// tools/node/launcher.ts (etcd, kube-apiserver, kube-controller-manager, kube-scheduler,
// containerd, kubelet on the bridge bwk0), or with --control-plane-only just etcd + kube-apiserver
// (no root needed).
//
//   tsx scripts/cluster.ts up [--control-plane-only]   start it in the background, print `export KUBECONFIG=...`
//   tsx scripts/cluster.ts down                         stop it and remove everything it created
//   tsx scripts/cluster.ts status                       each component: running or not
//
// State: the node in ${BULWARK_CACHE:-~/.cache/bulwark}/node/run/ (state.json, kubeconfig, node/
// with logs/, cp/, containerd and kubelet data); the control-plane-only cluster in
// ${BULWARK_CACHE}/controlplane/run/ (state.json, kubeconfig, cluster/).
import * as fs from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import {
  alive,
  cacheRoot,
  readControlPlaneRunState,
  runDir,
  startControlPlane,
  stateFile,
  stopGroup,
  type ControlPlaneRunState,
} from '../tools/controlplane/launcher.ts';
import { cleanupNodeDir, nodeUnavailableReason, startNode, stopNodeFromState, type NodePids, type NodeRunState } from '../tools/node/launcher.ts';
import { readLock } from '../tools/node/lock.ts';

// ---------------------------------------------------------------------------------------------
// The node cluster

const nodeRunDir = () => path.join(cacheRoot(), 'node', 'run');
const nodeStateFile = () => path.join(nodeRunDir(), 'state.json');
const nodeKubeconfig = () => path.join(nodeRunDir(), 'kubeconfig');
const nodeDir = () => path.join(nodeRunDir(), 'node');

const COMPONENT_BINARIES: Record<keyof NodePids, string> = {
  etcd: 'etcd',
  kubeApiserver: 'kube-apiserver',
  kubeControllerManager: 'kube-controller-manager',
  kubeScheduler: 'kube-scheduler',
  containerd: 'containerd',
  kubelet: 'kubelet',
};

function readNodeState(): NodeRunState | undefined {
  try {
    return JSON.parse(fs.readFileSync(nodeStateFile(), 'utf8')) as NodeRunState;
  } catch {
    return undefined;
  }
}

/** Alive and still the program we started (guards against pid reuse). */
function ours(pid: number, name: string): boolean {
  if (!pid || !alive(pid)) return false;
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')[0]?.endsWith(name) ?? false;
  } catch {
    return true; // no /proc: trust the pid
  }
}

function componentStates(st: NodeRunState): Array<{ name: string; pid: number; up: boolean }> {
  return (Object.keys(COMPONENT_BINARIES) as Array<keyof NodePids>).map((k) => ({
    name: COMPONENT_BINARIES[k],
    pid: st.pids[k],
    up: ours(st.pids[k], COMPONENT_BINARIES[k]),
  }));
}

async function nodeDown(quiet: boolean): Promise<void> {
  const st = readNodeState();
  if (st) {
    const comps = componentStates(st);
    // Only pids that are still our programs are signalled.
    const pids = Object.fromEntries((Object.keys(COMPONENT_BINARIES) as Array<keyof NodePids>).map((k) => [k, ours(st.pids[k], COMPONENT_BINARIES[k]) ? st.pids[k] : 0])) as unknown as NodePids;
    await stopNodeFromState({ ...st, pids });
    if (!quiet) console.error(comps.some((c) => c.up) ? 'cluster: node stopped and cleaned up' : 'cluster: node was not running; cleaned up');
  } else {
    // No state (a start killed half-way): clean up the dir and the bridge if the lock is not live.
    const lock = readLock('bwk0');
    if (lock && lock.dir === nodeDir() && lock.pids.some((p) => alive(p))) {
      throw new Error(`the node in ${nodeDir()} is still starting or running without a state file (pids ${lock.pids.join(',')}); stop those processes first`);
    }
    if (fs.existsSync(nodeDir())) {
      await cleanupNodeDir(nodeDir());
      if (lock?.dir === nodeDir()) fs.rmSync(path.join('/run/bulwark-node', 'bwk0.lock'), { force: true });
      if (!quiet) console.error('cluster: removed the leftovers of a node that had no state file');
    }
  }
  await rm(nodeStateFile(), { force: true });
  await rm(nodeKubeconfig(), { force: true });
  await rm(nodeDir(), { recursive: true, force: true });
}

async function nodeUp(): Promise<void> {
  const st = readNodeState();
  if (st) {
    const comps = componentStates(st);
    if (comps.every((c) => c.up)) {
      console.error(`cluster: already running at ${st.server} (node ${st.nodeName}); logs in ${st.logs.dir}`);
      console.log(`export KUBECONFIG=${st.kubeconfigPath}`);
      return;
    }
    console.error(`cluster: found a half-running cluster (down: ${comps.filter((c) => !c.up).map((c) => c.name).join(', ')}); cleaning it up`);
    await nodeDown(true);
  }
  await mkdir(nodeRunDir(), { recursive: true });
  console.error('cluster: starting the single-node cluster (the first run builds the binaries; that takes minutes)...');
  const node = await startNode({ dir: nodeDir(), detached: true, publishKubeconfig: nodeKubeconfig(), purpose: 'npm run cluster:up', keepDir: true });
  const state: NodeRunState = { ...node.runState(), kubeconfigPath: nodeKubeconfig() };
  await writeFile(nodeStateFile(), JSON.stringify(state, null, 2) + '\n');
  console.error(`cluster: node ${node.nodeName} Ready; API server ${node.server} (pods reach it there too); logs in ${node.logs.dir} and ${path.dirname(node.logs.etcd)}`);
  console.error('cluster: import images with: ctr --address ' + state.containerdSocket + ' -n k8s.io images import <oci-archive>');
  console.error('cluster: stop it with: npm run cluster:down');
  console.log(`export KUBECONFIG=${state.kubeconfigPath}`);
}

function nodeStatus(st: NodeRunState): number {
  const comps = componentStates(st);
  const allUp = comps.every((c) => c.up);
  console.log(`cluster: node ${st.nodeName} on ${st.bridge.name} (${st.bridge.cidr}), API server ${st.server}, started ${st.startedAt}: ${allUp ? 'running' : 'DEGRADED'}`);
  for (const c of comps) {
    let rss = '';
    if (c.up) {
      const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${c.pid}/status`, 'utf8'));
      if (m) rss = `  ${Math.round(Number(m[1]) / 1024)} MiB`;
    }
    console.log(`  ${c.name.padEnd(24)} pid ${String(c.pid).padEnd(8)} ${c.up ? 'up' : 'DOWN'}${rss}`);
  }
  console.log(`  logs: ${st.logs.dir} (node), ${path.dirname(st.logs.etcd)} (etcd, kube-apiserver)`);
  console.log(`export KUBECONFIG=${st.kubeconfigPath}`);
  if (!allUp) console.log('run: npm run cluster:down && npm run cluster:up');
  return allUp ? 0 : 1;
}

// ---------------------------------------------------------------------------------------------
// The control-plane-only cluster (etcd + kube-apiserver)

const cpKubeconfig = () => path.join(runDir(), 'kubeconfig');
const cpClusterDir = () => path.join(runDir(), 'cluster');

function cpRunning(st: ControlPlaneRunState): { api: boolean; etcd: boolean } {
  return { api: ours(st.pids.kubeApiserver, 'kube-apiserver'), etcd: ours(st.pids.etcd, 'etcd') };
}

async function cpDown(quiet: boolean): Promise<void> {
  const st = readControlPlaneRunState();
  if (st) {
    const r = cpRunning(st);
    if (r.api) await stopGroup(st.pids.kubeApiserver);
    if (r.etcd) await stopGroup(st.pids.etcd);
    if (!quiet) console.error(r.api || r.etcd ? 'cluster: control plane stopped' : 'cluster: control plane was not running; cleaned up');
  }
  await rm(st?.dir ?? cpClusterDir(), { recursive: true, force: true });
  await rm(cpKubeconfig(), { force: true });
  await rm(stateFile(), { force: true });
}

async function cpUp(): Promise<void> {
  const st = readControlPlaneRunState();
  if (st) {
    const r = cpRunning(st);
    if (r.api && r.etcd) {
      console.error(`cluster: control plane already running at ${st.server} (pids ${st.pids.kubeApiserver}, ${st.pids.etcd})`);
      console.log(`export KUBECONFIG=${st.kubeconfigPath}`);
      return;
    }
    console.error('cluster: found a stale or half-running control plane; cleaning it up');
    await cpDown(true);
  }
  await rm(cpClusterDir(), { recursive: true, force: true });
  await mkdir(runDir(), { recursive: true });
  console.error('cluster: starting etcd and kube-apiserver only (no node: pods are not run)...');
  const cp = await startControlPlane({ dir: cpClusterDir(), detached: true, publishKubeconfig: cpKubeconfig() });
  const state: ControlPlaneRunState = { dir: cp.dir, kubeconfigPath: cpKubeconfig(), server: cp.server, pids: cp.pids, startedAt: new Date().toISOString() };
  await writeFile(stateFile(), JSON.stringify(state, null, 2) + '\n');
  console.error(`cluster: ready at ${cp.server}; logs in ${cp.dir}; stop it with: npm run cluster:down`);
  console.log(`export KUBECONFIG=${state.kubeconfigPath}`);
}

function cpStatus(st: ControlPlaneRunState): number {
  const r = cpRunning(st);
  console.log(`cluster: control plane only, ${st.server}, started ${st.startedAt}`);
  console.log(`  ${'kube-apiserver'.padEnd(24)} pid ${String(st.pids.kubeApiserver).padEnd(8)} ${r.api ? 'up' : 'DOWN'}`);
  console.log(`  ${'etcd'.padEnd(24)} pid ${String(st.pids.etcd).padEnd(8)} ${r.etcd ? 'up' : 'DOWN'}`);
  console.log(`export KUBECONFIG=${st.kubeconfigPath}`);
  return r.api && r.etcd ? 0 : 1;
}

// ---------------------------------------------------------------------------------------------

async function main(cmd: string | undefined, flags: string[]): Promise<number> {
  if (cmd === 'up') {
    if (flags.includes('--control-plane-only')) await cpUp();
    else {
      const reason = nodeUnavailableReason();
      if (reason) throw new Error(`${reason}; use: tsx scripts/cluster.ts up --control-plane-only (etcd + kube-apiserver, no pods)`);
      await nodeUp();
    }
    return 0;
  }
  if (cmd === 'down') {
    const hadNode = readNodeState() !== undefined || fs.existsSync(nodeDir());
    const hadCp = readControlPlaneRunState() !== undefined;
    if (hadNode) await nodeDown(false);
    if (hadCp) await cpDown(false);
    if (!hadNode && !hadCp) console.error('cluster: not running');
    return 0;
  }
  if (cmd === 'status') {
    const node = readNodeState();
    const cp = readControlPlaneRunState();
    if (!node && !cp) {
      console.log('cluster: not running');
      return 1;
    }
    let code = 0;
    if (node) code = Math.max(code, nodeStatus(node));
    if (cp) code = Math.max(code, cpStatus(cp));
    return code;
  }
  console.error('usage: tsx scripts/cluster.ts up [--control-plane-only] | down | status');
  return 2;
}

try {
  const code = await main(process.argv[2], process.argv.slice(3));
  // After `up` the cluster runs on, detached; exit without waiting for anything else.
  process.exit(code);
} catch (err) {
  console.error(`cluster: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
}
