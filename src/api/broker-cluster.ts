import { z } from 'zod';
import { baseStatus, cel, DNS_LABEL, duration, hostList, immutable, resourceName, USERNAME } from './common.ts';
import { limits } from './limits.ts';

/** Kubernetes resource quantities: 10Gi, 500m, 2. */
const QUANTITY = /^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$/;
const quantity = (description: string) => z.string().min(1).max(64).regex(QUANTITY).describe(description);

// --- The listener vocabulary, shared with the broker's configuration (src/config/broker.ts) ---------
// One set of words for the CRD and the broker config: the operator renders one into the other
// (src/config/render.ts) without translating anything.

/** TLS versions, as Node, OpenSSL and Kafka's ssl.enabled.protocols spell them. */
export const TLS_VERSIONS = ['TLSv1.2', 'TLSv1.3'] as const;
export type TlsVersion = (typeof TLS_VERSIONS)[number];
/** Whether a TLS listener asks clients for a certificate. */
export const TLS_CLIENT_AUTH = ['none', 'optional', 'required'] as const;
export type TlsClientAuth = (typeof TLS_CLIENT_AUTH)[number];

/** Kafka SASL mechanisms (oauthbearer: JWTs of spec.authentication.oauthBearer), and the connection-level identities (mtls, anonymous) a Kafka listener accepts. */
export const KAFKA_MECHANISMS = ['scram-sha-256', 'scram-sha-512', 'plain', 'oauthbearer', 'mtls', 'anonymous'] as const;
/** How HTTP clients authenticate: password (POST /login, returns a session JWT), bearer (an access token or that JWT), mtls, anonymous. */
export const HTTP_MECHANISMS = ['password', 'bearer', 'mtls', 'anonymous'] as const;
export type KafkaMechanism = (typeof KAFKA_MECHANISMS)[number];
export type HttpMechanism = (typeof HTTP_MECHANISMS)[number];
/** Every mechanism word, in one list: what a BrokerCluster listener may name (CEL narrows it by protocol). */
export type ListenerMechanism = KafkaMechanism | HttpMechanism;
export const LISTENER_MECHANISMS = ['scram-sha-256', 'scram-sha-512', 'plain', 'oauthbearer', 'password', 'bearer', 'mtls', 'anonymous'] as const satisfies readonly ListenerMechanism[];
// A word added to KAFKA_MECHANISMS or HTTP_MECHANISMS and not here is a type error.
const everyMechanismListed: Exclude<ListenerMechanism, (typeof LISTENER_MECHANISMS)[number]> extends never ? true : never = true;
void everyMechanismListed;
/** Mechanisms that send the password itself over the connection: they need TLS. */
export const CLEARTEXT_PASSWORD_MECHANISMS = ['plain', 'password'] as const;
/** Mechanisms that send a replayable secret over the connection (a password, an access token, a session JWT or an identity provider's JWT): they need TLS. */
export const CLEARTEXT_SECRET_MECHANISMS = [...CLEARTEXT_PASSWORD_MECHANISMS, 'bearer', 'oauthbearer'] as const;
/** The JWS algorithms an OAUTHBEARER token may be signed with: asymmetric only (a JWKS holds no shared secret; never none). */
export const OAUTH_BEARER_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'] as const;
export type OAuthBearerAlgorithm = (typeof OAUTH_BEARER_ALGORITHMS)[number];
/** The algorithms accepted when none are listed: what identity providers sign with by default. */
export const DEFAULT_OAUTH_BEARER_ALGORITHMS = ['RS256', 'ES256'] as const satisfies readonly OAuthBearerAlgorithm[];

