// The broker process: `startBroker` is its composition root (start.ts); the rest of the folder
// is its data plane (broker.ts), listeners (kafka/, http/), security and the policy receiver.
export { startBroker } from './start.ts';
export { AUDIT_TOPIC, Broker, type BrokerStartOptions } from './broker.ts';
export { DIRECT_READS } from './kafka/direct-socket.ts';
export { closeProbeListener, PROBE_PATHS, startProbeListener, type ProbeTarget } from './probes.ts';
