// The syslog audit sink: each event as one RFC 5424 message to a syslog receiver (rsyslog,
// syslog-ng, a SIEM's collector), over UDP (RFC 5426: one datagram per message), TCP or a unix
// stream socket (RFC 6587 octet counting: `LENGTH SP MESSAGE`, so a newline inside an event can
// never split it).
//
// Message: `<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID - MSG`
//   PRI        facility * 8 + severity: notice (5) for a denial, a failed login or a connection
//              the broker closed; info (6) for everything else
//   TIMESTAMP  the event's time, RFC 3339 in UTC with milliseconds
//   MSGID      the event type (authentication, authorization, policy, topic, connection)
//   STRUCTURED-DATA is always "-"; MSG is the event's JSON line, already redacted by the audit log.
//
// A stream transport connects on the first batch and reconnects after a loss, with backoff (100 ms
// doubling to 5 s), while the broker goes on: recording an event never waits for the receiver.
// The batch being sent waits for the connection; new events wait in the sink's bounded queue and,
// past its bound, are dropped and counted (the `dropped` counter, a metric, and a warning). A
// message handed to a TCP connection that then breaks is lost without notice: plain syslog over TCP
// has no acknowledgements.
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { hostname } from 'node:os';
import { connect, isIPv6, type Socket } from 'node:net';
import { BulwarkError } from '../lib/index.ts';
import { QueuedAuditSink, type AuditQueueOptions, type QueuedLine } from './sinks.ts';

/** RFC 5424 facility codes (section 6.2.1), by the names syslog.conf uses. */
export const SYSLOG_FACILITIES = {
  kern: 0, user: 1, mail: 2, daemon: 3, auth: 4, syslog: 5, lpr: 6, news: 7, uucp: 8, cron: 9, authpriv: 10, ftp: 11,
  local0: 16, local1: 17, local2: 18, local3: 19, local4: 20, local5: 21, local6: 22, local7: 23,
} as const;
export type SyslogFacility = keyof typeof SYSLOG_FACILITIES;

export type SyslogTarget = { transport: 'udp' | 'tcp'; host: string; port: number } | { transport: 'unix'; path: string };

export interface SyslogAuditSinkOptions extends AuditQueueOptions {
  target: SyslogTarget;
  /** Default authpriv: audit events name users and addresses (syslog.conf keeps authpriv private). */
  facility?: SyslogFacility;
  /** APP-NAME, default bulwark. */
  appName?: string;
  /** HOSTNAME, default the machine's host name (a pod's name in Kubernetes). */
  hostname?: string;
  /** A stream connection attempt that takes longer fails (and is retried). Default 5,000 ms. */
  connectTimeoutMs?: number;
}

const SEVERITY_NOTICE = 5;
const SEVERITY_INFO = 6;
const MAX_BACKOFF_MS = 5000;

/** RFC 5424 header fields are printable US-ASCII without spaces, at most `max` characters; empty is "-". */
function headerField(value: string, max: number): string {
  const clean = value.replace(/[^\x21-\x7e]/g, '').slice(0, max);
  return clean === '' ? '-' : clean;
}

/** The event type, from the line's start (`{"time":"…","type":"…"`, as the audit log writes it). */
const TYPE_AT_START = /^\{"time":"[^"]*","type":"([a-z]+)"/;
// A denial, a failed login, or a connection the broker closed: what a SIEM alerts on.
const NOTICE = /^\{"time":"[^"]*","type":"(?:authorization","decision":"deny|authentication","outcome":"failure|connection)"/;

export class SyslogAuditSink extends QueuedAuditSink {
  readonly kind = 'syslog';
  readonly target: SyslogTarget;
  /** `<` is added per message; the rest of the header after PRI and the timestamp is fixed at construction. */
  readonly #facility: number;
  readonly #hostAppProc: string;
  readonly #connectTimeoutMs: number;
  #udp: UdpSocket | undefined;
  #stream: Socket | undefined;
  #stopping = false;
  #wake: (() => void) | undefined;

  constructor(opts: SyslogAuditSinkOptions) {
    super(opts);
    this.target = opts.target;
    this.#facility = SYSLOG_FACILITIES[opts.facility ?? 'authpriv'];
    this.#hostAppProc = `${headerField(opts.hostname ?? hostname(), 255)} ${headerField(opts.appName ?? 'bulwark', 48)} ${process.pid}`;
    this.#connectTimeoutMs = opts.connectTimeoutMs ?? 5000;
  }

