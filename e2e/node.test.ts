// The test node itself: a real kubelet runs hardened pods in a namespace that enforces the
// "restricted" Pod Security profile, the controllers run (StatefulSet, garbage collection), logs
// and exec reach the kubelet, a pod reaches the API server at the gateway IP, a client host on
// the bridge resolves names from its own /etc/hosts, and stop() leaves nothing behind.
//
// Skipped (reported as skipped) only when the node cannot run on this machine at all: not root,
// or no /usr/sbin/runc. CI runs as root and runs it.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { after, before, describe, it } from 'node:test';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { BridgeBusyError, cachedTestAppImage, nodeUnavailableReason, startNode, TEST_APP_IMAGE, type TestNode } from '../test/harness/node.ts';

const skip = nodeUnavailableReason();
// On each test, not on the suites: Node 20's runner counts skipped tests, not skipped suites.
const opt = { skip: skip ?? false };

/** A pod spec that passes Pod Security "restricted". */
function hardenedSpec(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    terminationGracePeriodSeconds: 5,
    automountServiceAccountToken: true,
    securityContext: { runAsNonRoot: true, runAsUser: 65532, runAsGroup: 65532, seccompProfile: { type: 'RuntimeDefault' } },
    containers: [
      {
        name: 'app',
        image: TEST_APP_IMAGE,
        imagePullPolicy: 'Never',
        ports: [{ containerPort: 8080 }],
        resources: { requests: { cpu: '50m', memory: '64Mi' }, limits: { cpu: '200m', memory: '64Mi' } },
        readinessProbe: { httpGet: { path: '/', port: 8080 }, periodSeconds: 1 },
        securityContext: { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } },
        volumeMounts: [{ name: 'scratch', mountPath: '/scratch' }],
      },
    ],
    volumes: [{ name: 'scratch', emptyDir: {} }],
    ...extra,
  };
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

async function waitFor<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 120_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(250);
  }
}

function rssMiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Math.round(Number(m[1]) / 1024) : NaN;
}

