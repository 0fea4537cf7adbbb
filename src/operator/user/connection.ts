// What a User's connection Secret holds (issue 13): the credentials, where to connect, the CA,
// and client configurations that work as written. Pure: no I/O, no clock, no randomness.
//
// Keys (plain strings; the caller base64-encodes them):
//   username, password (not for tls), sasl.mechanism (not for tls), security.protocol,
//   bootstrap.servers, ca.crt, sasl.jaas.config (not for tls), tls.crt and tls.key (tls only),
//   client.properties       the Apache Kafka Java client (--producer.config, --command-config, ...)
//   librdkafka.properties   kcat -F and other librdkafka clients
//
// Why two properties files and not one: kcat's -F reader (kcat.c read_conf_file, 1.7.1) and
// librdkafka accept far less than Java's java.util.Properties, and refuse rather than ignore:
// - a key librdkafka does not know is fatal ("No such configuration property"), and the Java
//   client needs ssl.truststore.type / ssl.truststore.certificates (or ssl.keystore.*) for TLS;
// - sasl.jaas.config is fatal in librdkafka ("Java JAAS configuration is not supported"); kcat
//   translates only a PlainLoginModule line (into 128-byte buffers, without unescaping), never
//   ScramLoginModule, and the Java client needs the JAAS line for SCRAM and PLAIN;
// - one property per physical line, read with fgets into 512 bytes: no `\` continuation, and a
//   longer line is cut into pieces that fail "expected property=value". A CA certificate cannot
//   be inlined with ssl.ca.pem (a PEM needs its newlines and is 600+ bytes), so the librdkafka
//   file names the CA (and a tls user's certificate and key) by path: the keys of this Secret,
//   mounted where `mountPath` says (default DEFAULT_SECRET_MOUNT_PATH);
// - no escapes but `\=` and `\:` (unescaped everywhere, repeatedly), each line is trimmed, and
//   `key = value` makes the key "key " (unknown): values are written bare, and a value that kcat
//   cannot carry (newline, leading or trailing space, `\=`, `\:`, a line over 510 bytes; only a
//   brought password can be one) leaves librdkafka.properties out rather than write a file that
//   logs in with another password.
// The Java file inlines everything (PEM truststore and keystore, Kafka 2.7+), so it needs no path.
import type { AuthenticationType, BrokerCluster, BrokerClusterSpec } from '../../api/index.ts';
import { BulwarkError } from '../../lib/index.ts';

export type KafkaListener = BrokerClusterSpec['listeners'][number];
export type SaslMechanism = 'SCRAM-SHA-256' | 'SCRAM-SHA-512' | 'PLAIN';
export type SecurityProtocol = 'SASL_SSL' | 'SASL_PLAINTEXT' | 'SSL';

/** Where an application is expected to mount the User's Secret; librdkafka.properties names ca.crt (and tls.crt, tls.key) under it. */
export const DEFAULT_SECRET_MOUNT_PATH = '/etc/bulwark/user';

/** The listener mechanism (spec.listeners[].authentication) a user of each type needs. */
const LISTENER_MECHANISM = { 'scram-sha-256': 'scram-sha-256', 'scram-sha-512': 'scram-sha-512', password: 'plain', tls: 'mtls' } as const satisfies Record<AuthenticationType, string>;

/** The SASL mechanism a user of this type logs in with; undefined for tls (the client certificate is the login). */
export function saslMechanismOf(authType: AuthenticationType): SaslMechanism | undefined {
  switch (authType) {
    case 'scram-sha-256':
      return 'SCRAM-SHA-256';
    case 'scram-sha-512':
      return 'SCRAM-SHA-512';
    case 'password':
      return 'PLAIN';
    case 'tls':
      return undefined;
  }
}

export function securityProtocolOf(authType: AuthenticationType, tls: boolean): SecurityProtocol {
  if (authType === 'tls') return 'SSL';
  return tls ? 'SASL_SSL' : 'SASL_PLAINTEXT';
}

const tlsEnabled = (l: KafkaListener) => l.tls?.enabled === true;
const clientAuth = (l: KafkaListener) => (tlsEnabled(l) ? (l.tls?.clientAuth ?? 'none') : 'none');

/** Whether a user of this type can log in on this listener at all. */
function accepts(l: KafkaListener, authType: AuthenticationType): boolean {
  if (l.protocol !== 'kafka' || !(l.authentication ?? []).includes(LISTENER_MECHANISM[authType])) return false;
  switch (authType) {
    case 'tls':
      return clientAuth(l) !== 'none';
    case 'password':
      // PLAIN sends the password itself: the CRD already refuses plain without TLS; checked again here.
      return tlsEnabled(l) && clientAuth(l) !== 'required';
    default:
      // A listener that requires a client certificate refuses a SCRAM client that has none.
      return clientAuth(l) !== 'required';
  }
}

