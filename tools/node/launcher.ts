// A real single-node Kubernetes for tests and for `npm run cluster:up`: the control plane of
// tools/controlplane/launcher.ts (bound to the node's bridge) plus kube-controller-manager,
// kube-scheduler, containerd (runc through runc-wrap) and a kubelet. See docs/testing.md,
// "The test node".
//
//   const node = await startNode();                 // ~15-30 s; progress lines on stderr
//   await node.importImage(archive);                // ctr -n k8s.io images import
//   await node.kubectl(['apply', '-f', '-'], { input });
//   const host = await node.clientHost();           // a client machine on the bridge
//   await node.stop();                              // removes everything it created
//
// Needs root and /usr/sbin/runc (see nodeUnavailableReason()); binaries come from
// scripts/controlplane-build.sh and scripts/node-build.sh. Only one node can own a bridge: a lock
// file in /run/bulwark-node/ names the holder. Everything lives in one directory (default
// /tmp/bulwark-node-<bridge>) except what containerd, the kubelet and CNI put elsewhere (runc
// state and shim sockets in /run/containerd, pod netns in /run/netns, kubepods cgroups,
// /var/log/containers links, three kernel sysctls the kubelet sets); cleanup.ts removes those.
import type { ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  freePorts,
  logTail,
  repoRoot,
  runBuildScript,
  SERVICE_CLUSTER_IP_RANGE,
  runCommand,
  spawnLogged,
  startControlPlane,
  stopGroup,
  type ControlPlane,
} from '../controlplane/launcher.ts';
import { runCleanup, startCleanupReaper, type CleanupTarget } from './cleanup.ts';
import { bridgeSpec, containerdConfig, cniConflist, kubeletConfig, nodeLayout, type BridgeSpec, type NodeLayout } from './config.ts';
import { writePauseImage } from './images.ts';
import { acquireBridgeLock, BridgeBusyError, updateLockPids } from './lock.ts';

export { BridgeBusyError } from './lock.ts';
import { createBridge, createClientHost, routeKubernetesService, type ClientHost } from './network.ts';

export type { ClientHost } from './network.ts';
export { TEST_APP_IMAGE, writeTestAppImage, cachedTestAppImage } from './images.ts';

export interface NodeOptions {
  /** The node's bridge (default `bwk0`, `10.244.77.0/24`; the gateway `.1` is the node IP). */
  bridge?: { name?: string; cidr?: string };
  /** Working directory (default /tmp/bulwark-node-<bridge>); emptied before start. */
  dir?: string;
  /** Node name (default `bulwark-node`). */
  nodeName?: string;
  /** Keep running after this process exits (cluster:up): no reaper. */
  detached?: boolean;
  /** Keep the dir (logs) after stop() (also BULWARK_KEEP_NODE=1). */
  keepDir?: boolean;
  /** See the control plane's `publishKubeconfig`. */
  publishKubeconfig?: string | false;
  /** Until the node is Ready and the default ServiceAccount exists (default 180 s). */
  startTimeoutMs?: number;
  /** Written into the lock file, shown to whoever finds the bridge busy. */
  purpose?: string;
  /**
   * How long to wait for another node to release the bridge before failing with BridgeBusyError
   * (default 0: fail at once). Test files that may run at the same time as another node test can
   * queue this way.
   */
  waitForBridgeMs?: number;
}

export interface NodeLogs {
  dir: string;
  etcd: string;
  kubeApiserver: string;
  kubeControllerManager: string;
  kubeScheduler: string;
  containerd: string;
  kubelet: string;
  /** The kubelet's pod log dir (`kubectl logs` reads the same files). */
  pods: string;
}

export interface NodePids {
  etcd: number;
  kubeApiserver: number;
  containerd: number;
  kubeControllerManager: number;
  kubeScheduler: number;
  kubelet: number;
}

