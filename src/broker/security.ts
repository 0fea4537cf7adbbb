// The broker's security services, in one place for every listener: admission (listener CIDRs,
// connection caps), authentication (src/auth/ against the policy in force), authorization of a
// request's permissions, quotas, the producer cap, revocation of open sessions, and the audit
// log. Listeners hold sessions; this holds the rules.
import { createHmac } from 'node:crypto';
import type { TLSSocket } from 'node:tls';
import type { Action, ResourceType } from '../api/index.ts';
import { AuthMechanism, Authenticator, certificateIdentity, issueSessionToken, LoginBackoff, OAuthBearerVerifier, stillValid, verifySessionToken, type AuthOutcome } from '../auth/index.ts';
import { ANONYMOUS_USER, type Principal } from '../policy/index.ts';
import type { AuditLog } from '../audit/index.ts';
import { kafkaListenersOf, type BrokerConfig } from '../config/index.ts';
import type { BrokerMetrics } from './metrics.ts';
import type { HttpSecurity } from './http/server.ts';
import type { Permission } from './kafka/permissions.ts';
import type { SaslHooks } from './kafka/sasl.ts';
import type { KafkaSession } from './kafka/session.ts';
import { ConnectionLimiter, HostAccess, QuotaManager } from './limits/index.ts';
import type { Limits } from '../api/index.ts';
import type { Logger } from '../lib/index.ts';
import type { PolicyStore } from './policy/index.ts';

const NO_LIMITS: Limits = Object.freeze({});

export interface SecurityOptions {
  config: BrokerConfig;
  policy: PolicyStore;
  serverSecret: Buffer;
  audit: AuditLog;
  metrics: BrokerMetrics;
  /** Operational log (the broker's `security` child). */
  logger: Logger;
  now?: () => number;
}

export class BrokerSecurity {
  readonly policy: PolicyStore;
  readonly authenticator: Authenticator;
  readonly audit: AuditLog;
  readonly serverSecret: Buffer;
  readonly logger: Logger;
  readonly saslHooks: SaslHooks;
  readonly #quotas: QuotaManager;
  readonly #limiter: ConnectionLimiter;
  readonly #hosts: HostAccess;
  readonly #backoff = new LoginBackoff();
  readonly #now: () => number;
  readonly #config: BrokerConfig;
  readonly #metrics: BrokerMetrics;
  /** The JWT signing key: derived from the server secret, so it is never the secret itself. */
  readonly #jwtKey: Buffer;

  constructor(opts: SecurityOptions) {
    const { config } = opts;
    this.policy = opts.policy;
    this.audit = opts.audit;
    this.serverSecret = opts.serverSecret;
    this.#now = opts.now ?? Date.now;
    this.logger = opts.logger;
    this.#config = config;
    this.#metrics = opts.metrics;
    // Every listener's allow-list compiled now: a bad entry stops the start, naming the listener.
    this.#hosts = new HostAccess([...kafkaListenersOf(config), { name: 'http', allowedCidrs: config.http.allowedCidrs }]);
    this.#jwtKey = createHmac('sha256', opts.serverSecret).update('bulwark http session jwt v1').digest();
    this.authenticator = new Authenticator({
      policy: () => this.policy.snapshot,
      serverSecret: opts.serverSecret,
      verifier: { maxConcurrent: config.auth.argon2.maxConcurrent, maxQueued: config.auth.argon2.maxQueued },
      now: this.#now,
      ...(config.auth.oauthBearer
        ? { oauthBearer: new OAuthBearerVerifier({ ...config.auth.oauthBearer, onJwksUnavailable: (err) => this.logger.warn({ code: err.code }, err.message) }) }
        : {}),
    });
    this.#quotas = new QuotaManager({ topics: config.limits.topicRates });
    this.#limiter = new ConnectionLimiter({ maxConnections: config.limits.maxConnections, maxConnectionsPerIp: config.limits.maxConnectionsPerIp });
    this.saslHooks = {
      authenticator: this.authenticator,
      delayFor: (ip) => this.#backoff.delayFor(ip, this.#now()),
      finished: (session, outcome) => this.#loginFinished(session, outcome),
      maxSessionLifetimeMs: config.auth.maxSessionLifetimeMs,
      now: () => this.#now(),
      reauthenticated: (session) =>
        this.logger.info(
          { session: session.id, user: session.principal?.user, clientIp: session.ip, listener: session.listener.name, reauthentications: session.reauthentications, sessionLifetimeMs: session.sessionExpiresAt === undefined ? null : session.sessionExpiresAt - this.#now() },
          'SASL session re-authenticated',
        ),
    };
  }

  #limits(principal: Principal): Limits {
    return this.policy.authorizer.user(principal.user)?.limits ?? NO_LIMITS;
  }

