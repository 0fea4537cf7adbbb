// `npm run cluster:up` as a newcomer runs it: a child process on the real cache (the node's
// binaries and the broker image live there), then the kcat command it printed, run verbatim;
// `cluster:up` again only prints it again; a restarted broker pod gets a new IP and
// `cluster:hosts` (and `cluster:status`) put it in the client host's /etc/hosts; `cluster:down`
// leaves nothing behind.
//
// It uses the cluster:up state dir (${BULWARK_CACHE}/node/run), so it is skipped, saying why,
// while a developer's cluster:up runs. Only one node can own the bridge: cluster:up is started
// with --wait-for-bridge, so this file queues behind another node test instead of failing.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { cacheRoot, ensureBinaries, repoRoot, runCommand } from '../tools/controlplane/launcher.ts';
import { nodeUnavailableReason } from '../tools/node/launcher.ts';
import { readLock } from '../tools/node/lock.ts';

const runDir = join(cacheRoot(), 'node', 'run');
const stateFile = join(runDir, 'state.json');

function skipReason(): string | undefined {
  const r = nodeUnavailableReason();
  if (r) return r;
  if (fs.existsSync(stateFile)) return `a cluster:up cluster is running (${stateFile}); this test would replace it: npm run cluster:down first`;
  return undefined;
}
const skip = skipReason();

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** An npm script the way a newcomer types it, in the checkout, with the same environment. */
function npmRun(script: string, args: string[], timeoutMs: number): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn('npm', ['run', '--silent', script, ...(args.length ? ['--', ...args] : [])], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      // Progress shows in the test log (cluster:up may wait for the bridge for a while).
      for (const line of d.toString().split('\n')) if (/^(cluster|node): /.test(line)) process.stderr.write(`  [${script}] ${line}\n`);
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

const sh = (line: string, timeoutMs = 30_000) => runCommand('/bin/sh', ['-c', line], { timeoutMs });

describe('npm run cluster:up', { skip: skip ?? false, timeout: 3_000_000 }, () => {
  let up: Run | undefined;
  let downRan = false;

  after(async () => {
    if (up && !downRan) await npmRun('cluster:down', [], 120_000);
  });

  it('starts Kubernetes with Bulwark, prints a kcat command that works as printed, follows pod IPs, and cluster:down removes it all', async () => {
    // 1. Up, queueing behind another node test for up to 40 minutes.
    up = await npmRun('cluster:up', ['--wait-for-bridge=2400'], 2_700_000);
    assert.equal(up.code, 0, `cluster:up failed:\n${up.stderr.slice(-4000)}`);
    const kubeconfig = /^export KUBECONFIG=(\S+)$/m.exec(up.stdout)?.[1];
    assert.ok(kubeconfig, `no export KUBECONFIG line on stdout: ${up.stdout}`);
    assert.match(up.stderr, /BrokerCluster bulwark-demo\/demo: Ready/);
    const kcatLines = up.stderr.split('\n').filter((l) => /^\s+ip netns exec \S+ kcat /.test(l));
    assert.equal(kcatLines.length, 1, `expected one kcat command in:\n${up.stderr.slice(-3000)}`);
    const kcat = kcatLines[0]!.trim();
    const state = JSON.parse(fs.readFileSync(stateFile, 'utf8')) as { dir: string; pids: Record<string, number>; lockFile: string };
    const bulwark = JSON.parse(fs.readFileSync(join(runDir, 'bulwark.json'), 'utf8')) as { clientHost: { name: string }; caFile: string };

    // 2. The printed command, verbatim: TLS to the bootstrap name, the broker found at its pod's name.
    const listed = await sh(kcat);
    assert.equal(listed.code, 0, `the printed kcat failed:\n${kcat}\n${listed.stderr}`);
    assert.match(listed.stdout, / 1 brokers:\n {2}broker 0 at demo-0\.demo-brokers\.bulwark-demo\.svc:9092/);
    // The certificate is checked: not trusted without the cluster CA, and refused by IP (no IP in it).
    const withoutCa = await sh(kcat.replace(/ssl\.ca\.location=\S+/, 'ssl.ca.location=/etc/ssl/certs/ca-certificates.crt').concat(' -m 5'));
    assert.notEqual(withoutCa.code, 0, 'kcat trusted the brokers without the cluster CA');
    const hosts = fs.readFileSync(join('/etc/netns', bulwark.clientHost.name, 'hosts'), 'utf8');
    const podIp = /^(\S+) demo-0\.demo-brokers\.bulwark-demo\.svc$/m.exec(hosts)?.[1];
    assert.ok(podIp, hosts);
    const byIp = await sh(kcat.replace(/-b \S+/, `-b ${podIp}:9092`).concat(' -m 5'));
    assert.notEqual(byIp.code, 0, 'hostname verification accepted a pod IP the certificate does not name');

    // cluster:up again on the running cluster starts nothing and prints the same way in.
    const again0 = await npmRun('cluster:up', [], 120_000);
    assert.equal(again0.code, 0, again0.stderr);
    assert.match(again0.stderr, /already running/);
    assert.ok(again0.stderr.includes(`  ${kcat}\n`), `the second cluster:up printed another command:\n${again0.stderr}`);
    assert.equal((JSON.parse(fs.readFileSync(stateFile, 'utf8')) as typeof state).pids.kubeApiserver, state.pids.kubeApiserver);

    // 3. A restarted pod comes back at a new IP; cluster:status rewrites the client host's /etc/hosts.
    const { kubectl } = await ensureBinaries();
    const k = (args: string[]) => runCommand(kubectl, [`--kubeconfig=${kubeconfig}`, '-n', 'bulwark-demo', ...args], { timeoutMs: 200_000 });
    const pod = async () => {
      const r = await k(['get', 'pod', 'demo-0', '-o', 'json']);
      return r.code === 0 ? (JSON.parse(r.stdout) as { metadata: { uid: string }; status?: { podIP?: string; conditions?: { type: string; status: string }[] } }) : undefined;
    };
    const oldUid = (await pod())!.metadata.uid;
    assert.equal((await k(['delete', 'pod', 'demo-0', '--wait=true'])).code, 0);
    let newIp = '';
    for (const deadline = Date.now() + 180_000; !newIp; ) {
      const p = await pod();
      if (p && p.metadata.uid !== oldUid && p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')) newIp = p.status.podIP ?? '';
      else if (Date.now() > deadline) assert.fail(`demo-0 not back Ready after 180 s: ${JSON.stringify(p?.status)}`);
      else await new Promise((r) => setTimeout(r, 500));
    }
    assert.notEqual(newIp, podIp, 'the restarted pod kept its IP, so this does not show the hosts file following it');
    const hostsRun = await npmRun('cluster:hosts', [], 120_000);
    assert.equal(hostsRun.code, 0, hostsRun.stderr);
    assert.ok(hostsRun.stdout.includes(`${newIp} demo.bulwark-demo.svc\n`), hostsRun.stdout);
    fs.writeFileSync(join('/etc/netns', bulwark.clientHost.name, 'hosts'), `127.0.0.1 localhost\n${podIp} demo-0.demo-brokers.bulwark-demo.svc\n`);
    const status = await npmRun('cluster:status', [], 120_000);
    assert.equal(status.code, 0, status.stdout + status.stderr);
    assert.match(status.stdout, /kube-apiserver\s+pid \d+\s+up/);
    assert.ok(fs.readFileSync(join('/etc/netns', bulwark.clientHost.name, 'hosts'), 'utf8').includes(`${newIp} demo-0.demo-brokers.bulwark-demo.svc\n`));
    const again = await sh(kcat);
    assert.equal(again.code, 0, `kcat after the pod restart (new IP ${newIp}, was ${podIp}):\n${again.stderr}`);

    // 4. Down: processes, bridge, client host, its hosts file, mounts, state, CA file and lock all gone.
    const down = await npmRun('cluster:down', [], 300_000);
    downRan = true;
    assert.equal(down.code, 0, down.stderr);
    const alive = Object.entries(state.pids).filter(([, pid]) => pid > 1 && fs.existsSync(`/proc/${pid}`) && !fs.readFileSync(`/proc/${pid}/stat`, 'utf8').includes(') Z '));
    assert.deepEqual(alive, [], 'node processes still running');
    const netns = (await runCommand('ip', ['netns', 'list'])).stdout;
    assert.ok(!netns.includes(bulwark.clientHost.name), `client host still there: ${netns}`);
    assert.ok(!fs.existsSync(join('/etc/netns', bulwark.clientHost.name)));
    assert.ok(!fs.readFileSync('/proc/self/mountinfo', 'utf8').includes(state.dir), `mounts left under ${state.dir}`);
    for (const f of ['state.json', 'bulwark.json', 'kubeconfig', 'node']) assert.ok(!fs.existsSync(join(runDir, f)), `${f} left in ${runDir}`);
    assert.ok(!fs.existsSync(bulwark.caFile), `${bulwark.caFile} left`);
    // The bridge and lock may belong to the next node test by now (it was waiting): only ours must be gone.
    assert.notEqual(readLock('bwk0')?.dir, state.dir, 'our bridge lock is still there');
    if (!readLock('bwk0')) assert.notEqual((await runCommand('ip', ['link', 'show', 'bwk0'])).code, 0, 'bridge bwk0 left behind');
  });
});
