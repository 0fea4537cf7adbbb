// Audit sinks: where event lines go. Lines are queued in memory and written in batches, one
// write per event-loop turn (file: one appending write; topic: one RecordBatch; syslog:
// syslog-sink.ts). The process-log sink, used when no other is configured, writes at once.
import { open, type FileHandle } from 'node:fs/promises';
import { BulwarkError } from '../lib/index.ts';
import { buildRecordBatch } from '../log/index.ts';


export interface AuditSinkStats {
  /** Events written (file) or appended (topic). */
  written: number;
  /** Events dropped because the queue was full or the sink closed. */
  dropped: number;
  /** Events lost to a failed write or append. */
  failed: number;
}

/** Where audit lines go. Implementations queue and batch; `write` never blocks and never throws. */
export interface AuditSink {
  readonly kind: string;
  /** Queues one serialized event (no trailing newline). False when it was dropped. */
  write(line: string, timeMs: number): boolean;
  /** Resolves when everything queued before the call has been written (or has failed). */
  flush(): Promise<void>;
  /** Flushes, then releases the sink's resources. Later writes are dropped. */
  close(): Promise<void>;
  stats(): AuditSinkStats;
}

export interface AuditQueueOptions {
  /** Most events waiting to be written. Default 10,000. */
  maxQueuedEvents?: number;
  /** Most bytes of events waiting to be written. Default 4 MiB. */
  maxQueuedBytes?: number;
  /** Told about each failed write or append (say, to log it). Never given event contents. */
  onError?: (err: unknown) => void;
  /** Told when events start being dropped (the first drop, then at most once per `dropWarningIntervalMs`), with the total so far. */
  onDropped?: (dropped: number) => void;
  /** Default 10,000. */
  dropWarningIntervalMs?: number;
}

export interface QueuedLine {
  line: string;
  timeMs: number;
}

/**
 * The queue and batching every sink shares. The queue is bounded: when a sink falls behind (a
 * slow disk, an unavailable topic) new events are dropped and counted rather than held. The
 * broker stays available and its memory bounded at the cost of completeness of the audit log;
 * the `dropped` counter (exported as a metric) makes every loss visible.
 */
export abstract class QueuedAuditSink implements AuditSink {
  abstract readonly kind: string;
  #queue: QueuedLine[] = [];
  #queuedBytes = 0;
  #scheduled = false;
  /** Drains, reopens and closes run one after another on this chain; it never rejects. */
  #chain: Promise<void> = Promise.resolve();
  #closing: Promise<void> | undefined;
  #written = 0;
  #dropped = 0;
  #failed = 0;
  readonly #maxEvents: number;
  readonly #maxBytes: number;
  readonly #onDropped: (dropped: number) => void;
  readonly #dropWarningIntervalMs: number;
  #lastDropWarningMs = -Infinity;
  protected readonly onError: (err: unknown) => void;

  constructor(opts: AuditQueueOptions) {
    this.#maxEvents = opts.maxQueuedEvents ?? 10_000;
    this.#maxBytes = opts.maxQueuedBytes ?? 4 << 20;
    this.onError = opts.onError ?? (() => {});
    this.#onDropped = opts.onDropped ?? (() => {});
    this.#dropWarningIntervalMs = opts.dropWarningIntervalMs ?? 10_000;
  }

  /** Writes a batch; returns how many of its events failed (or throws: all of them failed). */
  protected abstract deliver(batch: QueuedLine[]): Promise<number>;
  /** Releases resources after the last drain. */
  protected abstract finish(): Promise<void>;

  write(line: string, timeMs: number): boolean {
    // Length in UTF-16 units: close enough to bytes for a bound, and free to compute.
    if (this.#closing || this.#queue.length >= this.#maxEvents || this.#queuedBytes + line.length > this.#maxBytes) {
      this.#dropped++;
      const now = Date.now();
      if (now - this.#lastDropWarningMs >= this.#dropWarningIntervalMs) {
        this.#lastDropWarningMs = now;
        this.#onDropped(this.#dropped);
      }
      return false;
    }
    this.#queue.push({ line, timeMs });
    this.#queuedBytes += line.length;
    if (!this.#scheduled) {
      this.#scheduled = true;
      // One batch per event-loop turn: everything recorded while handling this turn's requests.
      setImmediate(() => {
        this.#scheduled = false;
        void this.flush();
      });
    }
    return true;
  }

  flush(): Promise<void> {
    return this.exclusive(() => this.#drain());
  }

  close(): Promise<void> {
    this.#closing ??= this.exclusive(async () => {
      await this.#drain();
      await this.finish();
    });
    return this.#closing;
  }

  stats(): AuditSinkStats {
    return { written: this.#written, dropped: this.#dropped, failed: this.#failed };
  }

  /** Writes everything queued; for subclasses, inside `exclusive`. */
  protected drainQueued(): Promise<void> {
    return this.#drain();
  }

  /** Runs `fn` after every drain, reopen or close queued before it. Rejections reach the caller only. */
  protected exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#chain.then(fn);
    this.#chain = run.then(
      () => {},
      () => {},
    );
    return run;
  }

  async #drain(): Promise<void> {
    while (this.#queue.length > 0) {
      const batch = this.#queue;
      this.#queue = [];
      this.#queuedBytes = 0;
      let failed: number;
      try {
        failed = await this.deliver(batch);
      } catch (err) {
        failed = batch.length;
        this.onError(err);
      }
      this.#written += batch.length - failed;
      this.#failed += failed;
    }
  }
}

