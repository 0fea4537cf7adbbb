// A real syslog receiver for tests: rsyslogd from Debian (installed by scripts/ensure-deps.mjs
// --test), run in the foreground (-n) with its own config, pid file and work directory in a temp
// dir, listening on loopback UDP and TCP ports and on a unix stream socket. Nothing system-wide:
// no /dev/log, no /etc/rsyslog.conf.
//
// It writes what it received twice: `received.log` as RFC 5424 lines (rsyslog's
// RSYSLOG_SyslogProtocol23Format), and `received.jsonl` with the fields rsyslog's own RFC 5424
// parser took out of each message (so a test sees what a receiver understood, not what was sent).
import { spawn, type ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A message as rsyslog parsed it. */
export interface ReceivedSyslog {
  /** imudp, imtcp or imptcp (the unix socket). */
  input: string;
  pri: string;
  facility: string;
  severity: string;
  version: string;
  timestamp: string;
  hostname: string;
  appName: string;
  procid: string;
  msgid: string;
  structuredData: string;
  msg: string;
}

export interface Rsyslog {
  udpPort: number;
  tcpPort: number;
  /** The unix stream socket. */
  unixPath: string;
  /** Messages received so far, as rsyslog parsed them. */
  received(): ReceivedSyslog[];
  /** The RFC 5424 lines rsyslog wrote. */
  lines(): string[];
  /** Resolves once at least `n` messages were received. */
  waitFor(n: number, timeoutMs?: number): Promise<ReceivedSyslog[]>;
  /** Stops the daemon (SIGTERM), keeping what it wrote. */
  stop(): Promise<void>;
  /** Starts it again on the same ports and socket. */
  start(): Promise<void>;
  /** Stops it and removes its directory. */
  dispose(): Promise<void>;
}

const RSYSLOGD = ['/usr/sbin/rsyslogd', '/usr/local/sbin/rsyslogd'].find((p) => existsSync(p)) ?? 'rsyslogd';

async function freeTcpPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  await new Promise((r) => server.close(r));
  return port;
}

async function freeUdpPort(): Promise<number> {
  const socket = createSocket('udp4');
  await new Promise<void>((r) => socket.bind(0, '127.0.0.1', r));
  const { port } = socket.address();
  await new Promise<void>((r) => socket.close(r));
  return port;
}

const until = async (cond: () => boolean, timeoutMs: number, what: () => string) => {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`rsyslogd: ${what()}`);
    await new Promise((r) => setTimeout(r, 20));
  }
};

export async function startRsyslog(): Promise<Rsyslog> {
  const dir = mkdtempSync(join(tmpdir(), 'bulwark-rsyslog-'));
  const [udpPort, tcpPort] = [await freeUdpPort(), await freeTcpPort()];
  const unixPath = join(dir, 'audit.sock');
  const jsonFile = join(dir, 'received.jsonl');
  const rfcFile = join(dir, 'received.log');
  const config = join(dir, 'rsyslog.conf');
  const pidFile = join(dir, 'rsyslogd.pid');
  const fields: [string, string, string?][] = [
    ['input', 'inputname'],
    ['pri', 'pri'],
    ['facility', 'syslogfacility-text'],
    ['severity', 'syslogseverity-text'],
    ['version', 'protocol-version'],
    ['timestamp', 'timereported', 'rfc3339'],
    ['hostname', 'hostname'],
    ['appName', 'app-name'],
    ['procid', 'procid'],
    ['msgid', 'msgid'],
    ['structuredData', 'structured-data'],
    ['msg', 'msg'],
  ];
  writeFileSync(
    config,
    `global(workDirectory="${dir}" maxMessageSize="64k")
module(load="imudp")
module(load="imtcp")
module(load="imptcp")
input(type="imudp" address="127.0.0.1" port="${udpPort}" ruleset="audit")
input(type="imtcp" address="127.0.0.1" port="${tcpPort}" ruleset="audit")
input(type="imptcp" path="${unixPath}" unlink="on" ruleset="audit")
template(name="fields" type="list" option.jsonf="on") {
${fields.map(([out, name, date]) => `  property(outname="${out}" name="${name}"${date ? ` dateFormat="${date}"` : ''} format="jsonf")`).join('\n')}
}
ruleset(name="audit") {
  action(type="omfile" file="${jsonFile}" template="fields")
  action(type="omfile" file="${rfcFile}" template="RSYSLOG_SyslogProtocol23Format")
}
`,
  );
  // Complete lines only: rsyslogd may be writing the last one as it is read.
  const read = (file: string) => (existsSync(file) ? readFileSync(file, 'utf8').split('\n').slice(0, -1).filter((l) => l !== '') : []);
  let child: ChildProcess | undefined;
  let output = '';
  const start = async () => {
    output = '';
    const proc = spawn(RSYSLOGD, ['-n', '-f', config, '-i', pidFile], { stdio: ['ignore', 'pipe', 'pipe'] });
    child = proc;
    proc.stdout!.on('data', (d: Buffer) => (output += d.toString()));
    proc.stderr!.on('data', (d: Buffer) => (output += d.toString()));
    // Ready once every input listens: the socket file exists and the TCP port accepts.
    await until(
      () => existsSync(unixPath) || proc.exitCode !== null,
      10_000,
      () => `did not start: ${output}`,
    );
    if (proc.exitCode !== null) throw new Error(`rsyslogd exited with ${proc.exitCode}: ${output}`);
  };
  const stop = async () => {
    const proc = child;
    child = undefined;
    if (!proc || proc.exitCode !== null) return;
    await new Promise<void>((r) => {
      proc.once('exit', () => r());
      proc.kill('SIGTERM');
    });
  };
  await start();
  const r: Rsyslog = {
    udpPort,
    tcpPort,
    unixPath,
    received: () => read(jsonFile).map((l) => JSON.parse(l) as ReceivedSyslog),
    lines: () => read(rfcFile),
    async waitFor(n, timeoutMs = 10_000) {
      await until(
        () => r.received().length >= n,
        timeoutMs,
        () => `${r.received().length} of ${n} messages received; output: ${output}`,
      );
      return r.received();
    },
    stop,
    start,
    async dispose() {
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return r;
}
