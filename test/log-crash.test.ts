// Crash recovery for real: a child process (fixtures/log-crash-child.ts) appends in a loop, with
// several appends in flight, and is killed with SIGKILL at a random moment, many times over, on
// the same directory. After every kill this process reopens the partition and checks that every
// append the child acknowledged, in any run so far, is readable at the offsets it was given,
// byte for byte; that offsets run from 0 to the log end with no gap; that the log holds nothing
// but whole appends from the child, in order, with only the last append of a run possibly cut
// short; and that verify() passes.
//
// SIGKILL kills the process but not the kernel: whatever the child wrote is in the page cache and
// reaches the file. So every flush policy, not only 'batch', must keep every acknowledged append
// here (messages and interval acknowledge once the write reached the OS). A kill can still cut a
// multi-page write short (the kernel checks for it between pages): reopening truncates that tail,
// which was never acknowledged. What SIGKILL cannot do (lose the page cache, leave garbage where
// the disk had half-done a write, lose index files) the last test simulates by hand.
//
// The kill delays come from a seeded PRNG; the seed is printed and LOG_CRASH_SEED replays the
// same delays (timing on a real machine is never exactly the same). LOG_CRASH_KILLS sets the
// number of kills per policy.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { appendFileSync, existsSync, readdirSync, readFileSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { after, describe, test } from 'node:test';
import { BATCH_HEADER_SIZE, crcMatches, decodeRecords, Partition, readInt64, writeInt64, type RecoveryNote } from '../src/log/index.ts';
import { OFF } from '../src/log/record-batch.ts';
import { appendBatches, appendContent, crashConfig, TOPIC, type ExpectedBatch, type PolicyName } from './fixtures/log-crash-child.ts';
import { prng } from './harness/prng.ts';
import { useTempDirs } from './harness/temp.ts';

const ROOT = join(import.meta.dirname, '..');
const CHILD = join(import.meta.dirname, 'fixtures', 'log-crash-child.ts');
const KILLS = Number(process.env.LOG_CRASH_KILLS ?? 20);
const SEED = Number(process.env.LOG_CRASH_SEED ?? Math.floor(Math.random() * 2 ** 31));
/** Run r appends seqs from r * SEQ_STRIDE on: a seq names its run. */
const SEQ_STRIDE = 1_000_000;
/** How long a child may take to open the partition before the test gives up on it. */
const READY_WATCHDOG_MS = 30_000;

const tempDir = useTempDirs('crash');


// --- What the child appends --------------------------------------------------------------------

interface Expected {
  content: ExpectedBatch[];
  bytes: Buffer[];
  records: number;
}
const expectedCache = new Map<number, Expected>();
function expected(seq: number): Expected {
  let e = expectedCache.get(seq);
  if (!e) {
    const content = appendContent(seq);
    e = { content, bytes: appendBatches(seq), records: content.reduce((n, b) => n + b.records.length, 0) };
    expectedCache.set(seq, e);
  }
  return e;
}

const show = (b: Buffer | null) => (b === null ? 'null' : b.length <= 40 ? JSON.stringify(b.toString('latin1')) : `${b.length} bytes ${JSON.stringify(b.subarray(0, 24).toString('latin1'))}…`);
const sameBytes = (a: Buffer | null, b: Buffer | null) => (a === null || b === null ? a === b : a.equals(b));

/**
 * Checks one batch read from the log against what the child built for it; returns which append
 * and batch it is. Decodes every record, then compares the raw bytes the log must not change
 * (everything but baseOffset and partitionLeaderEpoch, which the log assigns).
 */
