// What the broker benchmarks share: child processes that never outlive the run, our broker and
// Apache Kafka as peers (each in its own process on 127.0.0.1), the brokers' CPU time, and the
// machine's ceilings (loopback TCP, the append ceiling). Importing this module installs exit and
// signal handlers that kill every child it started (each in its own process group).
//
// Apache Kafka: KRaft, single node, from its Maven Central jars (tools/kafka/pom.xml), started by
// scripts/kafka-peer.sh with its defaults (no fsync: log.flush.interval.messages = Long.MAX_VALUE).
// Our broker: `node bin/bulwark.js broker`, the built code in dist/ as a production install runs
// it (`npm run build` first; a commit from before the build existed runs `node --import tsx
// src/cli/main.ts broker`, and the results say which), in a fresh data dir, auto-create on, HTTP
// listener off (the benchmarks speak Kafka only), the Kafka listener anonymous under the open
// policy of bench/fixtures/open-policy (as Kafka's PLAINTEXT listener with no authorizer lets
// every client in; ours still authorizes each request), no root user. BENCH_OURS_REF (a commit,
// e.g. HEAD) runs it from that commit, exported with `git archive` into a temp dir with this
// repository's node_modules and build/ linked in, so a working tree mid-edit does not leak into
// the figures; BENCH_OURS_TREE runs it from any other copy. BENCH_OURS_ENV (a JSON object) adds or
// replaces BULWARK_* settings.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, symlinkSync, writeSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { cpus, loadavg, release, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { kafkaPeerEnvSync, type KafkaPeerEnv } from '../tools/kafka/peer-env.ts';

export { cpuSeconds } from './proc.ts';

export const REPO = join(import.meta.dirname, '..');
export const MiB = 1 << 20;
/** Where our broker's source is run from, and which code that is. */
export const OURS_SOURCE = oursSource();
const OURS_TREE = OURS_SOURCE.tree;
const OURS_ENV = z.record(z.string().regex(/^BULWARK_[A-Z0-9_]+$/), z.string()).parse(JSON.parse(process.env.BENCH_OURS_ENV ?? '{}'));
export type Peer = 'ours' | 'kafka';

export const round = (x: number, d = 1) => Math.round(x * 10 ** d) / 10 ** d;

/** The load averages (1, 5, 15 min) now, to two decimals. */
export const loadavgNow = () => loadavg().map((x) => round(x, 2));

/** What every result file says of the machine it was measured on. */
export function machineInfo(): { cpus: number; cpu: string | undefined; node: string; kernel: string; memoryGiB: number; tmpdir: string } {
  return { cpus: cpus().length, cpu: cpus()[0]?.model, node: process.version, kernel: release(), memoryGiB: round(totalmem() / 2 ** 30), tmpdir: tmpdir() };
}
export const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const started = performance.now();
export const log = (msg: string) => console.log(`[${((performance.now() - started) / 1000).toFixed(0).padStart(4)} s] ${msg}`);
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// --- processes: every child is started in its own process group and killed on any exit ------------

const live = new Set<ChildProcess>();
function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    try {
      child.kill(signal);
    } catch {
      /* gone */
    }
  }
}
process.on('exit', () => {
  for (const c of live) killGroup(c, 'SIGKILL');
});
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => {
    console.error(`bench: ${sig}: stopping children`);
    process.exit(130);
  });
}

/** Registers a child to be stopped with the run (SIGKILL to its group on any exit). */
export function track(child: ChildProcess): ChildProcess {
  live.add(child);
  child.once('exit', () => live.delete(child));
  return child;
}

const exited = (child: ChildProcess) =>
  child.exitCode !== null || child.signalCode !== null ? Promise.resolve() : new Promise<void>((r) => child.once('exit', () => r()));

/** SIGTERM to the child's group, SIGKILL after `graceMs`. */
export async function stop(child: ChildProcess, graceMs = 20_000): Promise<void> {
  killGroup(child, 'SIGTERM');
  const timer = setTimeout(() => {
    console.error(`bench: pid ${child.pid} did not stop in ${graceMs / 1000} s: SIGKILL`);
    killGroup(child, 'SIGKILL');
  }, graceMs);
  await exited(child);
  clearTimeout(timer);
}

/** Stops every child still running (the end of a run). */
export async function stopAll(graceMs = 5000): Promise<void> {
  for (const c of [...live]) await stop(c, graceMs);
}