  /** Whether a new connection may stay: the listener's CIDRs, then the broker's connection caps. A refusal reason, or undefined. */
  admit(session: KafkaSession): string | undefined {
    const host = this.#hosts.admitListener(session.listener.allowedCidrs, session.ip);
    if (!host.ok) return host.reason;
    const admitted = this.#limiter.admit(session, session.ip);
    return admitted.ok ? undefined : admitted.reason;
  }

  released(session: KafkaSession): void {
    this.#limiter.release(session);
    if (session.consuming) this.#limiter.releaseConsumer(`session:${session.id}`);
  }

  /** The identity a connection carries by itself: a client certificate (mtls), else anonymous when the listener and the policy allow it. */
  connectionIdentity(session: KafkaSession, socket: TLSSocket): void {
    const mechanisms = session.listener.authentication;
    if (mechanisms.includes('mtls') && socket.encrypted && socket.authorized) {
      const cert = socket.getPeerCertificate();
      const identity = cert && Object.keys(cert).length > 0 ? certificateIdentity(cert, this.policy.snapshot.settings.certificatePrincipal) : undefined;
      const outcome: AuthOutcome = identity === undefined ? { ok: false, reason: 'UnknownUser', mechanism: AuthMechanism.Certificate } : this.authenticator.certificate(identity, { host: session.ip });
      if (this.#loginFinished(session, outcome) === undefined && outcome.ok) {
        session.authenticated(outcome.principal, AuthMechanism.Certificate);
        return;
      }
    }
    if (mechanisms.includes('anonymous')) {
      const outcome = this.authenticator.anonymous();
      // Anonymous is a fallback, not a login: its refusals are not audited as failures.
      if (outcome.ok) session.authenticated(outcome.principal, AuthMechanism.Anonymous);
    }
  }

