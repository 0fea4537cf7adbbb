// Kafka's error-code table lives in lib/ (kafka-error-codes.ts) because the error catalog maps
// each Bulwark error onto it and lib/ imports nothing above it; the codec re-exports it.
export { KafkaErrorCode } from '../lib/index.ts';
