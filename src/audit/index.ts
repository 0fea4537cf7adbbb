// The audit log: events, the sinks they are written to, and the log that coalesces denials.
export * from './events.ts';
export * from './sinks.ts';
export * from './syslog-sink.ts';
export * from './audit-log.ts';