function checkBatch(batch: Buffer, where: string): { seq: number; index: number; count: number } {
  assert.ok(crcMatches(batch), `${where}: CRC-32C mismatch`);
  const base = readInt64(batch, OFF.baseOffset);
  const records = decodeRecords(batch);
  const id = records[0]?.headers.find((h) => h.key === 'id')?.value?.toString();
  const m = id === undefined ? null : /^(\d+)\/(\d+)\/0$/.exec(id);
  assert.ok(m, `${where}: the first record's id header is ${JSON.stringify(id)}, not one the child writes`);
  const seq = Number(m[1]);
  const index = Number(m[2]);
  const exp = expected(seq);
  const want = exp.content[index];
  assert.ok(want, `${where}: append #${seq} has ${exp.content.length} batches, the log holds its batch ${index}`);
  const at = `${where}: append #${seq} batch ${index}`;
  assert.equal(records.length, want.records.length, `${at}: ${records.length} records, expected ${want.records.length}`);
  // Messages are built only on failure: this runs for every record of the log after every kill.
  const headers = (hs: { key: string; value: Buffer | null }[]) => hs.map((h) => `${h.key}=${show(h.value)}`).join(',');
  const sameHeaders = (a: { key: string; value: Buffer | null }[], b: { key: string; value: Buffer | null }[]) => a.length === b.length && a.every((h, i) => h.key === b[i]!.key && sameBytes(h.value, b[i]!.value));
  records.forEach((r, i) => {
    const w = want.records[i]!;
    const rat = () => `${at} record ${i} (offset ${base + i})`;
    if (r.offset !== base + i) assert.fail(`${rat()}: decoded offset ${r.offset}`);
    if (r.timestamp !== w.timestamp) assert.fail(`${rat()}: timestamp ${r.timestamp}, expected ${w.timestamp}`);
    if (!sameBytes(r.key, w.key)) assert.fail(`${rat()}: key ${show(r.key)}, expected ${show(w.key)}`);
    if (!sameBytes(r.value, w.value)) assert.fail(`${rat()}: value ${show(r.value)}, expected ${show(w.value)}`);
    if (!sameHeaders(r.headers, w.headers ?? [])) assert.fail(`${rat()}: headers ${headers(r.headers)}, expected ${headers(w.headers ?? [])}`);
  });
  const wantBytes = exp.bytes[index]!;
  assert.equal(batch.length, wantBytes.length, `${at}: ${batch.length} bytes, expected ${wantBytes.length}`);
  assert.ok(batch.subarray(OFF.magic).equals(wantBytes.subarray(OFF.magic)), `${at}: bytes after the leader epoch differ from what was appended`);
  assert.ok(batch.subarray(OFF.batchLength, OFF.partitionLeaderEpoch).equals(wantBytes.subarray(OFF.batchLength, OFF.partitionLeaderEpoch)), `${at}: batchLength differs`);
  return { seq, index, count: records.length };
}

// --- Running the child ---------------------------------------------------------------------------

interface Ack {
  seq: number;
  run: number;
  baseOffset: number;
  lastOffset: number;
}

interface RunResult {
  resumedAt: number;
  logStartOffset: number;
  notes: RecoveryNote[];
  acks: Ack[];
  /** Milliseconds from the child's ready line to the kill. */
  ranMs: number;
}

