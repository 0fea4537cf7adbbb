// A long-lived local Kubernetes for manual use: by default the whole single-node cluster of
// tools/node/launcher.ts (etcd, kube-apiserver, kube-controller-manager, kube-scheduler,
// containerd, kubelet on the bridge bwk0) with Bulwark installed on it (CRDs, RBAC, the operator,
// a default StorageClass, the BrokerCluster of examples/kubernetes/ Ready, a client host and the
// cluster's CA for kcat: tools/node/local-cluster.ts), or with --control-plane-only just etcd +
// kube-apiserver (no root needed, nothing installed).
//
//   tsx scripts/cluster.ts up [--control-plane-only] [--wait-for-bridge=<s>]
//                          start it in the background, print how to reach the brokers and `export KUBECONFIG=...`
//   tsx scripts/cluster.ts down      stop it and remove everything it created (client host and CA file included)
//   tsx scripts/cluster.ts status    each component: running or not; rewrites the client host's /etc/hosts
//   tsx scripts/cluster.ts hosts     rewrites the client host's /etc/hosts from the pods' current IPs
//
// State: the node in ${BULWARK_CACHE:-~/.cache/bulwark}/node/run/ (state.json, kubeconfig,
// bulwark.json, the example cluster's CA file, node/ with logs/, cp/, containerd and kubelet
// data); the control-plane-only cluster in ${BULWARK_CACHE}/controlplane/run/ (state.json,
// kubeconfig, cluster/).
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
import { installBulwark } from '../tools/node/bulwark-install.ts';
import {
  createDefaultStorage,
  currentBrokerHostEntries,
  EXAMPLE,
  howToReach,
  LocalBulwarkState,
  readClusterCa,
  waitForBrokerCluster,
  kcatCommand,
  type Kubectl,
} from '../tools/node/local-cluster.ts';
import { hostsFile } from '../tools/node/network.ts';
import { ensureBinaries, repoRoot, runCommand } from '../tools/controlplane/launcher.ts';

// ---------------------------------------------------------------------------------------------
// The node cluster

const nodeRunDir = () => path.join(cacheRoot(), 'node', 'run');
const nodeStateFile = () => path.join(nodeRunDir(), 'state.json');
const nodeKubeconfig = () => path.join(nodeRunDir(), 'kubeconfig');
const nodeDir = () => path.join(nodeRunDir(), 'node');
const bulwarkStateFile = () => path.join(nodeRunDir(), 'bulwark.json');
const caFile = () => path.join(nodeRunDir(), `${EXAMPLE.cluster}-ca.crt`);
/**
 * PersistentVolumes cluster:up makes for the default StorageClass: the example's broker and room
 * for examples/policy's three (20Gi claims). hostPath enforces no size, so the capacity is only
 * what claims are matched against; the data lives on this machine's disk.
 */
const LOCAL_VOLUMES = { count: 6, size: '20Gi' };

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
  await rm(bulwarkStateFile(), { force: true });
  await rm(caFile(), { force: true });
  await rm(nodeKubeconfig(), { force: true });
  await rm(nodeDir(), { recursive: true, force: true });
}

function readBulwarkState(): LocalBulwarkState | undefined {
  let text: string;
  try {
    text = fs.readFileSync(bulwarkStateFile(), 'utf8');
  } catch {
    return undefined;
  }
  const parsed = LocalBulwarkState.safeParse(JSON.parse(text));
  if (!parsed.success) throw new Error(`${bulwarkStateFile()} is not what cluster:up writes (${parsed.error.issues.map((i) => i.path.join('.')).join(', ')}); npm run cluster:down && npm run cluster:up`);
  return parsed.data;
}

/** kubectl on a kubeconfig, for the commands that run after `up` returned (no node handle). */
async function kubectlFor(kubeconfig: string): Promise<Kubectl> {
  const { kubectl } = await ensureBinaries();
  return (args, o = {}) => runCommand(kubectl, [`--kubeconfig=${kubeconfig}`, ...args], { input: o.input, timeoutMs: o.timeoutMs ?? 60_000 });
}

/** Rewrites the client host's /etc/hosts (ip netns exec mounts /etc/netns/<name>/hosts over it) from the pods' current IPs. */
async function refreshHosts(kubectl: Kubectl, b: LocalBulwarkState): Promise<Record<string, string>> {
  const entries = await currentBrokerHostEntries(kubectl, b.namespace, b.cluster);
  const etcDir = path.join('/etc/netns', b.clientHost.name);
  if (!fs.existsSync(etcDir)) throw new Error(`the client host ${b.clientHost.name} is gone (${etcDir} missing); npm run cluster:down && npm run cluster:up`);
  await writeFile(path.join(etcDir, 'hosts'), hostsFile(entries));
  return entries;
}