/** Runs a command to completion (killed after `timeoutMs`), collecting its output. */
export function run(cmd: string, args: string[], timeoutMs: number, env: NodeJS.ProcessEnv = process.env): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = track(spawn(cmd, args, { cwd: REPO, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] }));
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d: Buffer) => (stdout += d));
    child.stderr!.on('data', (d: Buffer) => (stderr += d));
    const timer = setTimeout(() => {
      stderr += `\n[bench: killed after ${timeoutMs / 1000} s]`;
      killGroup(child, 'SIGKILL');
    }, timeoutMs);
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** Spawns a long-running server and resolves once a stdout line matches `ready`. */
export function startServer(cmd: string, args: string[], env: NodeJS.ProcessEnv, ready: RegExp, timeoutMs: number, cwd = REPO): Promise<{ child: ChildProcess; line: string; output: () => string }> {
  return new Promise((resolve, reject) => {
    const child = track(spawn(cmd, args, { cwd, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] }));
    let out = '';
    let done = false;
    const finish = (err: Error | null, line = '') => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (err) {
        killGroup(child, 'SIGKILL');
        reject(err);
      } else resolve({ child, line, output: () => out });
    };
    const onData = (d: Buffer) => {
      out += d;
      if (out.length > 1 << 20) out = out.slice(-(1 << 19));
      const m = out.split('\n').find((l) => ready.test(l));
      if (m) finish(null, m);
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('error', (e) => finish(e));
    child.once('exit', (code, sig) => finish(new Error(`${cmd} exited (${code ?? sig}) before it was ready:\n${out.slice(-3000)}`)));
    const timer = setTimeout(() => finish(new Error(`${cmd} not ready after ${timeoutMs / 1000} s:\n${out.slice(-3000)}`)), timeoutMs);
  });
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

// --- the brokers -----------------------------------------------------------------------------------

export interface KafkaEnv extends KafkaPeerEnv {
  javaVersion: string | undefined;
}

/** Resolves the Kafka jars (once, into the cache) and the java binary, with java's version for the results. */
export function kafkaEnv(): KafkaEnv {
  const env = kafkaPeerEnvSync();
  const javaVersion = spawnSync(env.JAVA, ['-version'], { encoding: 'utf8' }).stderr.split('\n')[0]?.trim();
  return { ...env, javaVersion };
}

export interface RunningBroker {
  port: number;
  /** The broker's own process (node, or Kafka's java), for its CPU time. */
  pid: number;
  stop: () => Promise<void>;
  describe: string;
}

export interface OurBrokerOptions {
  /** BULWARK_* settings, e.g. BULWARK_LOG_FLUSH. */
  env?: Record<string, string>;
  /** Run under node --cpu-prof, writing the profile into this directory on exit. */
  cpuProfDir?: string;
}

function oursSource(): { tree: string; commit: string | null; srcModified: string[] | null } {
  const git = (args: string[]) => spawnSync('git', args, { cwd: REPO, encoding: 'utf8' });
  if (process.env.BENCH_OURS_TREE) return { tree: process.env.BENCH_OURS_TREE, commit: null, srcModified: null };
  const ref = process.env.BENCH_OURS_REF;
  if (!ref) {
    const modified = git(['status', '--porcelain', '--', 'src']).stdout.split('\n').filter(Boolean);
    return { tree: REPO, commit: git(['rev-parse', 'HEAD']).stdout.trim() || null, srcModified: modified };
  }
  const commit = git(['rev-parse', '--verify', `${ref}^{commit}`]).stdout.trim();
  if (!/^[0-9a-f]{40}$/.test(commit)) throw new Error(`BENCH_OURS_REF ${ref} is not a commit of this repository`);
  const tree = mkdtempSync(join(tmpdir(), `bulwark-bench-src-${commit.slice(0, 7)}-`));
  process.on('exit', () => rmSync(tree, { recursive: true, force: true }));
  const exported = spawnSync('sh', ['-c', `git archive ${commit} | tar -x -C "$1"`, 'sh', tree], { cwd: REPO, stdio: ['ignore', 'ignore', 'inherit'] });
  if (exported.status !== 0) throw new Error(`git archive ${commit} failed (exit ${exported.status})`);
  for (const dir of ['node_modules', 'build']) if (existsSync(join(REPO, dir))) symlinkSync(join(REPO, dir), join(tree, dir));
  return { tree, commit, srcModified: [] };
}