/**
 * The Kafka listener a client of a user of this type should use: the first (in spec order) TLS
 * listener that accepts the user's mechanism (SCRAM-SHA-256, SCRAM-SHA-512, PLAIN for password
 * users, a client certificate for tls users); for SCRAM users, else the first plaintext one.
 * undefined when no listener fits (the caller reports it). A SCRAM user could also log in with
 * PLAIN over TLS, but its Secret says SCRAM everywhere, so such a listener is not offered.
 */
export function chooseKafkaListener(cluster: BrokerCluster, authType: AuthenticationType): KafkaListener | undefined {
  const fitting = cluster.spec.listeners.filter((l) => accepts(l, authType));
  return fitting.find(tlsEnabled) ?? fitting[0];
}

export interface ConnectionInput {
  username: string;
  /** Required unless authType is tls; never appears in an error. */
  password?: string;
  authType: AuthenticationType;
  /** host:port[,host:port...], as clients take it. */
  bootstrap: string;
  /** Whether the chosen listener serves TLS. */
  tls: boolean;
  /** The cluster CA's certificate(s), PEM. */
  caPem: string;
  /** A tls user's certificate and PKCS#8 key, PEM. */
  clientCert?: { certPem: string; keyPem: string };
  /** Where applications mount this Secret (librdkafka.properties names its files there). Left out, DEFAULT_SECRET_MOUNT_PATH. */
  mountPath?: string;
}

const refuse = (detail: string): never => {
  throw new BulwarkError('BWK_ERR_CONFIG_INVALID', { detail });
};

/** The Secret's data: see the file's header for the keys. Throws BWK_ERR_CONFIG_INVALID (naming no secret value) when the input does not fit together. */
export function connectionSecretData(input: ConnectionInput): Record<string, string> {
  const { username, password, authType, bootstrap, tls, caPem, clientCert } = input;
  const mountPath = (input.mountPath ?? DEFAULT_SECRET_MOUNT_PATH).replace(/\/+$/, '');
  const mechanism = saslMechanismOf(authType);
  if (username === '') refuse('the user connection needs a username');
  if (bootstrap === '' || /\s/.test(bootstrap)) refuse('bootstrap servers must be host:port[,host:port...] without spaces');
  if (mechanism !== undefined && (password === undefined || password === '')) refuse(`a ${authType} user needs a password`);
  if (mechanism === 'PLAIN' && !tls) refuse('a password user logs in with SASL PLAIN, which needs a TLS listener');
  if (authType === 'tls' && (!tls || clientCert === undefined)) refuse('a tls user needs a TLS listener and its client certificate and key');
  if (!/^\/[^\s\\]*$/.test(mountPath || '/')) refuse('the Secret mount path must be absolute, without spaces or backslashes');
  const protocol = securityProtocolOf(authType, tls);

  const data: Record<string, string> = { username };
  if (mechanism !== undefined && password !== undefined) {
    data.password = password;
    data['sasl.mechanism'] = mechanism;
    data['sasl.jaas.config'] = jaasConfig(mechanism, username, password);
  }
  data['security.protocol'] = protocol;
  data['bootstrap.servers'] = bootstrap;
  data['ca.crt'] = caPem;
  if (authType === 'tls' && clientCert) {
    data['tls.crt'] = clientCert.certPem;
    data['tls.key'] = clientCert.keyPem;
  }

  const java: [string, string][] = [['bootstrap.servers', bootstrap], ['security.protocol', protocol]];
  const rdkafka: [string, string][] = [['bootstrap.servers', bootstrap], ['security.protocol', protocol]];
  if (data['sasl.jaas.config'] !== undefined && mechanism !== undefined && password !== undefined) {
    java.push(['sasl.mechanism', mechanism], ['sasl.jaas.config', data['sasl.jaas.config']]);
    rdkafka.push(['sasl.mechanisms', mechanism], ['sasl.username', username], ['sasl.password', password]);
  }
  if (tls) {
    java.push(['ssl.truststore.type', 'PEM'], ['ssl.truststore.certificates', caPem]);
    rdkafka.push(['ssl.ca.location', `${mountPath}/ca.crt`]);
  }
  if (authType === 'tls' && clientCert) {
    java.push(['ssl.keystore.type', 'PEM'], ['ssl.keystore.certificate.chain', clientCert.certPem], ['ssl.keystore.key', clientCert.keyPem]);
    rdkafka.push(['ssl.certificate.location', `${mountPath}/tls.crt`], ['ssl.key.location', `${mountPath}/tls.key`]);
  }
  data['client.properties'] = javaPropertiesFile(['Apache Kafka Java client: --producer.config, --consumer.config, --command-config, or Properties.load.'], java);
  const librdkafka = librdkafkaPropertiesFile(
    [
      'librdkafka clients: kcat -F <this file>.',
      ...(tls ? [`Paths are this Secret's keys mounted at ${mountPath}; elsewhere, save them and change the paths.`] : []),
    ],
    rdkafka,
  );
  if (librdkafka !== undefined) data['librdkafka.properties'] = librdkafka;
  return data;
}