export interface TestNode extends ControlPlane {
  nodeName: string;
  bridge: { name: string; cidr: string; gatewayIp: string };
  /** Directory with the node binaries (scripts/node-build.sh). */
  nodeBin: string;
  nodeDir: string;
  nodePids: NodePids;
  logs: NodeLogs;
  /** `ctr -n k8s.io images import <archive>` into the node's containerd. */
  importImage(ociArchivePath: string): Promise<void>;
  /** Gives an imported image another name (`ctr images tag --force`), as a pull of that name would. */
  tagImage(source: string, target: string): Promise<void>;
  /** The pod's IP (throws if it has none yet). */
  podIp(namespace: string, name: string): Promise<string>;
  /** A client machine on the bridge (see ClientHost); remove() it, or stop() does. */
  clientHost(): Promise<ClientHost>;
  /** What `cluster down` needs to stop a detached node from another process. */
  runState(): NodeRunState;
  /** Stops every component and removes everything the node created. */
  stop(): Promise<void>;
}

/** A detached node, as recorded by `cluster up` (state.json). */
export interface NodeRunState {
  dir: string;
  bridge: BridgeSpec;
  nodeName: string;
  server: string;
  kubeconfigPath: string;
  pids: NodePids;
  containerdSocket: string;
  containerdState: string;
  lockFile: string;
  logs: NodeLogs;
  startedAt: string;
}

/** Why a node cannot run on this machine at all, or undefined if it can. */
export function nodeUnavailableReason(): string | undefined {
  if (process.platform !== 'linux') return `the test node needs Linux (this is ${process.platform})`;
  if (typeof process.getuid === 'function' && process.getuid() !== 0) return 'the test node needs root (it creates a bridge, network namespaces, mounts and cgroups)';
  if (!fs.existsSync('/usr/sbin/runc')) return 'the test node needs /usr/sbin/runc (Debian package runc: apt-get install runc)';
  if (!fs.existsSync('/usr/sbin/nft')) return 'the test node needs /usr/sbin/nft (Debian package nftables: apt-get install nftables)';
  return undefined;
}

let nodeBinPromise: Promise<string> | undefined;