const oauthBearer = z
  .strictObject({
    issuer: z.string().min(1).max(1024).describe('The iss claim every token must carry: the identity provider\'s issuer, such as https://idp.example.com/realms/apps.'),
    audience: z.string().min(1).max(1024).describe('The aud claim every token must carry (one of its values): the name the identity provider gives this cluster, such as bulwark-kafka.'),
    jwksUrl: z
      .string()
      .min(9)
      .max(2048)
      .regex(/^https:\/\/\S+$/)
      .describe('The https URL of the identity provider\'s JSON Web Key Set (its jwks_uri), whose keys sign the tokens. Each broker fetches it at the first login, for an unknown key id (at most every 30 s) and every 10 minutes.'),
    usernameClaim: z
      .string()
      .min(1)
      .max(64)
      .optional()
      .describe('The claim whose value is the username: a User of this cluster, of any authentication type (the identity provider vouches for it). Left out, sub. Keycloak: preferred_username.'),
    algorithms: z
      .array(z.enum(OAUTH_BEARER_ALGORITHMS).describe('A JWS algorithm.'))
      .min(1)
      .max(OAUTH_BEARER_ALGORITHMS.length)
      .optional()
      .meta({ description: `Signature algorithms accepted, asymmetric only: ${OAUTH_BEARER_ALGORITHMS.join(', ')}. Left out, ${DEFAULT_OAUTH_BEARER_ALGORITHMS.join(' and ')}.`, 'x-kubernetes-list-type': 'set' }),
    caRef: cel(
      z.strictObject({
        secretName: resourceName('A Secret in the cluster\'s namespace.').optional(),
        configMapName: resourceName('A ConfigMap in the cluster\'s namespace.').optional(),
        key: z.string().min(1).max(253).regex(/^[-._a-zA-Z0-9]+$/).describe('The key holding the PEM CA certificates.'),
      }),
      'The CA certificates (PEM) that sign the JWKS endpoint\'s certificate, from a Secret or a ConfigMap, mounted into the broker pods; they replace the system CAs for this fetch. Left out, the broker image\'s system CAs.',
      { rule: 'has(self.secretName) != has(self.configMapName)', message: 'set exactly one of secretName or configMapName' },
    ).optional(),
  })
  .describe(
    'SASL OAUTHBEARER: Kafka clients log in with JWTs of an external identity provider (OpenID Connect, OAuth 2), on the listeners that list oauthbearer. A token must be signed by a key of jwksUrl, carry issuer, audience and exp, and name a User in usernameClaim; its expiry ends the session unless the client re-authenticates with a newer one.',
  );

const celList = (words: readonly string[]) => `[${words.map((w) => `'${w}'`).join(', ')}]`;

