// Idempotent producers: per partition, the sequence numbers of each producer's recent batches,
// so a retried batch is not appended twice and a gap in sequences is refused, as Kafka does.
//
// Kept in memory: after a restart a producer's first batch is accepted at any sequence (Kafka
// rebuilds this state from the log; that is left for replication, which needs it too).
import { BATCH_HEADER_SIZE, LOG_OVERHEAD, OFF, readInt64 } from '../log/index.ts';

/** Kafka keeps the last five batches of each producer for duplicate detection. */
const REMEMBERED = 5;

interface BatchEntry {
  firstSeq: number;
  lastSeq: number;
  baseOffset: number;
}

export interface AppendedBatch extends BatchEntry {
  producerId: number;
  epoch: number;
}

interface ProducerEntry {
  epoch: number;
  batches: BatchEntry[];
}

export type SequenceCheck =
  | { kind: 'append' }
  /** The same batch was appended before: answer with its offset, append nothing. */
  | { kind: 'duplicate'; baseOffset: number }
  | { kind: 'out-of-order'; expected: number; got: number }
  | { kind: 'fenced-epoch' };

export class ProducerStates {
  readonly #partitions = new Map<string, Map<number, ProducerEntry>>();

  /** Checks every batch of a produce request (before append). One answer for the request. */
  check(key: string, records: Buffer): SequenceCheck {
    const producers = this.#partitions.get(key);
    let p = 0;
    let duplicateOf: number | undefined;
    while (p + BATCH_HEADER_SIZE <= records.length) {
      const producerId = readInt64(records, p + OFF.producerId);
      const baseSeq = records.readInt32BE(p + OFF.baseSequence);
      const count = records.readInt32BE(p + OFF.lastOffsetDelta) + 1;
      if (producerId >= 0 && baseSeq >= 0) {
        const epoch = records.readInt16BE(p + OFF.producerEpoch);
        const entry = producers?.get(producerId);
        if (entry) {
          if (epoch < entry.epoch) return { kind: 'fenced-epoch' };
          if (epoch === entry.epoch) {
            const dup = entry.batches.find((b) => b.firstSeq === baseSeq && b.lastSeq === baseSeq + count - 1);
            if (dup) duplicateOf ??= dup.baseOffset;
            else {
              const last = entry.batches.at(-1);
              const expected = last ? (last.lastSeq + 1) % 2 ** 31 : 0;
              if (last && baseSeq !== expected) return { kind: 'out-of-order', expected, got: baseSeq };
            }
          } else if (baseSeq !== 0) return { kind: 'out-of-order', expected: 0, got: baseSeq }; // a new epoch starts at 0
        }
      }
      p += records.readInt32BE(p + OFF.batchLength) + LOG_OVERHEAD;
    }
    return duplicateOf !== undefined ? { kind: 'duplicate', baseOffset: duplicateOf } : { kind: 'append' };
  }

  /** The idempotent batches of `records`, once append has numbered them (base offsets assigned in the buffer). */
  batchesOf(records: Buffer): AppendedBatch[] {
    const out: AppendedBatch[] = [];
    for (let p = 0; p + BATCH_HEADER_SIZE <= records.length; p += records.readInt32BE(p + OFF.batchLength) + LOG_OVERHEAD) {
      const producerId = readInt64(records, p + OFF.producerId);
      const baseSeq = records.readInt32BE(p + OFF.baseSequence);
      if (producerId < 0 || baseSeq < 0) continue;
      out.push({ producerId, epoch: records.readInt16BE(p + OFF.producerEpoch), firstSeq: baseSeq, lastSeq: baseSeq + records.readInt32BE(p + OFF.lastOffsetDelta), baseOffset: readInt64(records, p + OFF.baseOffset) });
    }
    return out;
  }

  /** Records the batches just appended (from batchesOf, read before the append was acknowledged). */
  record(key: string, batches: readonly AppendedBatch[]): void {
    if (batches.length === 0) return;
    let producers = this.#partitions.get(key);
    if (!producers) this.#partitions.set(key, (producers = new Map()));
    for (const b of batches) {
      let entry = producers.get(b.producerId);
      if (!entry || entry.epoch !== b.epoch) producers.set(b.producerId, (entry = { epoch: b.epoch, batches: [] }));
      entry.batches.push({ firstSeq: b.firstSeq, lastSeq: b.lastSeq, baseOffset: b.baseOffset });
      if (entry.batches.length > REMEMBERED) entry.batches.shift();
    }
  }

  forget(key: string): void {
    this.#partitions.delete(key);
  }
}