describe('the test node', { timeout: 900_000 }, () => {
  let node: TestNode | undefined;
  let ns = '';
  const n = () => node ?? assert.fail('no node');

  before(async () => {
    if (skip) return;
    const t0 = Date.now();
    node = await startNode({ waitForBridgeMs: 900_000, purpose: 'e2e/node.test.ts' });
    const startMs = Date.now() - t0;
    const img = await cachedTestAppImage();
    await node.importImage(img.archive);
    ns = await node.createNamespace('node');
    await node.kubectl(['label', 'namespace', ns, 'pod-security.kubernetes.io/enforce=restricted', 'pod-security.kubernetes.io/enforce-version=latest'], { check: true });
    // The namespace's default ServiceAccount (a controller makes it) must exist before pods are admitted.
    await waitFor('the default ServiceAccount', async () => ((await n().request('GET', `/api/v1/namespaces/${ns}/serviceaccounts/default`)).status === 200 ? true : undefined));
    process.stderr.write(`node.test: node started in ${(startMs / 1000).toFixed(1)} s; test app image ${img.cached ? 'cached' : 'built'}\n`);
  });

  after(async () => {
    await node?.stop();
  });

  it('runs a hardened pod: Ready, non-root, read-only root, logs and exec work, reachable at its pod IP', opt, async (t) => {
    const pod = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'hardened', labels: { app: 'hardened' } }, spec: hardenedSpec() };
    const t0 = Date.now();
    await n().kubectl(['-n', ns, 'apply', '-f', '-'], { input: JSON.stringify(pod), check: true });
    await n().kubectl(['-n', ns, 'wait', '--for=condition=Ready', 'pod/hardened', '--timeout=120s'], { check: true, timeoutMs: 130_000 });
    t.diagnostic(`hardened pod apply to Ready: ${((Date.now() - t0) / 1000).toFixed(1)} s`);

    const logs = await n().kubectl(['-n', ns, 'logs', 'hardened'], { check: true });
    assert.match(logs.stdout, /test app listening on 8080/);

    const uid = await n().kubectl(['-n', ns, 'exec', 'hardened', '--', '/usr/bin/node', '-e', 'console.log(process.getuid())'], { check: true });
    assert.equal(uid.stdout.trim(), '65532');
    const write = await n().kubectl(['-n', ns, 'exec', 'hardened', '--', '/usr/bin/node', '-e', "require('fs').writeFileSync('/app/x', 'x')"]);
    assert.notEqual(write.code, 0);
    assert.match(write.stderr + write.stdout, /EROFS|read-only/i);
    await n().kubectl(['-n', ns, 'exec', 'hardened', '--', '/usr/bin/node', '-e', "require('fs').writeFileSync('/scratch/x', 'x')"], { check: true });

    const ip = await n().podIp(ns, 'hardened');
    assert.ok(ip.startsWith('10.244.77.'), ip);
    const res = await fetch(`http://${ip}:8080/whoami`, { signal: AbortSignal.timeout(10_000) });
    assert.deepEqual(await res.json(), { uid: 65532, host: 'hardened' });
  });

  it('lets a pod reach the API server at the gateway IP with its ServiceAccount token', opt, async () => {
    const url = `https://${n().bridge.gatewayIp}:${n().apiPort}/version`;
    const script =
      "const https=require('https');const fs=require('fs');const d='/var/run/secrets/kubernetes.io/serviceaccount/';" +
      `https.get(${JSON.stringify(url)},{ca:fs.readFileSync(d+'ca.crt'),headers:{authorization:'Bearer '+fs.readFileSync(d+'token','utf8')}},` +
      "res=>{let b='';res.on('data',c=>b+=c);res.on('end',()=>console.log(res.statusCode,b))}).on('error',e=>{console.error(String(e));process.exit(1)})";
    // TLS is verified against the cluster CA the pod gets in its ServiceAccount volume.
    const out = (await n().kubectl(['-n', ns, 'exec', 'hardened', '--', '/usr/bin/node', '-e', script], { check: true })).stdout;
    assert.match(out, /^200 /);
    assert.match(out, /"gitVersion":\s*"v1\.\d+/);
  });

  it('refuses a pod that breaks Pod Security "restricted" at admission', opt, async () => {
    const bad = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'privileged' },
      spec: { containers: [{ name: 'app', image: TEST_APP_IMAGE, imagePullPolicy: 'Never', securityContext: { privileged: true } }] },
    };
    const r = await n().kubectl(['-n', ns, 'apply', '-f', '-'], { input: JSON.stringify(bad) });
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /violates PodSecurity "restricted/);
    const get = await n().kubectl(['-n', ns, 'get', 'pod', 'privileged']);
    assert.match(get.stderr, /NotFound/);
  });

  it('runs a 2-replica StatefulSet, recreates a deleted pod, and garbage-collects the pods with the StatefulSet', opt, async (t) => {
    const svc = { apiVersion: 'v1', kind: 'Service', metadata: { name: 'app' }, spec: { clusterIP: 'None', selector: { app: 'app' }, ports: [{ port: 8080 }] } };
    const sts = {
      apiVersion: 'apps/v1',
      kind: 'StatefulSet',
      metadata: { name: 'app' },
      spec: {
        serviceName: 'app',
        replicas: 2,
        selector: { matchLabels: { app: 'app' } },
        template: { metadata: { labels: { app: 'app' } }, spec: hardenedSpec() },
      },
    };
    const t0 = Date.now();
    await n().kubectl(['-n', ns, 'apply', '-f', '-'], { input: [svc, sts].map((o) => JSON.stringify(o)).join('\n'), check: true });
    await n().kubectl(['-n', ns, 'rollout', 'status', 'statefulset/app', '--timeout=180s'], { check: true, timeoutMs: 190_000 });
    t.diagnostic(`2-replica StatefulSet apply to rolled out: ${((Date.now() - t0) / 1000).toFixed(1)} s`);

    const getPod = async (name: string) => {
      const r = await n().request('GET', `/api/v1/namespaces/${ns}/pods/${name}`);
      return r.status === 200 ? r.json<{ metadata: { uid: string; ownerReferences?: Array<{ kind: string }> }; status: { conditions?: Array<{ type: string; status: string }> } }>() : undefined;
    };
    const first = await getPod('app-0');
    assert.equal(first?.metadata.ownerReferences?.[0]?.kind, 'StatefulSet');
    await n().kubectl(['-n', ns, 'delete', 'pod', 'app-0', '--wait=false'], { check: true });
    const t1 = Date.now();
    await waitFor('app-0 recreated and Ready', async () => {
      const p = await getPod('app-0');
      return p && p.metadata.uid !== first?.metadata.uid && p.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ? true : undefined;
    });
    t.diagnostic(`deleted StatefulSet pod back to Ready: ${((Date.now() - t1) / 1000).toFixed(1)} s`);

    await n().kubectl(['-n', ns, 'delete', 'statefulset', 'app', '--cascade=background', '--wait=false'], { check: true });
    await waitFor('the StatefulSet pods to be garbage-collected', async () => {
      const r = await n().request('GET', `/api/v1/namespaces/${ns}/pods?labelSelector=app%3Dapp`);
      return r.json<{ items: unknown[] }>().items.length === 0 ? true : undefined;
    });
  });

  it('gives tests a client host on the bridge with its own /etc/hosts', opt, async () => {
    const ip = await n().podIp(ns, 'hardened');
    const host = await n().clientHost();
    try {
      assert.ok(host.ip.startsWith('10.244.77.25'), host.ip);
      await host.setHosts({ 'hardened.app.example.test': ip });
      const resolved = await host.run('getent', ['hosts', 'hardened.app.example.test']);
      assert.equal(resolved.stdout.trim().split(/\s+/)[0], ip);
      const got = await host.run('curl', ['-sS', '--max-time', '10', 'http://hardened.app.example.test:8080/whoami']);
      assert.equal(got.code, 0, got.stderr);
      assert.equal(JSON.parse(got.stdout).host, 'hardened');
      // No default route: the client host reaches only the bridge's /24.
      const routes = await host.run('ip', ['-4', 'route', 'show']);
      assert.doesNotMatch(routes.stdout, /^default/m);
    } finally {
      await host.remove();
    }
    const list = await n().kubectl(['version', '-o', 'json']); // the API still answers after the host is gone
    assert.equal(list.code, 0);
  });

  it('refuses a second node on the same bridge, naming the holder', opt, async () => {
    await assert.rejects(startNode({ dir: path.join(n().nodeDir, '..', 'bulwark-node-second') }), (err: unknown) => {
      assert.ok(err instanceof BridgeBusyError, String(err));
      assert.match(err.message, new RegExp(`bridge bwk0 is in use by another test node: pid ${process.pid}\\b`));
      assert.ok(err.message.includes(n().nodeDir), err.message);
      return true;
    });
  });

  it('reports idle memory of its components', opt, (t) => {
    const pids = n().nodePids;
    const rss = Object.fromEntries(Object.entries(pids).map(([k, pid]) => [k, rssMiB(pid)]));
    const total = Object.values(rss).reduce((a, b) => a + b, 0);
    t.diagnostic(`RSS MiB: ${JSON.stringify(rss)} total ${total}`);
    for (const [k, v] of Object.entries(rss)) assert.ok(v > 0, `${k} RSS`);
  });

  it('stop() leaves no bridge, netns, mounts, processes or runtime state behind', opt, async () => {
    const nd = n();
    const dir = nd.nodeDir;
    const pids = Object.values(nd.nodePids);
    await nd.stop();
    node = undefined;
    const link = spawnSync('ip', ['link', 'show', nd.bridge.name], { encoding: 'utf8' });
    assert.notEqual(link.status, 0, 'the bridge is gone');
    const netns = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout;
    assert.doesNotMatch(netns, /^cni-|^bwkc-/m);
    const mounts = fs.readFileSync('/proc/self/mountinfo', 'utf8');
    assert.ok(!mounts.includes(`${dir}/`), 'no mounts under the node dir');
    assert.ok(!fs.existsSync(dir), 'the node dir is removed');
    for (const pid of pids) assert.ok(!fs.existsSync(`/proc/${pid}`) || /State:\s+Z/.test(fs.readFileSync(`/proc/${pid}/status`, 'utf8')), `pid ${pid} is gone`);
    for (const p of fs.readdirSync('/proc').filter((e) => /^\d+$/.test(e))) {
      let cmd = '';
      try {
        cmd = fs.readFileSync(`/proc/${p}/cmdline`, 'utf8');
      } catch {
        continue;
      }
      assert.ok(!cmd.includes(dir), `process ${p} (${cmd.split('\0')[0]}) still refers to ${dir}`);
    }
    assert.ok(!fs.existsSync('/run/containerd/runc/k8s.io') || fs.readdirSync('/run/containerd/runc/k8s.io').length === 0, 'no runc state left');
    const cniResults = fs.existsSync('/var/lib/cni/results') ? fs.readdirSync('/var/lib/cni/results') : [];
    assert.deepEqual(cniResults.filter((f) => f.startsWith(`bulwark-${nd.bridge.name}-`)), [], 'no cached CNI results of our network');
    assert.ok(!fs.existsSync('/var/lib/kubelet/device-plugins/kubelet.sock'), 'no kubelet device-plugin socket');
    for (const c of fs.readdirSync('/sys/fs/cgroup')) assert.ok(!fs.existsSync(`/sys/fs/cgroup/${c}/kubepods`), `no kubepods cgroup in ${c}`);
  });
});

