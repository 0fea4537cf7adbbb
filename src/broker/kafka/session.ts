// One client connection's security state: who it is (once authenticated) and how far its SASL
// exchange has gone. It holds the principal only, never a permission: every request asks the
// policy in force (DESIGN.md), so a policy change applies to open sessions at once.
import type { ScramExchange } from '../../auth/index.ts';
import type { Principal } from '../../policy/index.ts';
import type { KafkaListenerConfig } from '../../config/index.ts';
import type { KafkaConnection } from './connection.ts';

const saslMechanismNames = ['PLAIN', 'SCRAM-SHA-256', 'SCRAM-SHA-512', 'OAUTHBEARER'] as const;
export type SaslMechanismName = (typeof saslMechanismNames)[number];

/** SASL mechanism names (as Kafka clients send them) of a listener's configured mechanisms. */
export function saslMechanisms(listener: Pick<KafkaListenerConfig, 'authentication'>): SaslMechanismName[] {
  const out: SaslMechanismName[] = [];
  if (listener.authentication.includes('scram-sha-256')) out.push('SCRAM-SHA-256');
  if (listener.authentication.includes('scram-sha-512')) out.push('SCRAM-SHA-512');
  if (listener.authentication.includes('plain')) out.push('PLAIN');
  if (listener.authentication.includes('oauthbearer')) out.push('OAUTHBEARER');
  return out;
}

let nextSessionId = 1;

export class KafkaSession {
  readonly id = nextSessionId++;
  readonly listener: KafkaListenerConfig & { name: string };
  /** The client's address as the socket reports it (IPv4-mapped IPv6 folded to IPv4). */
  readonly ip: string;
  readonly connection: KafkaConnection;
  principal: Principal | undefined;
  /** How the principal authenticated: a SASL mechanism, mtls or anonymous. */
  mechanism: string | undefined;
  /** The mechanism chosen by SaslHandshake, awaiting SaslAuthenticate. */
  handshake: SaslMechanismName | undefined;
  scram: ScramExchange | undefined;
  /** When the access token or OAUTHBEARER JWT this session logged in with expires (ms since the epoch): the session ends then. */
  expiresAt: number | undefined;
  /**
   * When the SASL login ends unless the client re-authenticates (KIP-368), ms since the epoch:
   * the token's expiry or auth.maxSessionLifetimeMs, the sooner. Undefined: no end.
   */
  sessionExpiresAt: number | undefined;
  /** Re-authentications that succeeded on this connection. */
  reauthentications = 0;
  /** Set once the session has produced (counted against the user's maxProducers). */
  producing = false;
  /** Set once the session has joined a consumer group (counted against the user's maxConsumers). */
  consuming = false;
  /** The port the client connected to (the listener's, even when it was configured as 0). */
  readonly localPort: number;

  constructor(listener: KafkaListenerConfig & { name: string }, connection: KafkaConnection) {
    this.listener = listener;
    this.connection = connection;
    const raw = connection.socket.remoteAddress ?? '';
    this.localPort = connection.socket.localPort ?? 0;
    this.ip = raw.startsWith('::ffff:') && raw.includes('.') ? raw.slice(7) : raw;
  }

  /** Whether the principal came from a SASL login, which the client may repeat on this connection (re-authentication). */
  get saslAuthenticated(): boolean {
    return this.principal !== undefined && (saslMechanismNames as readonly string[]).includes(this.mechanism ?? '');
  }

  authenticated(principal: Principal, mechanism: string, expiresAt?: number, sessionExpiresAt?: number): void {
    if (this.saslAuthenticated) this.reauthentications++;
    this.principal = principal;
    this.mechanism = mechanism;
    this.expiresAt = expiresAt;
    this.sessionExpiresAt = sessionExpiresAt;
    this.handshake = undefined;
    this.scram = undefined;
  }
}