async function nodeUp(waitForBridgeMs: number): Promise<void> {
  const st = readNodeState();
  if (st) {
    const comps = componentStates(st);
    if (comps.every((c) => c.up)) {
      console.error(`cluster: already running at ${st.server} (node ${st.nodeName}); logs in ${st.logs.dir}`);
      const b = readBulwarkState();
      if (b) {
        const hosts = await refreshHosts(await kubectlFor(st.kubeconfigPath), b);
        for (const line of howToReach(b, hosts, st.kubeconfigPath)) console.error(line);
      } else console.error('cluster: Bulwark is not (fully) installed on it: npm run cluster:down && npm run cluster:up');
      console.log(`export KUBECONFIG=${st.kubeconfigPath}`);
      return;
    }
    console.error(`cluster: found a half-running cluster (down: ${comps.filter((c) => !c.up).map((c) => c.name).join(', ')}); cleaning it up`);
    await nodeDown(true);
  }
  await mkdir(nodeRunDir(), { recursive: true });
  console.error('cluster: starting the single-node cluster (the first run builds the binaries; that takes minutes)...');
  const node = await startNode({ dir: nodeDir(), detached: true, publishKubeconfig: nodeKubeconfig(), purpose: 'npm run cluster:up', keepDir: true, waitForBridgeMs });
  const state: NodeRunState = { ...node.runState(), kubeconfigPath: nodeKubeconfig() };
  await writeFile(nodeStateFile(), JSON.stringify(state, null, 2) + '\n');
  console.error(`cluster: node ${node.nodeName} Ready; API server ${node.server} (pods reach it there too); logs in ${node.logs.dir} and ${path.dirname(node.logs.etcd)}`);
  const t0 = Date.now();
  const say = (msg: string) => console.error(`cluster: ${msg} (${((Date.now() - t0) / 1000).toFixed(0)} s)`);
  try {
    say('building (or reusing) the broker image, importing it, installing the CRDs, RBAC and the operator');
    const installed = await installBulwark(node, { operatorReplicas: 1 });
    say(`operator available (image ${installed.image.name})`);
    await createDefaultStorage(node.kubectl, path.join(nodeDir(), 'volumes'), LOCAL_VOLUMES.count, LOCAL_VOLUMES.size);
    say(`default StorageClass bulwark-local with ${LOCAL_VOLUMES.count} hostPath PersistentVolumes of ${LOCAL_VOLUMES.size} (nominal)`);
    const applied = await node.kubectl(['apply', '--server-side', '-f', path.join(repoRoot, EXAMPLE.dir)], { timeoutMs: 120_000 });
    if (applied.code !== 0) throw new Error(`kubectl apply -f ${EXAMPLE.dir} failed: ${applied.stderr.trim()}`);
    for (const line of applied.stdout.trim().split('\n')) say(`applied ${line}`);
    const bootstrap = await waitForBrokerCluster(node.kubectl, EXAMPLE.namespace, EXAMPLE.cluster, EXAMPLE.listener, say);
    await writeFile(caFile(), await readClusterCa(node.kubectl, EXAMPLE.namespace, EXAMPLE.cluster));
    const host = await node.clientHost();
    const b: LocalBulwarkState = { namespace: EXAMPLE.namespace, cluster: EXAMPLE.cluster, bootstrap, clientHost: { name: host.name, ip: host.ip }, caFile: caFile(), image: installed.image.name };
    await writeFile(bulwarkStateFile(), JSON.stringify(b, null, 2) + '\n');
    const hosts = await refreshHosts(node.kubectl, b);
    console.error('');
    for (const line of howToReach(b, hosts, state.kubeconfigPath)) console.error(line);
  } catch (err) {
    // The node stays up so that what failed can be looked at.
    console.error(`cluster: installing Bulwark failed; the node is still running (export KUBECONFIG=${state.kubeconfigPath}; logs in ${node.logs.dir}, pod logs with kubectl logs); npm run cluster:down removes it`);
    throw err;
  }
  console.log(`export KUBECONFIG=${state.kubeconfigPath}`);
}

async function nodeStatus(st: NodeRunState): Promise<number> {
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
  let bulwarkOk = true;
  const b = readBulwarkState();
  if (b && allUp) {
    try {
      const hosts = await refreshHosts(await kubectlFor(st.kubeconfigPath), b);
      const names = Object.keys(hosts).filter((n) => n.endsWith('.svc'));
      console.log(`  BrokerCluster ${b.namespace}/${b.cluster}: client host ${b.clientHost.name} /etc/hosts rewritten (${names.map((n) => `${n} ${hosts[n]}`).join(', ') || 'no pod has an IP'})`);
      console.log(`  ${kcatCommand(b).line}`);
    } catch (err) {
      bulwarkOk = false;
      console.log(`  BrokerCluster ${b.namespace}/${b.cluster}: ${err instanceof Error ? err.message : String(err)}`);
    }
  } else if (!b) console.log('  Bulwark: not installed by cluster:up');
  console.log(`export KUBECONFIG=${st.kubeconfigPath}`);
  if (!allUp) console.log('run: npm run cluster:down && npm run cluster:up');
  return allUp && bulwarkOk ? 0 : 1;
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
      const wait = flags.find((f) => f.startsWith('--wait-for-bridge='));
      const seconds = wait ? Number(wait.slice('--wait-for-bridge='.length)) : 0;
      if (!Number.isFinite(seconds) || seconds < 0) throw new Error(`--wait-for-bridge takes seconds, not ${JSON.stringify(wait)}`);
      await nodeUp(seconds * 1000);
    }
    return 0;
  }
  if (cmd === 'hosts') {
    const st = readNodeState();
    const b = readBulwarkState();
    if (!st || !b) throw new Error('no cluster:up cluster with Bulwark is running (npm run cluster:up)');
    const hosts = await refreshHosts(await kubectlFor(st.kubeconfigPath), b);
    for (const [n, ip] of Object.entries(hosts)) console.log(`${ip} ${n}`);
    console.error(`cluster: wrote /etc/netns/${b.clientHost.name}/hosts`);
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
    if (node) code = Math.max(code, await nodeStatus(node));
    if (cp) code = Math.max(code, cpStatus(cp));
    return code;
  }
  console.error('usage: tsx scripts/cluster.ts up [--control-plane-only] [--wait-for-bridge=<seconds>] | down | status | hosts');
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