  /** The end of a login: audit, backoff, connection cap per user. A refusal reason for a successful login, or undefined. */
  #loginFinished(session: KafkaSession, outcome: AuthOutcome): string | undefined {
    let refused: string | undefined;
    if (outcome.ok) {
      const bound = this.#limiter.bindUser(session, outcome.principal.user, this.#limits(outcome.principal));
      if (!bound.ok) refused = bound.reason;
    }
    this.#recordLogin(session.listener.name, session.ip, outcome, refused);
    return refused;
  }

  /** Every login's end, on any listener: the address's backoff, the metric, the audit event. `refused`: why a successful login was turned away. */
  #recordLogin(listener: string, ip: string, outcome: AuthOutcome, refused?: string): void {
    const ok = outcome.ok && !refused;
    this.#backoff.record(ip, ok, this.#now());
    const user = outcome.ok ? outcome.principal.user : outcome.user;
    this.#metrics.authentications.inc({ listener, mechanism: outcome.mechanism, outcome: ok ? 'success' : 'failure' });
    this.audit.authentication({
      outcome: ok ? 'success' : 'failure',
      listener,
      mechanism: outcome.mechanism,
      ...(user !== undefined ? { user } : {}),
      ...(outcome.ok && outcome.principal.tokenId ? { tokenId: outcome.principal.tokenId } : {}),
      clientIp: ip,
      ...(!ok ? { reason: refused ?? (outcome.ok ? undefined : outcome.reason) } : {}),
      ...(!outcome.ok && outcome.detail ? { detail: outcome.detail } : {}),
    });
  }

  /** Asks the authorizer in force about each permission; audits and counts denials, except quiet ones (listings, alternatives). */
  authorize(session: KafkaSession, permissions: readonly Permission[]): boolean[] {
    const authorizer = this.policy.authorizer;
    const principal = session.principal!;
    const out = new Array<boolean>(permissions.length);
    for (let i = 0; i < permissions.length; i++) {
      const p = permissions[i]!;
      const request = { principal, action: p.action, resource: { type: p.type, name: p.name }, host: session.ip };
      const decision = authorizer.authorize(request);
      out[i] = decision.allowed;
      if (p.quiet && !decision.allowed) continue;
      if (!decision.allowed) this.#metrics.authorizationDenials.inc({ type: p.type, action: p.action });
      this.audit.authorization(request, decision, { listener: session.listener.name });
    }
    return out;
  }

  chargeRequest(principal: Principal): number {
    return this.#quotas.chargeRequest(principal.user, this.#limits(principal), this.#now());
  }

  chargeProduce(principal: Principal, topic: string, bytes: number): number {
    return this.#quotas.chargeProduce(principal.user, this.#limits(principal), topic, bytes, this.#now());
  }

  chargeFetch(principal: Principal, responses: readonly { topic: string; partitions: readonly { records: Buffer }[] }[]): number {
    let throttle = 0;
    const limits = this.#limits(principal);
    const now = this.#now();
    for (const r of responses) {
      let bytes = 0;
      for (const p of r.partitions) bytes += p.records.length;
      if (bytes > 0) throttle = Math.max(throttle, this.#quotas.chargeFetch(principal.user, limits, r.topic, bytes, now));
    }
    return throttle;
  }

  /** Counts the session as a producer of its user; false when the user is at maxProducers. */
  claimProducer(session: KafkaSession): boolean {
    const principal = session.principal!;
    const claimed = this.#limiter.claimProducer(session, principal.user, this.#limits(principal).maxProducers);
    if (claimed.ok) session.producing = true;
    return claimed.ok;
  }

  /** Counts the session as a consumer of its user from its first JoinGroup; false when the user is at maxConsumers. */
  claimConsumer(session: KafkaSession): boolean {
    const principal = session.principal!;
    const claimed = this.#limiter.claimConsumer(`session:${session.id}`, principal.user, this.#limits(principal).maxConsumers);
    if (claimed.ok) session.consuming = true;
    return claimed.ok;
  }

  /** A session's SASL login outlived its lifetime without a re-authentication (KIP-368); the server closes it. */
  sessionExpired(session: KafkaSession): void {
    this.#metrics.sessionsClosed.inc({ reason: 'SessionExpired' });
    this.logger.info({ session: session.id, user: session.principal?.user, clientIp: session.ip, listener: session.listener.name }, 'SASL session expired without re-authentication; connection closed');
  }

  /** Why an open session must close under the policy in force now, or undefined. */
  revoked(session: KafkaSession): string | undefined {
    const principal = session.principal;
    if (!principal) return undefined;
    // An external token (OAUTHBEARER) is known only to its session: its expiry is checked here.
    const expired = session.expiresAt !== undefined && this.#now() >= session.expiresAt;
    const valid = expired ? { reason: 'TokenExpired' as const } : stillValid(principal, this.policy.snapshot, this.#now(), session.ip);
    if (valid === true) return undefined;
    const reason = valid.reason === 'UnknownToken' ? 'TokenRevoked' : valid.reason === 'UnknownUser' ? 'UserDeleted' : valid.reason;
    this.#metrics.sessionsClosed.inc({ reason });
    this.audit.connection({
      reason: reason as 'TokenRevoked',
      user: principal.user,
      ...(principal.tokenId ? { tokenId: principal.tokenId } : {}),
      clientIp: session.ip,
      listener: session.listener.name,
    });
    return reason;
  }

  /** The HTTP listener's view: Bearer access tokens and session JWTs, client certificates, anonymous, password login. */
  http(): HttpSecurity {
    const cfg = this.#config.http;
    const mechanisms = cfg.authentication;
    const listener = 'http';
    const audit = (ip: string, outcome: AuthOutcome) => this.#recordLogin(listener, ip, outcome);
    const jwt = this.#config.auth.jwt;
    return {
      passwordLogin: mechanisms.includes('password'),
      admit: (ip) => this.#hosts.admitListener(cfg.allowedCidrs, ip).ok,
      authenticate: async ({ authorization, ip, socket }) => {
        const bearer = /^Bearer ([\x21-\x7e]{1,4096})$/i.exec(authorization ?? '')?.[1];
        if (bearer !== undefined && mechanisms.includes('bearer')) {
          if (bearer.startsWith('bwk_')) {
            const outcome = this.authenticator.token(bearer, { host: ip });
            // Every request carries the token: audit failures only, not each success.
            if (!outcome.ok) audit(ip, outcome);
            return outcome.ok ? outcome.principal : undefined;
          }
          const verified = await verifySessionToken(bearer, { secret: this.#jwtKey, issuer: jwt.issuer, audience: jwt.audience, clockToleranceSeconds: jwt.clockToleranceSeconds, now: new Date(this.#now()) });
          if (!verified.ok) {
            audit(ip, { ok: false, reason: 'BadCredentials', mechanism: 'session', detail: verified.reason });
            return undefined;
          }
          // A session outlives nothing: the user must still exist, be enabled, and be allowed from this host.
          return stillValid(verified.principal, this.policy.snapshot, this.#now(), ip) === true ? verified.principal : undefined;
        }
        if (authorization !== undefined) return undefined;
        if (mechanisms.includes('mtls') && socket.encrypted && socket.authorized) {
          const identity = certificateIdentity(socket.getPeerCertificate(), this.policy.snapshot.settings.certificatePrincipal);
          if (identity !== undefined) {
            const outcome = this.authenticator.certificate(identity, { host: ip });
            if (outcome.ok) return outcome.principal;
          }
        }
        if (mechanisms.includes('anonymous')) {
          const outcome = this.authenticator.anonymous();
          if (outcome.ok) return outcome.principal;
        }
        return undefined;
      },
      login: async (username, password, ip) => {
        const delay = this.#backoff.delayFor(ip, this.#now());
        if (delay > 0) await new Promise((resolve) => setTimeout(resolve, delay));
        const outcome = await this.authenticator.password(username, password, { host: ip });
        audit(ip, outcome);
        if (!outcome.ok) return undefined;
        return issueSessionToken(outcome.principal, { secret: this.#jwtKey, issuer: jwt.issuer, audience: jwt.audience, ttlSeconds: jwt.ttlSeconds, now: new Date(this.#now()) });
      },
      allowed: (principal, ip, action: Action, type: ResourceType, name, listing = false) => {
        const request = { principal, action, resource: { type, name }, host: ip };
        const decision = this.policy.authorizer.authorize(request);
        if (!decision.allowed && !listing) this.#metrics.authorizationDenials.inc({ type, action });
        if (!listing || decision.allowed) this.audit.authorization(request, decision, { listener });
        return decision.allowed;
      },
      topicChanged: (operation, topic, partitions, principal) => this.topicChanged(operation, topic, partitions, principal),
    };
  }

  topicChanged(operation: 'created' | 'deleted', topic: string, partitions: number, principal: Principal | undefined): void {
    this.audit.topic({
      operation,
      topic,
      ...(operation === 'created' ? { partitions } : {}),
      user: principal?.user ?? ANONYMOUS_USER,
      ...(principal?.tokenId ? { tokenId: principal.tokenId } : {}),
    });
  }
}