// --- JAAS ------------------------------------------------------------------------------------------

const LOGIN_MODULE: Record<SaslMechanism, string> = {
  'SCRAM-SHA-256': 'org.apache.kafka.common.security.scram.ScramLoginModule',
  'SCRAM-SHA-512': 'org.apache.kafka.common.security.scram.ScramLoginModule',
  PLAIN: 'org.apache.kafka.common.security.plain.PlainLoginModule',
};

/**
 * A JAAS double-quoted string as Kafka's JaasConfig reads it (java.io.StreamTokenizer): `\` escapes
 * the next character (\n, \r, \t... are control characters, others stand for themselves) and a
 * raw line break ends the string, so backslash, quote and line breaks are escaped.
 */
export function jaasQuote(value: string): string {
  return `"${value.replace(/[\\"\n\r]/g, (c) => (c === '\n' ? '\\n' : c === '\r' ? '\\r' : `\\${c}`))}"`;
}

/** The sasl.jaas.config line of the Java client. */
export function jaasConfig(mechanism: SaslMechanism, username: string, password: string): string {
  return `${LOGIN_MODULE[mechanism]} required username=${jaasQuote(username)} password=${jaasQuote(password)};`;
}

// --- Java properties -------------------------------------------------------------------------------

const JAVA_ESCAPES: Record<string, string> = { '\\': '\\\\', '\t': '\\t', '\r': '\\r', '\f': '\\f' };
const hex4 = (code: number) => `\\u${code.toString(16).padStart(4, '0')}`;

/**
 * A value as java.util.Properties.load reads it back exactly, with either a Reader or an
 * InputStream (ISO-8859-1, which the Kafka tools use): backslash and control characters escaped,
 * anything outside printable ASCII as \uXXXX (UTF-16 units), whitespace that would be skipped
 * (the value's start, a continued line's start) as `\ `. A newline becomes `\n` followed by a
 * line continuation, so a PEM stays one PEM line per file line. `=`, `:`, `#` and `!` need no
 * escape inside a value.
 */
export function javaPropertiesValue(value: string): string {
  let out = '';
  let lineStart = true;
  for (const ch of value) {
    const code = ch.codePointAt(0)!;
    if (ch === '\n') {
      out += '\\n\\\n    ';
      lineStart = true;
      continue;
    }
    if (lineStart && ch === ' ') out += '\\ ';
    else if (JAVA_ESCAPES[ch] !== undefined) out += JAVA_ESCAPES[ch];
    else if (code < 0x20 || code > 0x7e) out += code > 0xffff ? hex4(0xd800 + ((code - 0x10000) >> 10)) + hex4(0xdc00 + ((code - 0x10000) & 0x3ff)) : hex4(code);
    else out += ch;
    lineStart = false;
  }
  // A value ending in a newline would leave the file's last line an indented blank: harmless, but untidy.
  return out.endsWith('\\\n    ') ? out.slice(0, -'\\\n    '.length) : out;
}

/** A Java properties file: `#` comments, then key=value lines. */
export function javaPropertiesFile(comments: string[], entries: [string, string][]): string {
  return [...comments.map((c) => `# ${c}`), ...entries.map(([k, v]) => `${k}=${javaPropertiesValue(v)}`)].join('\n') + '\n';
}

// --- librdkafka (kcat -F) --------------------------------------------------------------------------

/** fgets(buf, 512): 511 bytes with the newline; one more byte of margin. */
const KCAT_MAX_LINE_BYTES = 510;

/** Why kcat -F cannot carry this value unchanged (see the header), or undefined when it can. */
export function librdkafkaValueProblem(value: string): string | undefined {
  if (/[\0\n\r]/.test(value)) return 'a line break or NUL';
  if (/^\s|\s$/.test(value)) return 'leading or trailing whitespace, which kcat trims';
  if (/\\[=:]/.test(value)) return 'a backslash before = or :, which kcat unescapes';
  return undefined;
}

/** kcat's -F format; undefined when a value cannot be written in it (the reason is never a value). */
export function librdkafkaPropertiesFile(comments: string[], entries: [string, string][]): string | undefined {
  const lines = [...comments.map((c) => `# ${c}`)];
  for (const [key, value] of entries) {
    if (librdkafkaValueProblem(value) !== undefined) return undefined;
    const line = `${key}=${value}`;
    if (Buffer.byteLength(line, 'utf8') > KCAT_MAX_LINE_BYTES) return undefined;
    lines.push(line);
  }
  return lines.join('\n') + '\n';
}