/**
 * How our broker is started from `tree`: `node bin/bulwark.js` over dist/, built here with
 * `npm run build` (once per tree and run; tsc is incremental) when the tree has tsconfig.build.json;
 * a commit from before that runs its sources under tsx (src/cli/main.ts was its own entry point then).
 */
export function ourBrokerEntry(tree: string): { loader: 'dist' | 'tsx'; args: string[]; command: string } {
  if (!existsSync(join(tree, 'tsconfig.build.json'))) return { loader: 'tsx', args: ['--import', 'tsx', 'src/cli/main.ts'], command: 'node --import tsx src/cli/main.ts' };
  return { loader: 'dist', args: ['bin/bulwark.js'], command: 'node bin/bulwark.js (dist/, npm run build)' };
}

const builtTrees = new Set<string>();
/** Builds dist/ in `tree` if its broker runs from there; build output goes to stderr. */
export function buildOurs(tree: string): void {
  if (ourBrokerEntry(tree).loader !== 'dist' || builtTrees.has(tree)) return;
  const r = spawnSync('npm', ['run', '--silent', 'build'], { cwd: tree, stdio: ['ignore', 2, 2] });
  if (r.status !== 0) throw new Error(`npm run build in ${tree} failed (exit ${r.status ?? r.signal}): our broker runs the built code`);
  builtTrees.add(tree);
}

export const OUR_BROKER = {
  command: `${ourBrokerEntry(OURS_TREE).command} broker --policy-dir bench/fixtures/open-policy (own process)`,
  source: OURS_SOURCE,
  env: {
    // The listeners (one anonymous Kafka listener, no HTTP) and topic auto-creation come from the
    // BrokerCluster of bench/fixtures/open-policy, which the broker runs in local mode.
    BULWARK_POLICY_DIR: join(REPO, 'bench', 'fixtures', 'open-policy'),
    BULWARK_AUTH_ROOT_USER: 'false',
    ...OURS_ENV,
  } as Record<string, string>,
};

export async function startOurs(dataDir: string, opts: OurBrokerOptions = {}): Promise<RunningBroker> {
  buildOurs(OURS_TREE);
  const port = await freePort();
  const nodeArgs: string[] = [];
  if (opts.cpuProfDir) nodeArgs.push('--cpu-prof', '--cpu-prof-dir', opts.cpuProfDir);
  // A commit from before local mode rendered the BrokerCluster (it also predates dist/) ignores the
  // fixture's listeners and topics: give it the same settings the old way.
  const legacy = ourBrokerEntry(OURS_TREE).loader === 'tsx' ? { BULWARK_HTTP_ENABLED: 'false', BULWARK_KAFKA_AUTHENTICATION: '["anonymous"]', BULWARK_TOPICS_AUTO_CREATE: 'true' } : {};
  const env = { ...process.env, ...legacy, ...OUR_BROKER.env, ...opts.env };
  const args = [...nodeArgs, ...ourBrokerEntry(OURS_TREE).args, 'broker', '--data-dir', dataDir, '--kafka-port', String(port)];
  const s = await startServer(process.execPath, args, env, /Kafka on/, 60_000, OURS_TREE);
  return {
    port,
    pid: s.child.pid!,
    describe: s.line.trim(),
    stop: async () => {
      await stop(s.child);
      if (s.child.exitCode !== 0) console.error(`bench: our broker exited ${s.child.exitCode ?? s.child.signalCode}:\n${s.output().slice(-2000)}`);
    },
  };
}

export async function startKafka(dir: string): Promise<RunningBroker> {
  const port = await freePort();
  let cport = await freePort();
  while (cport === port) cport = await freePort();
  const s = await startServer('bash', [join(REPO, 'scripts', 'kafka-peer.sh'), 'start', '--dir', dir, '--port', String(port), '--controller-port', String(cport)], process.env, /^kafka-peer: Kafka .* on /, 120_000);
  const pid = Number(/ pid (\d+)/.exec(s.line)?.[1]);
  return { port, pid, describe: s.line.trim(), stop: () => stop(s.child, 30_000) };
}

// --- ceilings ----------------------------------------------------------------------------------------

const LOOPBACK_SERVER = `
import { createServer } from 'node:net';
const server = createServer((sock) => {
  let bytes = 0;
  sock.on('data', (d) => { bytes += d.length; });
  sock.on('end', () => sock.end(String(bytes)));
});
server.listen(0, '127.0.0.1', () => console.log('port ' + server.address().port));
`;