  /** One RFC 5424 message (without transport framing). */
  format(line: string, timeMs: number): string {
    const severity = NOTICE.test(line) ? SEVERITY_NOTICE : SEVERITY_INFO;
    const msgId = TYPE_AT_START.exec(line)?.[1] ?? 'audit';
    return `<${this.#facility * 8 + severity}>1 ${new Date(timeMs).toISOString()} ${this.#hostAppProc} ${msgId} - ${line}`;
  }

  override close(): Promise<void> {
    this.#stopping = true; // a batch waiting for the receiver gets one more try, then fails
    this.#wake?.();
    return super.close();
  }

  protected async deliver(batch: QueuedLine[]): Promise<number> {
    const messages = batch.map((q) => Buffer.from(this.format(q.line, q.timeMs), 'utf8'));
    if (this.target.transport === 'udp') return this.#sendDatagrams(this.target, messages);
    const framed = Buffer.concat(messages.flatMap((m) => [Buffer.from(`${m.length} `, 'ascii'), m]));
    for (let backoff = 100; ; backoff = Math.min(backoff * 2, MAX_BACKOFF_MS)) {
      try {
        const socket = this.#stream ?? (await this.#connect());
        await new Promise<void>((resolve, reject) => {
          socket.write(framed, (err) => (err ? reject(err) : resolve()));
        });
        return 0;
      } catch (err) {
        this.#dropStream();
        if (this.#stopping) throw err;
        this.onError(err);
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, backoff);
          this.#wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        this.#wake = undefined;
      }
    }
  }

  protected async finish(): Promise<void> {
    const stream = this.#stream;
    this.#stream = undefined;
    if (stream) await new Promise<void>((resolve) => stream.end(resolve));
    const udp = this.#udp;
    this.#udp = undefined;
    if (udp) await new Promise<void>((resolve) => udp.close(() => resolve()));
  }

  async #sendDatagrams(target: { host: string; port: number }, messages: Buffer[]): Promise<number> {
    this.#udp ??= createSocket(isIPv6(target.host) ? 'udp6' : 'udp4').on('error', (err) => this.onError(err)).unref();
    const udp = this.#udp;
    const results = await Promise.all(
      messages.map(
        (m) =>
          new Promise<boolean>((resolve) => {
            udp.send(m, target.port, target.host, (err) => {
              if (err) this.onError(err);
              resolve(!err);
            });
          }),
      ),
    );
    return results.filter((ok) => !ok).length;
  }

  #connect(): Promise<Socket> {
    const target = this.target;
    return new Promise<Socket>((resolve, reject) => {
      const socket = target.transport === 'unix' ? connect(target.path) : connect(target.port, (target as { host: string }).host);
      const timer = setTimeout(() => socket.destroy(new BulwarkError('BWK_ERR_AUDIT_SYSLOG_UNREACHABLE', { target: describeSyslogTarget(target), detail: `no connection within ${this.#connectTimeoutMs} ms` })), this.#connectTimeoutMs);
      socket.once('error', (err) => {
        clearTimeout(timer);
        reject(new BulwarkError('BWK_ERR_AUDIT_SYSLOG_UNREACHABLE', { target: describeSyslogTarget(target), detail: (err as NodeJS.ErrnoException).code ?? err.message }, { cause: err }));
      });
      socket.once('connect', () => {
        clearTimeout(timer);
        socket.removeAllListeners('error');
        socket.setNoDelay(true);
        // A receiver that closes or fails: forget the socket; the next batch reconnects.
        socket.on('error', () => this.#dropStream(socket));
        socket.on('close', () => this.#dropStream(socket));
        // The receiver sends nothing in plain syslog; read and discard whatever it does send.
        socket.resume();
        this.#stream = socket;
        resolve(socket);
      });
    });
  }

  #dropStream(socket = this.#stream): void {
    if (!socket) return;
    if (this.#stream === socket) this.#stream = undefined;
    socket.destroy();
  }
}

/** For messages: `udp://host:port`, `tcp://host:port`, `unix:/path`. */
export function describeSyslogTarget(t: SyslogTarget): string {
  return t.transport === 'unix' ? `unix:${t.path}` : `${t.transport}://${isIPv6(t.host) ? `[${t.host}]` : t.host}:${t.port}`;
}
