// Certificates: a CA, issuing and parsing, and TLS contexts that hot-reload mounted files.
export * from './x509.ts';
export * from './tls-context.ts';