const listener = cel(
  z.strictObject({
    name: z.string().min(1).max(32).regex(DNS_LABEL).describe('Name of the listener, unique in the cluster; also the name of its Service port.'),
    protocol: z.enum(['kafka', 'http']).describe('kafka (the Kafka wire protocol) or http (REST, health, metrics).'),
    port: z.number().int().min(1024).max(65535).describe('Container port the listener binds.'),
    tls: z
      .strictObject({
        enabled: z.boolean().describe('Serve TLS on this listener, with the cluster\'s certificate.'),
        clientAuth: z.enum(TLS_CLIENT_AUTH).optional().describe('Ask clients for a certificate: none, optional or required. Left out means none.'),
        minVersion: z.enum(TLS_VERSIONS).optional().describe('Lowest TLS version accepted: TLSv1.2 or TLSv1.3. Left out means TLSv1.2; TLSv1.3 is always preferred.'),
      })
      .optional()
      .describe('TLS on this listener. Left out, the listener is plaintext.'),
    authentication: z
      .array(z.enum(LISTENER_MECHANISMS).describe('A mechanism.'))
      .max(LISTENER_MECHANISMS.length)
      .optional()
      .meta({
        description:
          'Authentication mechanisms accepted. Kafka listeners: scram-sha-256, scram-sha-512, plain (requires TLS; username "token" takes an access token), oauthbearer (requires TLS and spec.authentication.oauthBearer), mtls, anonymous. HTTP listeners: password (requires TLS; POST /login returns a session JWT), bearer (requires TLS; an access token or that JWT), mtls, anonymous. mtls requires clientAuth; anonymous also needs spec.authentication.allowAnonymous. Empty or left out: no client can authenticate, so every request is refused.',
        'x-kubernetes-list-type': 'set',
      }),
    allowedCidrs: hostList('Only clients from these addresses or CIDR blocks may connect. Left out, every address may.').optional(),
  }),
  'A listener clients connect to.',
  { rule: `!has(self.authentication) || !self.authentication.exists(m, m in ${celList(CLEARTEXT_SECRET_MECHANISMS)}) || (has(self.tls) && self.tls.enabled)`, message: 'plain, password, bearer and oauthbearer send the password or token itself: they require tls.enabled', fieldPath: '.authentication' },
  { rule: "!has(self.authentication) || !('mtls' in self.authentication) || (has(self.tls) && self.tls.enabled && has(self.tls.clientAuth) && self.tls.clientAuth != 'none')", message: 'mtls requires tls.enabled and tls.clientAuth optional or required', fieldPath: '.authentication' },
  { rule: `self.protocol == 'http' || !has(self.authentication) || self.authentication.all(m, m in ${celList(KAFKA_MECHANISMS)})`, message: `a kafka listener accepts only ${KAFKA_MECHANISMS.join(', ')}`, fieldPath: '.authentication' },
  { rule: `self.protocol == 'kafka' || !has(self.authentication) || self.authentication.all(m, m in ${celList(HTTP_MECHANISMS)})`, message: `an http listener accepts only ${HTTP_MECHANISMS.join(', ')} (SCRAM and plain are Kafka SASL mechanisms)`, fieldPath: '.authentication' },
  { rule: "!has(self.tls) || self.tls.enabled || !has(self.tls.clientAuth) || self.tls.clientAuth == 'none'", message: 'clientAuth needs tls.enabled', fieldPath: '.tls.clientAuth' },
);

/** How requests are authorized: by the grants (policy), or every authenticated user may do everything (authenticatedFullAccess). */
export const AUTHORIZATION_MODES = ['policy', 'authenticatedFullAccess'] as const;
export type AuthorizationMode = (typeof AUTHORIZATION_MODES)[number];

/** What a password must be (src/policy/credentials.ts passwordWeakness); the defaults are DEFAULT_PASSWORD_POLICY there. */
const passwordPolicy = cel(
  z.strictObject({
    minLength: z.number().int().min(8).max(1024).optional().describe('Fewest characters (Unicode code points) a password may have. Left out, 12. No password may be longer than 1024.'),
    minCharacterClasses: z
      .number()
      .int()
      .min(1)
      .max(4)
      .optional()
      .describe('How many of the four classes (lowercase letters, uppercase letters, digits, anything else) a password must mix. Left out, 3.'),
    passphraseLength: z
      .number()
      .int()
      .min(0)
      .max(1024)
      .optional()
      .describe('A password at least this long need not mix classes (a passphrase); 0: every password must. Left out, 20.'),
  }),
  'What a password must be: passwords Users bring (passwordSecretRef, or the Secrets of a policy directory) that fail it are refused (the User is Stalled with reason WeakPassword and cannot log in); the operator\'s generated passwords always pass it. Left out, 12 characters or more, mixing 3 classes unless 20 characters or more.',
  {
    rule: '!has(self.passphraseLength) || self.passphraseLength == 0 || self.passphraseLength >= (has(self.minLength) ? self.minLength : 12)',
    message: 'passphraseLength must be 0 or at least minLength',
    fieldPath: '.passphraseLength',
  },
);

const labelSelector = z
  .strictObject({
    matchLabels: z.record(z.string().max(317), z.string().max(63)).optional().meta({ description: 'Labels the selected objects carry.', maxProperties: 32 }),
    matchExpressions: z
      .array(
        z.strictObject({
          key: z.string().min(1).max(317).describe('Label key.'),
          operator: z.enum(['In', 'NotIn', 'Exists', 'DoesNotExist']).describe('In, NotIn, Exists or DoesNotExist.'),
          values: z.array(z.string().max(63).describe('A label value.')).max(64).optional().describe('Values for In and NotIn.'),
        }).describe('A label selector requirement.'),
      )
      .max(16)
      .optional()
      .describe('Label selector requirements, all of which must hold.'),
  })
  .describe('A Kubernetes label selector.');

