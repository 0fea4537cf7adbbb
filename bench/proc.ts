// CPU time from Linux /proc, for the benchmarks: a process (and its threads by name), the whole
// machine, and the kernel's worker threads (where page-cache writeback runs when no process
// syncs). Times are user + system seconds; resolution 1/CLK_TCK (10 ms).
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

export const CLK_TCK = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout?.trim()) || 100;

/** utime + stime and the name of a /proc stat line (the name may hold spaces and parentheses). */
function parseStat(text: string): { name: string; seconds: number } {
  const open = text.indexOf('(');
  const close = text.lastIndexOf(')');
  const f = text.slice(close + 2).split(' ');
  return { name: text.slice(open + 1, close), seconds: (Number(f[11]) + Number(f[12])) / CLK_TCK };
}

/** User + system CPU seconds a process has used so far, or NaN once it is gone. */
export function cpuSeconds(pid: number): number {
  try {
    return parseStat(readFileSync(`/proc/${pid}/stat`, 'utf8')).seconds;
  } catch {
    return NaN;
  }
}

export interface CpuSample {
  /** User + system seconds of the whole process. */
  total: number;
  /**
   * Seconds by thread name, digits replaced by N ("kafka-request-h" is Kafka's request handler
   * pool, names cut at 15 characters); the process's first thread is "main" (node's event loop;
   * node's other threads all share its name).
   */
  threads: Record<string, number>;
}

export function sampleProcessCpu(pid: number): CpuSample {
  const total = parseStat(readFileSync(`/proc/${pid}/stat`, 'utf8')).seconds;
  const threads: Record<string, number> = {};
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const t = parseStat(readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8'));
      const name = tid === String(pid) ? 'main' : t.name.replace(/\d+/g, 'N');
      threads[name] = (threads[name] ?? 0) + t.seconds;
    } catch {
      // the thread exited between readdir and read: its time is in the process total
    }
  }
  return { total, threads };
}

/** Thread seconds spent between two samples, by name (only those that moved). */
export function threadDelta(a: CpuSample, b: CpuSample): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [name, s] of Object.entries(b.threads)) {
    const d = s - (a.threads[name] ?? 0);
    if (d > 0.005) out[name] = Math.round(d * 100) / 100;
  }
  return out;
}

/** Busy seconds of the whole machine so far (/proc/stat: all but idle and iowait, summed over cores). */
export function machineBusySeconds(): number {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  const all = f.slice(0, 8).reduce((a, b) => a + b, 0);
  return (all - f[3]! - f[4]!) / CLK_TCK;
}

/**
 * CPU seconds of the kernel's worker threads (kworker/*) so far: writeback of dirty pages that no
 * process synced runs there (flush-<dev>), uncounted in any process. Approximate: idle kworkers
 * exit and take their time with them.
 */
export function kworkerSeconds(): number {
  let total = 0;
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      const s = parseStat(readFileSync(`/proc/${pid}/stat`, 'utf8'));
      if (s.name.startsWith('kworker')) total += s.seconds;
    } catch {
      // gone
    }
  }
  return total;
}

/** The pid of the process in pod `uid` whose argv holds every one of `argv` (the pod's cgroup names its uid). */
export function podPid(uid: string, argv: string[]): number | undefined {
  const marks = [`pod${uid}`, `pod${uid.replace(/-/g, '_')}`];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
      if (!argv.every((a) => cmdline.includes(a))) continue;
      const cgroup = readFileSync(`/proc/${entry}/cgroup`, 'utf8');
      if (marks.some((m) => cgroup.includes(m))) return Number(entry);
    } catch {
      // gone, or not ours to read
    }
  }
  return undefined;
}

/** A process's resident memory in MiB (/proc VmRSS), NaN once it is gone. */
export function rssMiB(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : NaN;
  } catch {
    return NaN;
  }
}
