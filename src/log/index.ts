export { Partition, DEFAULT_PARTITION_CONFIG, validatePartitionConfig, type AppendResult, type BatchCipher, type FetchResult, type FlushPolicy, type PartitionConfig, type PartitionOptions, type RecoveryReport } from './partition.ts';
export { Segment, segmentFileName, type RecoveryNote } from './segment.ts';
export { AesGcmBatchCipher, KeyRing, keyFileIds } from './encryption.ts';
export { checkKeysAvailable, scanKeyUsage, type KeyUsage } from './key-usage.ts';
export { OffsetStore, type CommittedOffset } from './offset-store.ts';
export {
  BATCH_HEADER_SIZE,
  OFF,
  LOG_OVERHEAD,
  PLAINTEXT_KEY,
  buildRecordBatch,
  checkBatchFraming,
  crcMatches,
  decodeRecords,
  readBatchHeader,
  readInt64,
  writeInt64,
  type BatchHeader,
  type DecodedRecord,
  type LogRecord,
} from './record-batch.ts';
export { LogStore, type LogStoreOptions } from './log-store.ts';