describe('a node whose test process is killed with SIGKILL', { timeout: 300_000 }, () => {
  it('is cleaned up by its reaper: processes, shims, mounts, netns, bridge, dir and lock', opt, async () => {
    const launcher = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'tools', 'node', 'launcher.ts');
    const program =
      `import { startNode } from ${JSON.stringify(launcher)};` +
      "const n = await startNode({ purpose: 'kill -9 test' });" +
      "await n.kubectl(['run', 'p', '--image=registry.k8s.io/pause:3.10.2', '--image-pull-policy=Never'], { check: true });" +
      "await n.kubectl(['wait', '--for=condition=Ready', 'pod/p', '--timeout=120s'], { check: true });" +
      "console.log('READY ' + JSON.stringify({ dir: n.nodeDir, pids: n.nodePids }));" +
      'setInterval(() => {}, 1000);';
    const { spawn } = await import('node:child_process');
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', program], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (d: string) => (out += d));
    const ready = await waitFor('the child node to start', async () => {
      const m = /^READY (.+)$/m.exec(out);
      if (m) return JSON.parse(m[1]!) as { dir: string; pids: Record<string, number> };
      if (child.exitCode !== null) throw new Error(`the child exited ${child.exitCode}: ${out}`);
      return undefined;
    }, 240_000);
    const shimsOf = (dir: string) =>
      fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p)).filter((p) => {
        try {
          return fs.readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(dir);
        } catch {
          return false;
        }
      });
    assert.ok(shimsOf(ready.dir).length > 0, 'the pod has a shim');
    child.kill('SIGKILL');
    await waitFor('the reaper to remove the lock', async () => (fs.existsSync('/run/bulwark-node/bwk0.lock') ? undefined : true), 60_000);
    assert.equal(spawnSync('ip', ['link', 'show', 'bwk0']).status !== 0, true, 'the bridge is gone');
    assert.deepEqual(shimsOf(ready.dir), [], 'no process refers to the node dir');
    assert.ok(!fs.readFileSync('/proc/self/mountinfo', 'utf8').includes(`${ready.dir}/`), 'no mounts under the node dir');
    assert.ok(!fs.existsSync(ready.dir), 'the node dir is removed');
    for (const [name, pid] of Object.entries(ready.pids)) {
      const state = fs.existsSync(`/proc/${pid}/stat`) ? fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.[0] : undefined;
      assert.ok(state === undefined || state === 'Z', `${name} (pid ${pid}) is gone`);
    }
    assert.doesNotMatch(spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout, /^cni-|^bwkc-/m);
    assert.ok(!fs.existsSync('/var/lib/kubelet/device-plugins/kubelet.sock'), 'no kubelet device-plugin socket');
    assert.ok(!fs.existsSync('/run/containerd/runc/k8s.io') || fs.readdirSync('/run/containerd/runc/k8s.io').length === 0, 'no runc state left');
  });
});

if (skip) process.stderr.write(`node.test: skipped: ${skip}\n`);
