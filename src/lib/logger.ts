// The process's operational log: pino, JSON lines by default (`bulwark broker`), human-readable
// for `bulwark dev`. Each component logs through a child (`logger.child({ component: 'kafka' })`).
//
// Nothing secret reaches the output, whatever a caller passes:
// - fields whose name is secret (password, token, secret, authorization, keys, ...) are censored
//   by pino's `redact` paths at the depths we log, and by name at any depth (redact.ts's
//   isSecretKey) as the object is formatted;
// - bytes (SASL messages, frames, keys) are never written, only their length;
// - every string, the message and err.message/err.stack included, goes through scrubString:
//   bwk_ tokens, JWTs, Bearer/Basic credentials, `password=...` and SASL PLAIN text are cut.
import { format } from 'node:util';
import { pino, stdSerializers, type DestinationStream, type Level, type Logger } from 'pino';
import pinoPretty from 'pino-pretty';
import { isSecretKey, scrubString } from './redact.ts';

export type { Logger } from 'pino';

export interface LoggerOptions {
  /** Human-readable lines (pino-pretty, written synchronously in this thread) instead of JSON. */
  pretty?: boolean;
  /** Lowest level written; 'info' by default. */
  level?: Level | 'silent';
  /** Where lines go: a file descriptor or anything with write(string); stderr (fd 2) by default. */
  destination?: number | { write(line: string): unknown };
}

const CENSOR = '[REDACTED]';
/** Field names censored by path; isSecretKey catches the rest, at any depth, when the object is formatted. */
const SECRET_FIELDS = ['password', 'passwd', 'secret', 'token', 'accessToken', 'refreshToken', 'authorization', 'cookie', 'authBytes', 'privateKey', 'key', 'serverSecret', 'credentials'];
const REDACT_PATHS = [
  ...SECRET_FIELDS.flatMap((f) => [f, `*.${f}`, `*.*.${f}`]),
  'headers.authorization',
  'headers.cookie',
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-api-key"]',
  '*.headers.authorization',
  '*.headers.cookie',
];
const MAX_DEPTH = 6;

/** Strings scrubbed, secret-named fields censored, bytes replaced by their length; errors left for the err serializer. */
function scrubValue(value: unknown, depth: number): unknown {
  if (typeof value === 'string') return scrubString(value);
  if (typeof value !== 'object' || value === null || value instanceof Error) return value;
  if (ArrayBuffer.isView(value) || value instanceof ArrayBuffer) return `[${value.byteLength} bytes]`;
  if (depth >= MAX_DEPTH) return '[too deep]';
  if (Array.isArray(value)) return value.map((v) => scrubValue(v, depth + 1));
  if (value instanceof Date) return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k] = isSecretKey(k) ? CENSOR : scrubValue(v, depth + 1);
  return out;
}

/** pino's error serializer, then every string in it (message, stack, causes) scrubbed. */
function serializeError(err: unknown): unknown {
  return err instanceof Error ? scrubValue({ ...stdSerializers.err(err) }, 0) : scrubValue(err, 0);
}

export function createLogger(opts: LoggerOptions = {}): Logger {
  const destination = opts.destination ?? 2;
  const stream: DestinationStream = opts.pretty ? prettyStream(destination) : typeof destination === 'number' ? pino.destination({ dest: destination, sync: true }) : (destination as DestinationStream);
  return pino(
    {
      level: opts.level ?? 'info',
      redact: { paths: REDACT_PATHS, censor: CENSOR },
      serializers: { err: serializeError, error: serializeError },
      formatters: { log: (obj) => scrubValue(obj, 0) as Record<string, unknown> },
      hooks: {
        // The message is formatted here, so what is scrubbed is exactly what is written; an
        // Error logged alone gives its (scrubbed) message as the line's message, as pino would.
        logMethod(args, method) {
          const [first, ...rest] = args as unknown[];
          if (typeof first === 'object' && first !== null) {
            const msg = rest.length > 0 ? scrubString(format(...rest)) : first instanceof Error ? scrubString(first.message) : undefined;
            return msg === undefined ? method.call(this, first as object) : method.call(this, first as object, msg);
          }
          return method.call(this, scrubString(format(...(args as unknown[]))));
        },
      },
    },
    stream,
  );
}

/** pino-pretty's formatter as a synchronous destination: no worker thread, no stream pipeline. */
function prettyStream(destination: number | { write(line: string): unknown }): DestinationStream {
  const pretty = pinoPretty.prettyFactory({ colorize: typeof destination === 'number' && pinoPretty.isColorSupported, ignore: 'pid,hostname', translateTime: 'SYS:HH:MM:ss.l' });
  const out = typeof destination === 'number' ? pino.destination({ dest: destination, sync: true }) : destination;
  return { write: (line: string) => out.write(pretty(line)) };
}

/** A log line as written, parsed. */
export interface LogLine {
  level: number;
  msg?: string;
  component?: string;
  [field: string]: unknown;
}

/** A logger whose lines are kept in memory, parsed (tests; the operator's own checks). */
export interface LogCapture {
  logger: Logger;
  /** Every line written, in order. */
  lines: LogLine[];
  /** Every raw line written, as text (what a reader of the log would see). */
  text(): string;
  /** The `msg` of every line. */
  messages(): string[];
}

export function captureLogs(opts: Omit<LoggerOptions, 'destination'> = {}): LogCapture {
  const raw: string[] = [];
  const lines: LogLine[] = [];
  const logger = createLogger({
    level: 'trace',
    ...opts,
    destination: {
      write(line: string) {
        raw.push(line);
        if (!opts.pretty) for (const l of line.split('\n')) if (l.trim() !== '') lines.push(JSON.parse(l) as LogLine);
      },
    },
  });
  return { logger, lines, text: () => raw.join(''), messages: () => lines.map((l) => l.msg ?? '') };
}