/** One client writes `chunk`-byte writes for `seconds` to a discarding server in another process. */
async function loopbackRun(port: number, seconds: number, chunkBytes: number): Promise<{ mbPerSec: number; bytes: number; seconds: number }> {
  const chunk = Buffer.alloc(chunkBytes, 0x5a);
  return new Promise((resolve, reject) => {
    const sock = createConnection({ host: '127.0.0.1', port });
    sock.setNoDelay(true);
    let reply = '';
    let t0 = 0;
    sock.on('data', (d) => (reply += d));
    sock.on('error', reject);
    sock.on('end', () => {
      const took = (performance.now() - t0) / 1000;
      const bytes = Number(reply);
      resolve({ mbPerSec: round(bytes / 1e6 / took), bytes, seconds: round(took, 3) });
    });
    sock.on('connect', () => {
      t0 = performance.now();
      const deadline = t0 + seconds * 1000;
      const pump = () => {
        while (performance.now() < deadline) if (!sock.write(chunk)) return void sock.once('drain', pump);
        sock.end();
      };
      pump();
    });
  });
}

export interface Ceiling {
  mbPerSec: number;
  runsMbPerSec: number[];
  method: string;
}

/** Loopback TCP: one node client to a node server in another process that discards; best of `runs`. */
export async function loopbackCeiling(opts: { seconds?: number; chunkBytes?: number; runs?: number } = {}): Promise<Ceiling> {
  const { seconds = 3, chunkBytes = 64 * 1024, runs: n = 3 } = opts;
  const s = await startServer(process.execPath, ['--input-type=module', '-e', LOOPBACK_SERVER], process.env, /^port \d+/, 10_000);
  const port = Number(/port (\d+)/.exec(s.line)![1]);
  const runs = [];
  try {
    for (let i = 0; i < n; i++) runs.push(await loopbackRun(port, seconds, chunkBytes));
  } finally {
    await stop(s.child, 2000);
  }
  return {
    mbPerSec: Math.max(...runs.map((r) => r.mbPerSec)),
    runsMbPerSec: runs.map((r) => r.mbPerSec),
    method: `TCP over 127.0.0.1: one node client writes ${chunkBytes / 1024} KiB chunks for ${seconds} s to a node server in another process that discards them; bytes the server counted over time to its reply; best of ${n}`,
  };
}

/** The append ceiling: fs.writeSync of `chunkBytes` chunks to a new file in `dir` (page cache, no sync); best of `runs`. */
export function rawWriteCeiling(dir: string, opts: { bytes?: number; chunkBytes?: number; runs?: number } = {}): Ceiling {
  const { bytes = 256 * MiB, chunkBytes = 16 * 1024, runs: n = 3 } = opts;
  const chunk = Buffer.alloc(chunkBytes, 0x5a);
  const runs: number[] = [];
  for (let i = 0; i < n; i++) {
    const path = join(dir, `raw-write-${i}`);
    const fd = openSync(path, 'wx');
    const t0 = performance.now();
    for (let pos = 0; pos < bytes; ) pos += writeSync(fd, chunk, 0, chunk.length, pos);
    const seconds = (performance.now() - t0) / 1000;
    closeSync(fd);
    rmSync(path);
    runs.push(round(bytes / 1e6 / seconds));
  }
  return {
    mbPerSec: Math.max(...runs),
    runsMbPerSec: runs,
    method: `fs.writeSync of ${chunkBytes / 1024} KiB chunks, ${bytes / MiB} MiB to a new file in ${dir.startsWith(tmpdir()) ? tmpdir() : dir} (page cache, no sync), best of ${n}`,
  };
}

/** The raw-write figures of the last `npm run bench:log`, for reference. */
export function logJsonRawWrite(): { date: string; rawWriteMbPerSec: Record<string, number> } | null {
  const path = join(import.meta.dirname, 'results', 'log.json');
  if (!existsSync(path)) return null;
  try {
    const j = JSON.parse(readFileSync(path, 'utf8')) as { date: string; cases: { case: string; raw: { mbPerSec: number } }[] };
    const cases = j.cases.filter((c) => /^append\/.*\/no-sync$/.test(c.case));
    return { date: j.date, rawWriteMbPerSec: Object.fromEntries(cases.map((c) => [c.case, c.raw.mbPerSec])) };
  } catch {
    return null;
  }
}