/** Runs scripts/node-build.sh (builds on first use; minutes) and returns NODE_BIN. */
export function ensureNodeBinaries(): Promise<string> {
  nodeBinPromise ??= (async () => {
    const { code, values } = await runBuildScript('node-build.sh');
    if (code !== 0 || !values.NODE_BIN) throw new Error(`scripts/node-build.sh failed (exit ${code}); run it by hand to see why`);
    return values.NODE_BIN;
  })().catch((err: unknown) => {
    nodeBinPromise = undefined;
    throw err;
  });
  return nodeBinPromise;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const exited = (c: ChildProcess) => c.exitCode !== null || c.signalCode !== null;

/** The sysctls the kubelet sets at start (protectKernelDefaults: false); restored on cleanup. */
const KUBELET_SYSCTLS = ['vm/overcommit_memory', 'kernel/panic', 'kernel/panic_on_oops'];

function cleanupTarget(dir: string, bridge: BridgeSpec, pgids: number[], removeDir: boolean, lockFile?: string): CleanupTarget {
  const l = nodeLayout(dir, '', '');
  return { dir, bridge, containerdSocket: l.containerdSocket, containerdState: l.containerdState, pgids, removeDir, lockFile };
}

/** Starts a single-node cluster and waits until the node is Ready. */
export async function startNode(opts: NodeOptions = {}): Promise<TestNode> {
  const t0 = Date.now();
  const progress = (msg: string) => process.stderr.write(`node: ${msg} (${((Date.now() - t0) / 1000).toFixed(1)} s)\n`);
  const reason = nodeUnavailableReason();
  if (reason) throw new Error(reason);
  const bridge = bridgeSpec(opts.bridge?.name, opts.bridge?.cidr);
  const dir = path.resolve(opts.dir ?? path.join(os.tmpdir(), `bulwark-node-${bridge.name}`));
  const nodeName = opts.nodeName ?? 'bulwark-node';
  const detached = opts.detached ?? false;
  const keepDir = opts.keepDir ?? process.env.BULWARK_KEEP_NODE === '1';
  const timeoutMs = opts.startTimeoutMs ?? 180_000;

  const nodeBin = await ensureNodeBinaries();
  progress(`binaries in ${nodeBin}`);

  const startedAt = new Date().toISOString();
  const waitUntil = Date.now() + (opts.waitForBridgeMs ?? 0);
  let lockFile: string;
  for (let announced = false; ; ) {
    try {
      lockFile = await acquireBridgeLock(bridge.name, { pids: [process.pid], dir, startedAt, purpose: opts.purpose }, async (stale) => {
        progress(`bridge ${bridge.name}: lock of dead pid ${stale.pids.join(',')} found; cleaning up after it (${stale.dir || 'unknown dir'})`);
        if (stale.dir && stale.dir !== dir) await runCleanup(cleanupTarget(stale.dir, bridge, [], true));
      });
      break;
    } catch (err) {
      if (!(err instanceof BridgeBusyError) || Date.now() > waitUntil) throw err;
      if (!announced) progress(`waiting for the bridge: ${err.message}`);
      announced = true;
      await sleep(1_000);
    }
  }
  const pgids: number[] = [];
  let reaper: number | undefined;
  let cp: ControlPlane | undefined;
  try {
    // Whatever a killed run left in this dir or on this bridge.
    await runCleanup(cleanupTarget(dir, bridge, [], true));
    for (const d of ['run', 'logs', 'cni/net.d', 'cni/ipam', 'kubelet', 'pod-logs', 'images', 'containerd']) await mkdir(path.join(dir, d), { recursive: true });
    const before = KUBELET_SYSCTLS.map((k) => `${k.replace('/', '.')}=${fs.readFileSync(`/proc/sys/${k}`, 'utf8').trim()}`);
    await writeFile(path.join(dir, 'sysctl-before'), `${before.join('\n')}\n`);
    await createBridge(bridge);
    progress(`bridge ${bridge.name} ${bridge.gatewayIp}/24`);
    const pauseImage = writePauseImage(nodeBin, path.join(dir, 'images', 'pause.tar'));

    cp = await startControlPlane({
      dir: path.join(dir, 'cp'),
      detached,
      bindAddress: bridge.gatewayIp,
      authorizationModes: ['Node', 'RBAC'],
      admission: { serviceAccount: true, enable: ['NodeRestriction'] },
      endpointReconciler: 'lease',
      kubeletClient: true,
      publishKubeconfig: opts.publishKubeconfig,
      startTimeoutMs: timeoutMs,
      keepDir: true,
    });
    pgids.push(cp.pids.etcd, cp.pids.kubeApiserver);
    progress(`etcd and kube-apiserver ready at ${cp.server}`);
    await routeKubernetesService(bridge, Number(new URL(cp.server).port));

    const layout = nodeLayout(dir, nodeBin, cp.pkiFiles.caCert);
    const logs: NodeLogs = {
      dir: path.join(dir, 'logs'),
      etcd: path.join(cp.dir, 'etcd.log'),
      kubeApiserver: path.join(cp.dir, 'kube-apiserver.log'),
      kubeControllerManager: path.join(dir, 'logs', 'kube-controller-manager.log'),
      kubeScheduler: path.join(dir, 'logs', 'kube-scheduler.log'),
      containerd: path.join(dir, 'logs', 'containerd.log'),
      kubelet: path.join(dir, 'logs', 'kubelet.log'),
      pods: layout.podLogs,
    };
    const [kubelet, kcm, scheduler] = await Promise.all([
      cp.createUser(`system:node:${nodeName}`, ['system:nodes']),
      cp.createUser('system:kube-controller-manager'),
      cp.createUser('system:kube-scheduler'),
    ]);
    const [healthzPort, kcmPort, schedulerPort] = (await freePorts(3)) as [number, number, number];
    const [kubeletPort] = (await freePorts(1, bridge.gatewayIp)) as [number];

    await writeFile(path.join(dir, 'containerd.toml'), containerdConfig(layout));
    await writeFile(path.join(layout.cniConfDir, '10-bulwark.conflist'), cniConflist(layout, bridge));
    await writeFile(path.join(dir, 'kubelet.yaml'), kubeletConfig(layout, bridge, { port: kubeletPort, healthzPort }));

    const started: ChildProcess[] = [];
    const startComponent = (name: string, bin: string, args: string[], log: string, env?: NodeJS.ProcessEnv) => {
      const child = spawnLogged(bin, args, log, detached, env);
      if (!child.pid) throw new Error(`could not start ${bin}`);
      started.push(child);
      pgids.push(child.pid);
      updateLockPids(bridge.name, detached ? [...pgids] : [process.pid, ...pgids]);
      return child;
    };
    const failIfExited = (child: ChildProcess, name: string, log: string) => {
      if (exited(child)) throw new Error(`${name} exited (${child.exitCode ?? child.signalCode}) while starting; last lines of ${log}:\n${logTail(log, 40)}`);
    };

    const containerd = startComponent('containerd', path.join(nodeBin, 'containerd'), ['--config', path.join(dir, 'containerd.toml')], logs.containerd, {
      ...process.env,
      PATH: `${nodeBin}:${process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin'}`,
    });
    const ctr = (args: string[], timeoutMs = 120_000) => runCommand(path.join(nodeBin, 'ctr'), ['--address', layout.containerdSocket, '-n', 'k8s.io', ...args], { timeoutMs });
    const kcmProc = startComponent('kube-controller-manager', path.join(nodeBin, 'kube-controller-manager'), [
      `--kubeconfig=${kcm.kubeconfigPath}`,
      `--authentication-kubeconfig=${kcm.kubeconfigPath}`,
      `--authorization-kubeconfig=${kcm.kubeconfigPath}`,
      '--bind-address=127.0.0.1',
      `--secure-port=${kcmPort}`,
      `--cert-dir=${path.join(dir, 'kcm-certs')}`,
      '--leader-elect=false',
      '--use-service-account-credentials=true',
      `--service-account-private-key-file=${cp.pkiFiles.serviceAccountKey}`,
      `--root-ca-file=${cp.pkiFiles.caCert}`,
      `--cluster-signing-cert-file=${cp.pkiFiles.caCert}`,
      `--cluster-signing-key-file=${cp.pkiFiles.caKey}`,
      `--service-cluster-ip-range=${SERVICE_CLUSTER_IP_RANGE}`,
      '--allocate-node-cidrs=false',
    ], logs.kubeControllerManager);
    const schedProc = startComponent('kube-scheduler', path.join(nodeBin, 'kube-scheduler'), [
      `--kubeconfig=${scheduler.kubeconfigPath}`,
      `--authentication-kubeconfig=${scheduler.kubeconfigPath}`,
      `--authorization-kubeconfig=${scheduler.kubeconfigPath}`,
      '--bind-address=127.0.0.1',
      `--secure-port=${schedulerPort}`,
      `--cert-dir=${path.join(dir, 'scheduler-certs')}`,
      '--leader-elect=false',
    ], logs.kubeScheduler);

    const deadline = Date.now() + timeoutMs;
    for (;;) {
      failIfExited(containerd, 'containerd', logs.containerd);
      if (fs.existsSync(layout.containerdSocket) && (await ctr(['version'], 10_000)).code === 0) break;
      if (Date.now() > deadline) throw new Error(`containerd did not answer on ${layout.containerdSocket}; last lines of ${logs.containerd}:\n${logTail(logs.containerd)}`);
      await sleep(100);
    }
    progress('containerd up');
    const pause = await pauseImage;
    const imported = await ctr(['images', 'import', pause.archive]);
    if (imported.code !== 0) throw new Error(`importing ${pause.name} failed: ${imported.stderr}`);
    progress(`imported ${pause.name}`);

    const kubeletProc = startComponent('kubelet', path.join(nodeBin, 'kubelet'), [
      `--config=${path.join(dir, 'kubelet.yaml')}`,
      `--kubeconfig=${kubelet.kubeconfigPath}`,
      `--hostname-override=${nodeName}`,
      `--node-ip=${bridge.gatewayIp}`,
      `--root-dir=${layout.kubeletRoot}`,
      `--cert-dir=${path.join(layout.kubeletRoot, 'pki')}`,
      '-v=1',
    ], logs.kubelet);

    let last = '';
    for (;;) {
      failIfExited(kubeletProc, 'kubelet', logs.kubelet);
      failIfExited(kcmProc, 'kube-controller-manager', logs.kubeControllerManager);
      failIfExited(schedProc, 'kube-scheduler', logs.kubeScheduler);
      failIfExited(containerd, 'containerd', logs.containerd);
      const r = await cp.request('GET', `/api/v1/nodes/${nodeName}`).catch((e: unknown) => ({ status: 0, body: String(e), json: <T>() => ({}) as T }));
      if (r.status === 200) {
        const node = r.json<{ status?: { conditions?: Array<{ type: string; status: string; message?: string }> } }>();
        const ready = node.status?.conditions?.find((c) => c.type === 'Ready');
        if (ready?.status === 'True') break;
        last = `Ready=${ready?.status ?? '?'} ${ready?.message ?? ''}`;
      } else last = `GET node: ${r.status}`;
      if (Date.now() > deadline) throw new Error(`node ${nodeName} not Ready after ${timeoutMs} ms (${last}); last lines of ${logs.kubelet}:\n${logTail(logs.kubelet)}`);
      await sleep(250);
    }
    progress(`node ${nodeName} Ready`);
    for (;;) {
      const r = await cp.request('GET', '/api/v1/namespaces/default/serviceaccounts/default');
      if (r.status === 200) break;
      failIfExited(kcmProc, 'kube-controller-manager', logs.kubeControllerManager);
      if (Date.now() > deadline) throw new Error(`no default ServiceAccount after ${timeoutMs} ms; last lines of ${logs.kubeControllerManager}:\n${logTail(logs.kubeControllerManager)}`);
      await sleep(250);
    }
    progress('default ServiceAccount exists; node started');

    const nodePids: NodePids = {
      etcd: cp.pids.etcd,
      kubeApiserver: cp.pids.kubeApiserver,
      containerd: containerd.pid ?? 0,
      kubeControllerManager: kcmProc.pid ?? 0,
      kubeScheduler: schedProc.pid ?? 0,
      kubelet: kubeletProc.pid ?? 0,
    };
    if (!detached) {
      reaper = startCleanupReaper(cleanupTarget(dir, bridge, pgids, !keepDir, lockFile), process.pid);
      // The lock stays live while the reaper cleans up after a killed test process: otherwise the
      // next node takes the "stale" lock, and the reaper then removes that node's bridge and lock.
      if (reaper) updateLockPids(bridge.name, [process.pid, ...pgids, reaper]);
    }

    const clientHosts = new Set<ClientHost>();
    const base = cp;
    let stopping: Promise<void> | undefined;
    const node: TestNode = {
      ...base,
      nodeName,
      bridge: { name: bridge.name, cidr: bridge.cidr, gatewayIp: bridge.gatewayIp },
      nodeBin,
      nodeDir: dir,
      nodePids,
      logs,
      async importImage(archive) {
        const r = await ctr(['images', 'import', archive], 300_000);
        if (r.code !== 0) throw new Error(`ctr images import ${archive} failed (exit ${r.code}): ${r.stderr.trim()}`);
      },
      async tagImage(source, target) {
        const r = await ctr(['images', 'tag', '--force', source, target], 60_000);
        if (r.code !== 0) throw new Error(`ctr images tag ${source} ${target} failed (exit ${r.code}): ${r.stderr.trim()}`);
      },
      async podIp(namespace, name) {
        const r = await base.request('GET', `/api/v1/namespaces/${encodeURIComponent(namespace)}/pods/${encodeURIComponent(name)}`);
        if (r.status !== 200) throw new Error(`pod ${namespace}/${name}: HTTP ${r.status}`);
        const ip = r.json<{ status?: { podIP?: string } }>().status?.podIP;
        if (!ip) throw new Error(`pod ${namespace}/${name} has no IP yet`);
        return ip;
      },
      async clientHost() {
        const h = await createClientHost(bridge);
        clientHosts.add(h);
        return {
          ...h,
          async remove() {
            clientHosts.delete(h);
            await h.remove();
          },
        };
      },
      runState() {
        return {
          dir, bridge, nodeName, server: base.server, kubeconfigPath: base.kubeconfigPath, pids: nodePids,
          containerdSocket: layout.containerdSocket, containerdState: layout.containerdState, lockFile, logs, startedAt,
        };
      },
      stop() {
        stopping ??= (async () => {
          if (reaper) {
            try {
              process.kill(reaper, 'SIGKILL');
            } catch {
              /* gone */
            }
          }
          const s0 = Date.now();
          for (const h of clientHosts) await h.remove();
          // The kubelet first, so it restarts nothing while the rest goes; then the API server's
          // clients, so that it has no watches to drain (with them it takes its full 10 s grace).
          if (nodePids.kubelet) await stopGroup(nodePids.kubelet, 10_000);
          await Promise.all([nodePids.kubeControllerManager, nodePids.kubeScheduler, nodePids.containerd].map((p) => stopGroup(p, 5_000)));
          await base.stop();
          await runCleanup(cleanupTarget(dir, bridge, pgids, !keepDir, lockFile));
          process.stderr.write(`node: stopped and cleaned up in ${((Date.now() - s0) / 1000).toFixed(1)} s\n`);
        })();
        return stopping;
      },
    };
    return node;
  } catch (err) {
    if (reaper) process.kill(reaper, 'SIGKILL');
    await cp?.stop().catch(() => undefined);
    await runCleanup(cleanupTarget(dir, bridge, pgids, !keepDir, lockFile));
    throw err;
  }
}

/** Stops a detached node from its recorded state (`cluster down`). */
export async function stopNodeFromState(st: NodeRunState): Promise<void> {
  // The same order as stop(): the kubelet, then the API server's clients, then the control plane.
  if (st.pids.kubelet > 1) await stopGroup(st.pids.kubelet, 10_000);
  await Promise.all([st.pids.kubeControllerManager, st.pids.kubeScheduler, st.pids.containerd].filter((p) => p > 1).map((p) => stopGroup(p, 5_000)));
  if (st.pids.kubeApiserver > 1) await stopGroup(st.pids.kubeApiserver, 10_000);
  const ordered = [st.pids.kubelet, st.pids.kubeControllerManager, st.pids.kubeScheduler, st.pids.containerd, st.pids.kubeApiserver, st.pids.etcd];
  await runCleanup({
    dir: st.dir,
    bridge: st.bridge,
    containerdSocket: st.containerdSocket,
    containerdState: st.containerdState,
    pgids: ordered.filter((p) => p > 1),
    removeDir: true,
    lockFile: st.lockFile,
  });
}

/** Removes a directory's leftovers without a recorded state (a node killed before it wrote one). */
export async function cleanupNodeDir(dir: string, bridge: { name?: string; cidr?: string } = {}): Promise<void> {
  await runCleanup(cleanupTarget(path.resolve(dir), bridgeSpec(bridge.name, bridge.cidr), [], true));
  await rm(dir, { recursive: true, force: true });
}

export type { NodeLayout };