const networkPeer = cel(
  z.strictObject({
    podSelector: labelSelector.optional(),
    namespaceSelector: labelSelector.optional(),
    ipBlock: z
      .strictObject({
        cidr: z.string().min(2).max(43).describe('CIDR block allowed.'),
        except: z.array(z.string().min(2).max(43).describe('A CIDR block.')).max(16).optional().describe('CIDR blocks excluded.'),
      })
      .optional()
      .describe('Addresses allowed.'),
  }),
  'A peer allowed to reach the client listeners, as in a NetworkPolicy.',
  { rule: '!has(self.ipBlock) || (!has(self.podSelector) && !has(self.namespaceSelector))', message: 'ipBlock cannot be combined with selectors' },
  { rule: 'has(self.ipBlock) || has(self.podSelector) || has(self.namespaceSelector)', message: 'set podSelector, namespaceSelector or ipBlock' },
);

/** Variables that would let a CR change how the broker process itself loads or runs. */
export const BLOCKED_ENV = ['LD_PRELOAD', 'LD_LIBRARY_PATH', 'LD_AUDIT', 'NODE_OPTIONS', 'NODE_PATH', 'NODE_TLS_REJECT_UNAUTHORIZED', 'NODE_EXTRA_CA_CERTS', 'UV_THREADPOOL_SIZE'] as const;

const envVar = cel(
  z.strictObject({
    name: z.string().min(1).max(128).regex(/^[A-Za-z_][A-Za-z0-9_]*$/).describe('Variable name.'),
    value: z.string().max(4096).optional().describe('Literal value.'),
    valueFrom: cel(
      z.strictObject({
        secretKeyRef: z.strictObject({ name: resourceName('Secret name.'), key: z.string().min(1).max(253).describe('Key.') }).optional().describe('A key of a Secret.'),
        configMapKeyRef: z.strictObject({ name: resourceName('ConfigMap name.'), key: z.string().min(1).max(253).describe('Key.') }).optional().describe('A key of a ConfigMap.'),
      }),
      'Where the value comes from.',
      { rule: 'has(self.secretKeyRef) != has(self.configMapKeyRef)', message: 'set exactly one of secretKeyRef or configMapKeyRef' },
    ).optional(),
  }),
  'An environment variable for the broker container.',
  { rule: '!(has(self.value) && has(self.valueFrom))', message: 'value and valueFrom are mutually exclusive' },
  { rule: `!(self.name in [${BLOCKED_ENV.map((n) => `'${n}'`).join(', ')}]) && !self.name.startsWith('BULWARK_') && !self.name.startsWith('LD_')`, message: 'this variable is reserved or unsafe (LD_*, NODE_*, BULWARK_* are blocked)', fieldPath: '.name' },
);

