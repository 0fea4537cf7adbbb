// Where the Apache Kafka Java client and tools are: `scripts/kafka-peer.sh env` resolves the jars
// of tools/kafka/pom.xml from Maven Central into the cache (once) and prints KEY=value lines.
// Tests, the e2e scenarios, the docs test and the benchmarks all run the Java tools through this.
import { execFile, execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';

export interface KafkaPeerEnv {
  KAFKA_VERSION: string;
  /** The directory of the jars: the class path is `${KAFKA_LIB}/*`. */
  KAFKA_LIB: string;
  /** A log4j2 configuration that keeps the tools quiet. */
  KAFKA_LOG4J: string;
  JAVA: string;
}

const SCRIPT = join(import.meta.dirname, '..', '..', 'scripts', 'kafka-peer.sh');
/** A cold cache downloads the jars. */
const TIMEOUT_MS = 15 * 60_000;
const KEYS = ['KAFKA_VERSION', 'KAFKA_LIB', 'KAFKA_LOG4J', 'JAVA'] as const;

function parse(stdout: string): KafkaPeerEnv {
  const kv = new Map<string, string>();
  for (const line of stdout.split('\n')) {
    const eq = line.indexOf('=');
    if (eq > 0) kv.set(line.slice(0, eq), line.slice(eq + 1));
  }
  const missing = KEYS.filter((k) => !kv.get(k));
  if (missing.length > 0) throw new Error(`scripts/kafka-peer.sh env printed no ${missing.join(', ')}`);
  return Object.fromEntries(KEYS.map((k) => [k, kv.get(k)!])) as unknown as KafkaPeerEnv;
}

/** The jars and java, resolved without blocking the event loop (a test's node and clients keep running meanwhile). */
export async function kafkaPeerEnv(): Promise<KafkaPeerEnv> {
  const { stdout } = await promisify(execFile)('bash', [SCRIPT, 'env'], { maxBuffer: 1 << 20, timeout: TIMEOUT_MS });
  return parse(stdout);
}

/** The same, blocking: for the benchmarks and scripts that have nothing else running yet. */
export function kafkaPeerEnvSync(): KafkaPeerEnv {
  return parse(execFileSync('bash', [SCRIPT, 'env'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], timeout: TIMEOUT_MS }));
}

/**
 * The java arguments that run `cls` of the Kafka jars. `quick` (C1 only) starts a short-lived tool
 * faster; leave it off where the JVM's steady-state speed matters. `jvm`: more JVM options (-D...).
 */
export function javaArgs(env: KafkaPeerEnv, cls: string, args: readonly string[], opts: { quick?: boolean; jvm?: readonly string[] } = {}): string[] {
  return ['-Xmx256m', ...(opts.quick ? ['-XX:TieredStopAtLevel=1'] : []), `-Dlog4j2.configurationFile=${env.KAFKA_LOG4J}`, ...(opts.jvm ?? []), '-cp', `${env.KAFKA_LIB}/*`, cls, ...args];
}