/**
 * Writes each event to the broker's own log (pino: one JSON line on stdout per event, the event
 * under `audit`), at once and unqueued: the logger does its own buffering. The broker uses it when
 * no other sink is configured, so that no event is dropped without a trace.
 */
export class ProcessLogAuditSink implements AuditSink {
  readonly kind = 'log';
  readonly #log: (event: Record<string, unknown>) => void;
  #written = 0;
  #dropped = 0;
  #closed = false;

  /** `log` writes one event; the broker passes `(audit) => logger.info({ audit }, 'audit event')`. */
  constructor(log: (event: Record<string, unknown>) => void) {
    this.#log = log;
  }

  write(line: string): boolean {
    if (this.#closed) {
      this.#dropped++;
      return false;
    }
    // Parsed back so the event nests as an object in the log line (one parse per event; this sink
    // is the fallback when nothing else is configured, not the high-volume path).
    this.#log(JSON.parse(line) as Record<string, unknown>);
    this.#written++;
    return true;
  }

  async flush(): Promise<void> {}

  async close(): Promise<void> {
    this.#closed = true;
  }

  stats(): AuditSinkStats {
    return { written: this.#written, dropped: this.#dropped, failed: 0 };
  }
}

/**
 * Appends JSON lines to a file opened with O_APPEND (mode 0600: the audit log names users and
 * addresses). One write per batch, no fsync per event; `close()` fsyncs. `reopen()` is for log
 * rotation: after logrotate renames the file, call it (on SIGHUP) and the sink continues in a new
 * file at the same path.
 */
export class FileAuditSink extends QueuedAuditSink {
  readonly kind = 'file';
  readonly path: string;
  #file: FileHandle;
  /** A write failed part-way: the next one starts with a newline so its first line parses. */
  #torn = false;

  private constructor(path: string, file: FileHandle, opts: AuditQueueOptions) {
    super(opts);
    this.path = path;
    this.#file = file;
  }

  /** Opens (creating if needed) the file. Throws BWK_ERR_AUDIT_FILE_UNWRITABLE when it cannot. */
  static async open(path: string, opts: AuditQueueOptions = {}): Promise<FileAuditSink> {
    return new FileAuditSink(path, await openAppend(path), opts);
  }

  /** Writes what is queued to the current file, then continues in a newly opened file at the same path. */
  reopen(): Promise<void> {
    return this.exclusive(async () => {
      await this.drainQueued(); // what was recorded before the rotation belongs in the rotated file
      const next = await openAppend(this.path); // on failure, keep writing to the file we have
      const old = this.#file;
      this.#file = next;
      this.#torn = false;
      try {
        await old.sync();
      } finally {
        await old.close();
      }
    });
  }

  protected async deliver(batch: QueuedLine[]): Promise<number> {
    let text = '';
    for (const q of batch) text += `${q.line}\n`;
    const bytes = Buffer.from(this.#torn ? `\n${text}` : text, 'utf8');
    let offset = 0;
    try {
      while (offset < bytes.length) offset += (await this.#file.write(bytes, offset, bytes.length - offset, null)).bytesWritten;
    } catch (err) {
      this.#torn = offset > 0 || this.#torn;
      throw err;
    }
    this.#torn = false;
    return 0;
  }

  protected async finish(): Promise<void> {
    try {
      await this.#file.sync();
    } finally {
      await this.#file.close();
    }
  }
}

async function openAppend(path: string): Promise<FileHandle> {
  try {
    return await open(path, 'a', 0o600);
  } catch (err) {
    throw new BulwarkError('BWK_ERR_AUDIT_FILE_UNWRITABLE', { path, detail: (err as NodeJS.ErrnoException).code ?? 'unknown error' }, { cause: err });
  }
}

export interface TopicAuditSinkOptions extends AuditQueueOptions {
  /** Most events per RecordBatch. Default 1,000. */
  maxBatchEvents?: number;
  /** Most bytes of events per RecordBatch, below the topic's max message bytes. Default 512 KiB. */
  maxBatchBytes?: number;
}

/**
 * Appends events to a topic (the broker passes a function that appends to `__audit`), each
 * turn's events as one RecordBatch (more if they exceed `maxBatchBytes`), one record per event:
 * null key, the JSON line as value, the event time as timestamp. A failed append is counted and
 * reported to `onError`, and its events are lost; it never reaches a request.
 */
export class TopicAuditSink extends QueuedAuditSink {
  readonly kind = 'topic';
  readonly #append: (batch: Buffer) => Promise<unknown>;
  readonly #maxBatchEvents: number;
  readonly #maxBatchBytes: number;

  constructor(append: (batch: Buffer) => Promise<unknown>, opts: TopicAuditSinkOptions = {}) {
    super(opts);
    this.#append = append;
    this.#maxBatchEvents = opts.maxBatchEvents ?? 1000;
    this.#maxBatchBytes = opts.maxBatchBytes ?? 512 * 1024;
  }

  protected async deliver(batch: QueuedLine[]): Promise<number> {
    let failed = 0;
    for (let start = 0; start < batch.length; ) {
      let end = start;
      let bytes = 0;
      while (end < batch.length && end - start < this.#maxBatchEvents && (end === start || bytes + batch[end]!.line.length <= this.#maxBatchBytes)) bytes += batch[end++]!.line.length;
      const chunk = batch.slice(start, end);
      start = end;
      try {
        await this.#append(buildRecordBatch(chunk.map((q) => ({ key: null, value: Buffer.from(q.line, 'utf8'), timestamp: q.timeMs }))));
      } catch (err) {
        failed += chunk.length;
        this.onError(err);
      }
    }
    return failed;
  }

  protected async finish(): Promise<void> {}
}