export const brokerClusterSpec = cel(
  z.strictObject({
    replicas: z.number().int().min(1).max(64).describe('Number of broker pods.'),
    image: z.string().min(1).max(512).optional().describe('Broker container image. Left out, the operator\'s own image and version.'),
    storage: z
      .strictObject({
        size: quantity('Size of each broker\'s data volume, such as 10Gi.'),
        storageClassName: immutable(z.string().min(1).max(253), 'StorageClass of the data volumes. Left out, the cluster default.', 'storage.storageClassName').optional(),
      })
      .describe('Persistent storage of each broker.'),
    listeners: z
      .array(listener)
      .min(1)
      .max(8)
      .meta({ description: 'Client listeners. The internal listener (operator pushes, replication) is separate and always mTLS.', 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['name'] }),
    internalPort: z.number().int().min(1024).max(65535).optional().describe('Port of the internal mTLS listener. Left out, 9443.'),
    tls: cel(
      z.strictObject({
        certManager: z
          .strictObject({
            issuerRef: z
              .strictObject({
                name: resourceName('Issuer name.'),
                kind: z.enum(['Issuer', 'ClusterIssuer']).describe('Issuer or ClusterIssuer.'),
                group: z.string().max(253).optional().describe('API group of the issuer. Left out, cert-manager.io.'),
              })
              .describe('The cert-manager issuer that signs the broker certificates.'),
          })
          .optional()
          .describe('Use cert-manager for certificates. Left out, the operator\'s built-in CA signs them.'),
        duration: duration('Lifetime of the broker certificates, such as 2160h. Left out, 2160h (90 days).').optional(),
        renewBefore: duration('Renew certificates this long before they expire, such as 360h. Left out, a third of duration.').optional(),
      }),
      'Certificates for the TLS listeners and the internal listener.',
      { rule: '!has(self.duration) || !has(self.renewBefore) || duration(self.renewBefore) < duration(self.duration)', message: 'renewBefore must be shorter than duration', fieldPath: '.renewBefore' },
      { rule: "!has(self.duration) || duration(self.duration) >= duration('1h')", message: 'duration must be at least 1h', fieldPath: '.duration' },
    ).optional(),
    authentication: z
      .strictObject({
        allowAnonymous: z.boolean().optional().describe('Let clients on listeners that list anonymous act as system:anonymous. Left out means false.'),
        scramIterations: z.number().int().min(4096).max(65536).optional().describe('PBKDF2 iterations for SCRAM credentials. Left out, 8192.'),
        maxTokensPerUser: z.number().int().min(0).max(10000).optional().describe('Most AccessTokens per user. Left out, 100.'),
        oauthBearer: oauthBearer.optional(),
        certificatePrincipal: z
          .strictObject({
            source: z.enum(['commonName', 'sanDns', 'sanUri']).describe('Which part of the client certificate names the user.'),
            prefix: z.string().max(253).optional().describe('Strip this prefix from the value, such as spiffe://example.org/ns/apps/sa/.'),
          })
          .optional()
          .describe('How a client certificate maps to a username. Left out, the subject common name.'),
        passwordPolicy: passwordPolicy.optional(),
      })
      .optional()
      .describe('Cluster-wide authentication settings.'),
    authorization: z
      .strictObject({
        superUsers: z
          .array(z.string().min(1).max(128).regex(USERNAME).describe('A username.'))
          .max(16)
          .optional()
          .meta({ description: 'Usernames that bypass every grant, deny included (as Kafka super.users). Keep this list short.', 'x-kubernetes-list-type': 'set' }),
        mode: z
          .enum(AUTHORIZATION_MODES)
          .optional()
          .describe(
            'policy: only what the grants allow (the default). authenticatedFullAccess: every authenticated user may do every action on every resource, as in SwiftMQ\'s password-check-only mode; Deny grants, token scopes, disabled users and host lists still apply, anonymous clients get nothing from it, and the brokers log a warning, the metric bulwark_authorization_full_access is 1 and the condition AuthorizationOpen is True while it is on. Left out means policy.',
          ),
      })
      .optional()
      .describe('Cluster-wide authorization settings.'),
    limits: z
      .strictObject({
        maxMessageBytes: z.number().int().min(1024).max(1073741824).optional().describe('Largest record. Left out, 1 MiB.'),
        maxRequestBytes: z.number().int().min(1024).max(1073741824).optional().describe('Largest request frame. Left out, 100 MiB.'),
        maxConnections: z.number().int().min(1).max(1000000).optional().describe('Most client connections per broker. Left out, 10000.'),
        maxConnectionsPerIp: z.number().int().min(1).max(1000000).optional().describe('Most client connections per source address. Left out, 1000.'),
        users: limits.optional(),
      })
      .optional()
      .describe('Broker-wide limits, and default per-user limits.'),
    limitGroups: z
      .array(z.strictObject({ name: resourceName('Name of the limit group.'), limits }).describe('A named set of limits users can select with spec.limitGroup.'))
      .max(64)
      .optional()
      .meta({ description: 'Resource limit groups, as in SwiftMQ.', 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['name'] }),
    networkPolicy: z
      .strictObject({
        enabled: z.boolean().describe('Create a NetworkPolicy for the broker pods.'),
        peers: z.array(networkPeer).max(32).optional().describe('Who may reach the client listeners. Left out, only pods in the same namespace.'),
        metricsPeers: z
          .array(networkPeer)
          .max(32)
          .optional()
          .describe('Who may reach the metrics port (plain HTTP GET /metrics without authentication; its labels name topics): the Prometheus pods. Left out, pods labelled bulwark.dev/metrics-scraper=true in any namespace.'),
      })
      .optional()
      .describe('Network isolation of the broker pods.'),
    encryption: cel(
      z.strictObject({
        enabled: z.boolean().describe('Encrypt record batches at rest with AES-256-GCM (docs/security.md). Cannot be turned off once on.'),
        keysSecretRef: z
          .strictObject({ name: resourceName('Secret name.') })
          .optional()
          .describe(
            'Secret in the cluster\'s namespace whose keys are key ids and whose values are 32-byte keys (kubectl create secret generic NAME --from-literal=k1=$(openssl rand -base64 32)). Mounted read-only into the broker pods and read at start-up: keep every key the data on disk still needs (bulwark keys status, metric bulwark_log_key_segments); a broker missing one refuses to start.',
          ),
        activeKeyId: z
          .string()
          .min(1)
          .max(64)
          .regex(/^[-._a-zA-Z0-9]+$/)
          .optional()
          .describe('The key id new batches are encrypted with; the Secret\'s other keys still decrypt older batches. Changing it rolls the broker pods (add the new key to the Secret first).'),
      }),
      'Encryption at rest of the partitions\' record batches.',
      { rule: '!self.enabled || (has(self.keysSecretRef) && has(self.activeKeyId))', message: 'encryption needs keysSecretRef and activeKeyId' },
      { rule: '!oldSelf.enabled || self.enabled', message: 'encryption cannot be turned off once on: data on disk needs the keys' },
    ).optional(),
    audit: z
      .strictObject({
        logAllowed: z.boolean().optional().describe('Also log allowed requests, not only denials. Left out means false.'),
        sinks: z
          .array(
            cel(
              z.strictObject({
                type: z.enum(['file', 'topic']).describe('file (JSON lines) or topic (an internal topic).'),
                path: z.string().min(1).max(1024).optional().describe('For file: the file path in the broker container; a relative path is under the broker\'s data directory. One file sink per cluster.'),
                topic: z.string().min(1).max(249).regex(/^[a-zA-Z0-9._-]+$/).optional().describe('For topic: the topic name. The broker writes audit events to __audit only, for now.'),
              }),
              'Where audit events go.',
              { rule: "self.type != 'file' || has(self.path)", message: 'a file sink needs path' },
              { rule: "self.type != 'topic' || has(self.topic)", message: 'a topic sink needs topic' },
            ),
          )
          .max(4)
          .optional()
          .describe('Audit sinks. Left out, each broker writes audit events to its own log (stdout, one JSON line per event).'),
      })
      .optional()
      .describe('Audit log of authentication, authorization and policy events.'),
    topics: z
      .strictObject({
        autoCreate: z.boolean().optional().describe('Create topics on first Metadata or Produce. Left out means false.'),
        defaultPartitions: z.number().int().min(1).max(10000).optional().describe('Partitions of an auto-created topic. Left out, 1.'),
      })
      .optional()
      .describe('Topic defaults.'),
    env: z
      .array(envVar)
      .max(64)
      .optional()
      .meta({ description: 'Extra environment variables for the broker container; unsafe names are refused.', 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['name'] }),
    resources: z
      .strictObject({
        requests: z.strictObject({ cpu: quantity('CPU.').optional(), memory: quantity('Memory.').optional() }).optional().describe('Requested resources.'),
        limits: z.strictObject({ cpu: quantity('CPU.').optional(), memory: quantity('Memory.').optional() }).optional().describe('Resource limits.'),
      })
      .optional()
      .describe('Compute resources of the broker container.'),
  }),
  'Desired state of the broker cluster.',
  { rule: 'self.listeners.all(l, self.listeners.exists_one(m, m.port == l.port))', message: 'listener ports must be distinct', fieldPath: '.listeners' },
  { rule: '!has(self.internalPort) || self.listeners.all(l, l.port != self.internalPort)', message: 'internalPort clashes with a listener port', fieldPath: '.internalPort' },
  {
    rule: "!self.listeners.exists(l, has(l.authentication) && 'oauthbearer' in l.authentication) || (has(self.authentication) && has(self.authentication.oauthBearer))",
    message: 'a listener lists oauthbearer: set spec.authentication.oauthBearer (issuer, audience, jwksUrl)',
    fieldPath: '.listeners',
  },
);