/** Spawns the child on `dir`, lets it append for `killAfterMs` after it is ready, SIGKILLs it. */
async function runAndKill(dir: string, policy: PolicyName, run: number, killAfterMs: number): Promise<RunResult> {
  const child = spawn(process.execPath, ['--import', 'tsx', CHILD, dir, policy, String(run * SEQ_STRIDE)], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  const closed = once(child, 'close') as Promise<[number | null, NodeJS.Signals | null]>;
  let stdout = '';
  let stderr = '';
  let readyLine: string | undefined;
  let readyAt = 0;
  let killedAt = 0;
  const protocolErrors: string[] = [];
  const acks: Ack[] = [];
  let killTimer: NodeJS.Timeout | undefined;
  const kill = () => {
    if (killedAt === 0) killedAt = performance.now();
    child.kill('SIGKILL');
  };
  const watchdog = setTimeout(() => {
    protocolErrors.push(`child not ready after ${READY_WATCHDOG_MS} ms`);
    kill();
  }, READY_WATCHDOG_MS);
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  child.stdout.setEncoding('utf8').on('data', (d: string) => {
    stdout += d;
    let nl: number;
    while ((nl = stdout.indexOf('\n')) >= 0) {
      const line = stdout.slice(0, nl);
      stdout = stdout.slice(nl + 1);
      const [kind, ...rest] = line.split(' ');
      if (kind === 'ready' && readyLine === undefined) {
        readyLine = line;
        readyAt = performance.now();
        clearTimeout(watchdog);
        killTimer = setTimeout(kill, killAfterMs);
      } else if (kind === 'ack' && readyLine !== undefined && rest.length === 3) {
        const [seq, baseOffset, lastOffset] = rest.map(Number) as [number, number, number];
        acks.push({ seq, run, baseOffset, lastOffset });
      } else {
        protocolErrors.push(line);
        kill();
      }
    }
  });
  const [code, signal] = await closed;
  clearTimeout(watchdog);
  clearTimeout(killTimer);
  // Anything after the last newline is a line the child was killed while writing: never an ack.
  const context = `run ${run} (${policy}, seed ${SEED}, kill after ${killAfterMs} ms)`;
  assert.deepEqual(protocolErrors, [], `${context}: unexpected output from the child\nstderr: ${stderr}`);
  assert.ok(readyLine, `${context}: the child never reported ready (exit code ${code}, signal ${signal})\nstderr: ${stderr}`);
  const [, lso, next, ...json] = readyLine.split(' ');
  const report = JSON.parse(json.join(' ')) as { notes: RecoveryNote[]; fenced?: string };
  assert.equal(report.fenced, undefined, `${context}: the child opened the partition fenced: ${report.fenced}`);
  assert.equal(signal, 'SIGKILL', `${context}: the child exited by itself (code ${code}) instead of being killed\nstderr: ${stderr}`);
  return { resumedAt: Number(next), logStartOffset: Number(lso), notes: report.notes, acks, ranMs: Math.round(killedAt - readyAt) };
}

// --- Checking the log ------------------------------------------------------------------------------

interface FoundAppend {
  seq: number;
  baseOffset: number;
  lastOffset: number;
  batches: number;
}

interface LogCheck {
  nextOffset: number;
  notes: RecoveryNote[];
  segments: number;
  /** Appends present in the log, in log order. */
  appends: FoundAppend[];
}

/** Checks every index entry of every segment on disk points at a batch with the offset it claims. */
function checkIndexFiles(dir: string): void {
  for (const log of readdirSync(dir).filter((f) => f.endsWith('.log'))) {
    const base = Number(log.slice(0, 20));
    const data = readFileSync(join(dir, log));
    const indexPath = join(dir, log.replace('.log', '.index'));
    assert.ok(existsSync(indexPath), `${basename(indexPath)} is missing after a clean close`);
    const index = readFileSync(indexPath);
    assert.equal(index.length % 8, 0, `${basename(indexPath)}: ${index.length} bytes is not whole entries`);
    if (data.length > 0) assert.ok(index.length > 0, `${basename(indexPath)} is empty but ${log} holds ${data.length} bytes`);
    for (let i = 0; i < index.length; i += 8) {
      const rel = index.readUInt32BE(i);
      const pos = index.readUInt32BE(i + 4);
      assert.ok(pos + BATCH_HEADER_SIZE <= data.length, `${basename(indexPath)} entry ${i / 8}: position ${pos} is past the end of ${log} (${data.length} bytes)`);
      assert.equal(readInt64(data, pos + OFF.baseOffset), base + rel, `${basename(indexPath)} entry ${i / 8}: says offset ${base + rel} starts at byte ${pos}`);
    }
  }
}

/**
 * Reopens the partition as a restarted broker would and checks it whole: offsets contiguous from
 * 0, every batch one the child built (decoded and compared), appends in order with none missing
 * inside a run, every acknowledged append present at its offsets; then verify() and close().
 */
async function checkLog(dir: string, policy: PolicyName, acks: ReadonlyMap<number, Ack>, context: string): Promise<LogCheck> {
  const { partition: p, report } = Partition.open(dir, TOPIC, 0, { config: crashConfig(policy) });
  try {
    const notes = JSON.stringify(report.notes, null, 1);
    assert.equal(report.fenced, undefined, `${context}: partition fenced on reopen: ${report.fenced?.message}\nnotes: ${notes}`);
    const logs = readdirSync(dir).filter((f) => f.endsWith('.log')).sort();
    for (const n of report.notes)
      if (n.action === 'truncated') assert.equal(basename(n.file), logs.at(-1), `${context}: recovery truncated ${basename(n.file)}, which is not the active segment\nnotes: ${notes}`);
    assert.equal(p.logStartOffset, 0, `${context}: log start offset`);

    const found: FoundAppend[] = [];
    let offset = 0;
    while (offset < p.nextOffset) {
      const r = await p.fetch(offset, 256 * 1024);
      assert.ok(r.records.length > 0, `${context}: fetch(${offset}) returned no batch, but the log ends at ${p.nextOffset}`);
      for (let pos = 0; pos < r.records.length; ) {
        const size = r.records.readInt32BE(pos + OFF.batchLength) + 12;
        const batch = r.records.subarray(pos, pos + size);
        const base = readInt64(batch, OFF.baseOffset);
        assert.equal(base, offset, `${context}: offsets not contiguous: the batch after offset ${offset - 1} starts at ${base}`);
        const { seq, index, count } = checkBatch(batch, `${context}, offset ${base}`);
        const last = found.at(-1);
        if (index > 0) {
          // A later batch of the same append: directly after the previous one.
          assert.ok(last && last.seq === seq && last.batches === index, `${context}: offset ${base} holds batch ${index} of append #${seq}, but the batch before it is ${last ? `batch ${last.batches - 1} of #${last.seq}` : 'nothing'}`);
          last.batches++;
          last.lastOffset = base + count - 1;
        } else {
          if (last) {
            const sameRun = Math.floor(seq / SEQ_STRIDE) === Math.floor(last.seq / SEQ_STRIDE);
            // Appends are written in call order, so a run's appends are in the log as a prefix of
            // what it sent: none missing in between, and only the last one possibly cut short.
            if (sameRun) assert.equal(seq, last.seq + 1, `${context}: offset ${base} holds append #${seq} right after #${last.seq}: appends in between are missing or out of order`);
            else assert.ok(seq > last.seq && seq % SEQ_STRIDE === 0, `${context}: offset ${base} holds append #${seq}, but a run's first append is a multiple of ${SEQ_STRIDE} after #${last.seq}`);
            if (sameRun)
              assert.equal(last.batches, expected(last.seq).content.length, `${context}: append #${last.seq} has ${last.batches} of its ${expected(last.seq).content.length} batches, and #${seq} follows it`);
          } else assert.equal(seq, 0, `${context}: the log starts with append #${seq}, not #0`);
          found.push({ seq, baseOffset: base, lastOffset: base + count - 1, batches: 1 });
        }
        offset = base + count;
        pos += size;
      }
      assert.equal(r.nextFetchOffset, offset, `${context}: fetch's nextFetchOffset`);
    }
    assert.equal(offset, p.nextOffset, `${context}: walking the log ended at ${offset}, nextOffset is ${p.nextOffset}`);

    const bySeq = new Map(found.map((f) => [f.seq, f]));
    for (const ack of acks.values()) {
      const f = bySeq.get(ack.seq);
      const what = `${context}: acknowledged append #${ack.seq} (run ${ack.run}, offsets ${ack.baseOffset}..${ack.lastOffset})`;
      assert.ok(f, `${what} is not in the log; offset ${ack.baseOffset} holds ${((f) => (f ? `append #${f.seq}` : 'nothing'))(found.find((x) => x.baseOffset <= ack.baseOffset && ack.baseOffset <= x.lastOffset))} (log end ${p.nextOffset})`);
      assert.equal(f.baseOffset, ack.baseOffset, `${what} is in the log at offset ${f.baseOffset}`);
      assert.equal(f.batches, expected(ack.seq).content.length, `${what} has only ${f.batches} of its ${expected(ack.seq).content.length} batches in the log`);
      assert.equal(f.lastOffset, ack.lastOffset, `${what} ends at offset ${f.lastOffset} in the log`);
    }

    const v = await p.verify();
    assert.equal(v.batches, found.reduce((n, f) => n + f.batches, 0), `${context}: verify() counted ${v.batches} batches`);
    return { nextOffset: p.nextOffset, notes: report.notes, segments: p.segmentCount, appends: found };
  } finally {
    await p.close();
  }
}

/** One directory's history across kills: everything acknowledged so far, and where the log ended. */
class CrashHistory {
  readonly acks = new Map<number, Ack>();
  nextOffset: number | undefined;
  run = 0;
  readonly stats = { kills: 0, acked: 0, unackedKept: 0, truncations: 0, rebuilds: 0, ranMs: 0, segments: 0 };
  constructor(
    readonly dir: string,
    readonly policy: PolicyName,
  ) {}

  /** Runs the child once, kills it after `killAfterMs`, and checks the whole log. */
  async killOnce(killAfterMs: number): Promise<LogCheck> {
    const { dir, policy, acks } = this;
    const run = this.run++;
    const context = `${policy} run ${run} (seed ${SEED}, killed ${killAfterMs} ms after ready)`;
    const r = await runAndKill(dir, policy, run, killAfterMs);
    if (this.nextOffset !== undefined) assert.equal(r.resumedAt, this.nextOffset, `${context}: the child resumed at ${r.resumedAt}, the log ended at ${this.nextOffset} when the test closed it`);
    assert.equal(r.logStartOffset, 0, `${context}: the child's log start offset`);
    // The test closed the partition cleanly before this run: the child has nothing to repair.
    assert.deepEqual(r.notes.filter((n) => n.action !== 'scanned'), [], `${context}: the child's recovery report after a clean close`);
    for (const a of r.acks) {
      assert.ok(!acks.has(a.seq), `${context}: append #${a.seq} acknowledged twice`);
      assert.equal(a.lastOffset - a.baseOffset + 1, expected(a.seq).records, `${context}: append #${a.seq} was acknowledged as offsets ${a.baseOffset}..${a.lastOffset} but holds ${expected(a.seq).records} records`);
      acks.set(a.seq, a);
    }
    const c = await checkLog(dir, policy, acks, context);
    checkIndexFiles(dir);
    this.nextOffset = c.nextOffset;
    const s = this.stats;
    s.kills++;
    s.acked += r.acks.length;
    s.unackedKept += c.appends.filter((f) => Math.floor(f.seq / SEQ_STRIDE) === run && !acks.has(f.seq)).length;
    s.truncations += c.notes.filter((n) => n.action === 'truncated').length;
    s.rebuilds += c.notes.filter((n) => n.action === 'index-rebuilt').length;
    s.ranMs += r.ranMs;
    s.segments = c.segments;
    return c;
  }

  summary(): string {
    const s = this.stats;
    return (
      `${this.policy}: ${s.kills} kills (seed ${SEED}), ${s.acked} appends acknowledged and all kept, ` +
      `${s.unackedKept} unacknowledged appends found written, ${s.truncations} torn tails truncated at reopen, ${s.rebuilds} indexes rebuilt, ` +
      `${s.segments} segments, ${this.nextOffset} offsets, ${s.ranMs} ms of appending`
    );
  }
}

const randomDelay = (rand: () => number) => 20 + Math.floor(rand() * 281);

// The tests run concurrently: most of a run is a child starting (tsx) or appending at its capped
// rate, so on two cores this roughly halves the wall time, and the load only varies the timing.
describe('crash recovery: SIGKILL at random moments', { concurrency: true }, () => {
  for (const [i, policy] of (['batch', 'messages', 'interval'] as const).entries()) {
    test(`${policy} flush policy: ${KILLS} kills, every acknowledged append kept, offsets contiguous`, async (t) => {
      const history = new CrashHistory(tempDir(), policy);
      const rand = prng(SEED + i);
      for (let k = 0; k < KILLS; k++) await history.killOnce(randomDelay(rand));
      t.diagnostic(history.summary());
      // A test that never got anything acknowledged, or never rolled, would prove little.
      assert.ok(history.acks.size >= KILLS * 5, `only ${history.acks.size} appends were acknowledged in ${KILLS} runs`);
      assert.ok(history.stats.segments >= 3, `the log never rolled much: ${history.stats.segments} segments`);
    });
  }

  test(`a torn write and lost index files (what SIGKILL cannot do) are repaired at open, keeping every acknowledged append`, async (t) => {
    const dir = tempDir();
    const history = new CrashHistory(dir, 'batch');
    const rand = prng(SEED + 99);
    const segments = () => readdirSync(dir).filter((f) => f.endsWith('.log')).sort();
    while (segments().length < 3) {
      assert.ok(history.run < 10, `after ${history.run} runs the log has only ${segments().length} segments`);
      await history.killOnce(randomDelay(rand));
    }
    const logs = segments();
    const active = join(dir, logs.at(-1)!);
    const activeSize = statSync(active).size;
    const nextOffset = history.nextOffset!;

    // Half of a plausible next batch (right offset, valid CRC) at the active segment's end, as a
    // power loss in the middle of a write leaves it, and the active segment's indexes gone.
    const torn = appendBatches(SEQ_STRIDE * 77)[0]!;
    writeInt64(torn, nextOffset, OFF.baseOffset);
    const tornBytes = Math.floor(torn.length / 2);
    appendFileSync(active, torn.subarray(0, tornBytes));
    unlinkSync(active.replace('.log', '.index'));
    unlinkSync(active.replace('.log', '.timeindex'));
    // Older segments' indexes: one garbled (not whole entries), one gone.
    const garbled = join(dir, logs[0]!.replace('.log', '.index'));
    const missing = join(dir, logs[1]!.replace('.log', '.index'));
    writeFileSync(garbled, Buffer.from([1, 2, 3, 4, 5]));
    unlinkSync(missing);

    const { partition: p, report } = Partition.open(dir, TOPIC, 0, { config: crashConfig('batch') });
    try {
      const notes = JSON.stringify(report.notes, null, 1);
      assert.equal(report.fenced, undefined, `fenced: ${report.fenced?.message}\n${notes}`);
      const cuts = report.notes.filter((n) => n.action === 'truncated');
      assert.equal(cuts.length, 1, `one truncation expected\n${notes}`);
      assert.equal(cuts[0]!.file, active, notes);
      assert.equal(cuts[0]!.truncatedBytes, tornBytes, notes);
      assert.match(cuts[0]!.detail, new RegExp(`at byte ${activeSize};`), notes);
      // The last two segments are scanned in full (their indexes rebuilt as part of it); older ones report the rebuild.
      const scanned = report.notes.filter((n) => n.action === 'scanned' || n.action === 'truncated').map((n) => n.file);
      assert.deepEqual(scanned.sort(), logs.slice(-2).map((f) => join(dir, f)).sort(), `the last two segments are scanned\n${notes}`);
      const olderIndexes = [garbled, missing].filter((f) => !scanned.includes(f.replace(/\.index$/, '.log')));
      assert.deepEqual(report.notes.filter((n) => n.action === 'index-rebuilt').map((n) => n.file).sort(), olderIndexes.sort(), `index rebuilds\n${notes}`);
      for (const f of [garbled, missing]) assert.ok(existsSync(f) && statSync(f).size > 0, `${f} rebuilt`);
      assert.equal(statSync(active).size, activeSize, 'the active segment is cut back to where the torn write began');
      assert.equal(p.nextOffset, nextOffset);
      // The active segment's indexes are written again at open, not only at close.
      assert.ok(existsSync(active.replace('.log', '.index')) && existsSync(active.replace('.log', '.timeindex')), 'active segment indexes rebuilt at open');
      if (activeSize > 0) assert.ok(statSync(active.replace('.log', '.index')).size > 0, 'active segment index is not empty');
    } finally {
      await p.close();
    }
    checkIndexFiles(dir);

    const clean = await checkLog(dir, 'batch', history.acks, 'after repair');
    assert.deepEqual(clean.notes.filter((n) => n.action !== 'scanned'), [], 'a second open finds nothing to repair');
    // And the log carries on: more crashes on the repaired directory lose nothing either.
    for (let k = 0; k < 2; k++) await history.killOnce(randomDelay(rand));
    t.diagnostic(history.summary());
  });
});