export const brokerClusterStatus = z
  .strictObject({
    ...baseStatus,
    readyReplicas: z.number().int().min(0).max(64).optional().describe('Broker pods that are ready.'),
    listeners: z
      .array(
        z
          .strictObject({
            name: z.string().min(1).max(32).describe('Name of the listener.'),
            protocol: z.enum(['kafka', 'http']).describe('kafka or http.'),
            tls: z.boolean().describe('Whether the listener serves TLS.'),
            bootstrap: z.string().min(1).max(320).describe('Address clients in the cluster bootstrap from: <cluster>.<namespace>.svc:<port>, the client Service.'),
          })
          .describe('Where clients reach a listener.'),
      )
      .max(8)
      .optional()
      .meta({ description: 'Addresses of the client listeners.', 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['name'] }),
    certificates: z
      .array(
        z
          .strictObject({
            name: z.enum(['ca', 'server', 'internal', 'operator']).describe('ca (the built-in CA), server (client listeners), internal (the internal listener) or operator (the operator\'s client certificate).'),
            secretName: z.string().min(1).max(253).describe('The Secret holding it (tls.crt, tls.key, ca.crt).'),
            notAfter: z.iso.datetime().optional().describe('When it expires.'),
            renewalTime: z.iso.datetime().optional().describe('When it is renewed (for the CA: when its rotation starts).'),
          })
          .describe('One certificate of the cluster.'),
      )
      .max(8)
      .optional()
      .meta({ description: 'The cluster\'s certificates, their expiry and renewal times.', 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['name'] }),
    policyVersion: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).optional().describe('Version of the policy snapshot every ready broker applied.'),
    policyHash: z.string().max(80).optional().describe('Content hash of that snapshot.'),
    policyInSync: z.string().max(32).optional().describe('Brokers holding the current policy snapshot, of the broker pods running: 3/3.'),
    clusterStateVersion: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).optional().describe('Version of the cluster state (brokers, topics, partition leaders and epochs) every running broker applied.'),
    clusterStateHash: z.string().max(80).optional().describe('Content hash of that cluster state.'),
    clusterStateInSync: z.string().max(32).optional().describe('Brokers holding the current cluster state, of the brokers of the cluster: 3/3.'),
    coordinators: z
      .array(z.number().int().min(0).max(63))
      .max(1000)
      .optional()
      .meta({
        description: 'Which broker coordinates each consumer-group slot (a group\'s slot: the hash of its id, modulo the number of slots), as the cluster state carries it. Kept when brokers are added, so groups keep their coordinator and the committed offsets it holds.',
        'x-kubernetes-list-type': 'atomic',
      }),
  })
  .describe('Observed state of the BrokerCluster.');

export type BrokerClusterSpec = z.infer<typeof brokerClusterSpec>;
