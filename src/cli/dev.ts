// `bulwark dev`: local mode (`bulwark broker --policy-dir examples/policy`) on embedded defaults,
// for trying Bulwark on a laptop:
// - data in ./.bulwark/dev; a self-signed CA and server certificate in <data>/tls (made once),
//   used by every TLS listener of the example BrokerCluster;
// - that BrokerCluster's listeners, limits and audit sinks, rendered as `bulwark broker` renders
//   them: Kafka with SCRAM on 127.0.0.1:9092, TLS on 9093 (SCRAM, PLAIN and client certificates),
//   HTTPS on 8080 with Bearer access tokens (the dev CA's certificate: curl --cacert), audit to
//   <data>/audit.jsonl and __audit;
// - Prometheus metrics on http://127.0.0.1:9096/metrics (--metrics-port), the metrics listener a
//   pod's NetworkPolicy restricts to scrapers; on HTTPS, /metrics needs describe on the cluster;
// - the users, roles, grants and token of examples/policy/, reloaded when those files change;
// - a root super user, its password printed on the first start only;
// - topics created on first use by whoever may create them.
// It prints commands to copy, each of which works as printed.
import { existsSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { clusterConfigSource, loadBrokerConfig } from '../config/index.ts';
import { createLogger, packagePath, writeFileAtomic } from '../lib/index.ts';
import { BulwarkError } from '../lib/index.ts';
import { ensureDevPki, issueCertificate } from '../pki/index.ts';
import { loadPolicyDirectory } from '../policy/index.ts';
import { brokerFlags, directoryBrokerCluster, runBroker } from './broker-command.ts';
import { formatProblem, type Output } from './policy-commands.ts';

export const EXAMPLES_POLICY_DIR = packagePath('examples', 'policy');
/** The example BrokerCluster's TLS Kafka listener, whose port `--tls-port` sets. */
const TLS_LISTENER = 'kafka-tls';

/** The example identities the printed commands use (their secrets are published in examples/policy/secrets.local.yaml). */
const EXAMPLE = {
  admin: { user: 'platform-admin', password: 'Example-Admin-Passw0rd!' },
  dana: { user: 'dana@example.com', password: 'Example-Dana-Passw0rd!' },
  token: 'bwk_3xEafKN7fj2noU-CtbGlJO0FRL6pNUZwfL0_DwYtGpc',
  /** The example tls user; its certificate carries the subject its User declares. */
  certificateUser: { name: 'edge-gateway', subject: 'edge-gateway.streaming.svc' },
};

/** A client certificate for the example tls user, so the mTLS command works out of the box. */
async function ensureClientCertificate(tlsDir: string, name: string, commonName: string): Promise<{ certFile: string; keyFile: string }> {
  const certFile = join(tlsDir, `${name}.crt`);
  const keyFile = join(tlsDir, `${name}.key`);
  if (!existsSync(certFile) || !existsSync(keyFile)) {
    const ca = { certPem: readFileSync(join(tlsDir, 'ca.crt'), 'utf8'), keyPem: readFileSync(join(tlsDir, 'ca.key'), 'utf8') };
    const pair = await issueCertificate({ ca, commonName, usage: 'client', validDays: 365 });
    writeFileAtomic(keyFile, [Buffer.from(pair.keyPem)], { mode: 0o600 });
    writeFileAtomic(certFile, [Buffer.from(pair.certPem)]);
  }
  return { certFile, keyFile };
}

/** Dev's own flag `name` with a port number, taken out of argv. */
function takePortFlag(argv: string[], name: string): { argv: string[]; port: number | undefined } {
  const at = argv.indexOf(name);
  if (at < 0) return { argv, port: undefined };
  const v = argv[at + 1] ?? '';
  if (!/^\d{1,5}$/.test(v) || Number(v) > 65535) throw new BulwarkError('BWK_ERR_CONFIG_INVALID', { detail: `${name}: expected a port number, got ${JSON.stringify(v)}` });
  return { argv: [...argv.slice(0, at), ...argv.slice(at + 2)], port: Number(v) };
}

/** Where dev serves Prometheus metrics when --metrics-port does not say. */
const DEV_METRICS_PORT = 9096;

export async function dev(argv: string[], io: Output): Promise<number> {
  // --tls-port (the port of the example's kafka-tls listener) and --metrics-port are dev's own; the rest are the broker's flags.
  const tlsFlag = takePortFlag(argv, '--tls-port');
  const metricsFlag = takePortFlag(tlsFlag.argv, '--metrics-port');
  const tlsPort = tlsFlag.port;
  const { file, overrides, local } = brokerFlags(metricsFlag.argv);
  const env = { BULWARK_DATA_DIR: '.bulwark/dev', ...process.env };
  const base = loadBrokerConfig({ ...(file ? { file } : {}), env, overrides });
  const cluster = await directoryBrokerCluster(EXAMPLES_POLICY_DIR);
  if (!cluster) throw new BulwarkError('BWK_ERR_CONFIG_INVALID', { detail: `${EXAMPLES_POLICY_DIR} declares no BrokerCluster: bulwark dev runs the one it declares` });
  const tlsDir = join(base.dataDir, 'tls');
  const pki = await ensureDevPki(tlsDir);
  const client = await ensureClientCertificate(tlsDir, EXAMPLE.certificateUser.name, EXAMPLE.certificateUser.subject);
  // The example BrokerCluster as local mode runs it, every TLS listener with the dev certificate.
  const files = { certFile: pki.certFile, keyFile: pki.keyFile, caFile: pki.caFile };
  const mounts = { tls: Object.fromEntries(cluster.spec.listeners.filter((l) => l.tls?.enabled).map((l) => [l.name, files])), policyDir: EXAMPLES_POLICY_DIR };
  const ports = { ...(tlsPort !== undefined ? { [TLS_LISTENER]: tlsPort } : {}), ...local.ports };
  const source = clusterConfigSource(cluster, mounts, { bindHost: local.host ?? '127.0.0.1', ...(local.advertisedHost ? { advertisedHost: local.advertisedHost } : {}), ports });
  const metrics = { host: local.host ?? '127.0.0.1', port: metricsFlag.port ?? DEV_METRICS_PORT };
  const config = loadBrokerConfig({ ...(file ? { file } : {}), env, overrides: { ...overrides, policy: { dir: EXAMPLES_POLICY_DIR }, metrics }, cluster: source });
  const { snapshot, problems } = await loadPolicyDirectory(EXAMPLES_POLICY_DIR);
  for (const p of problems) (p.severity === 'error' ? io.err : io.out)(formatProblem(p));

  return runBroker(config, io, {
    banner: (broker) => {
      const rel = (p: string) => {
        const r = relative(process.cwd(), p);
        return r.startsWith('..') ? p : r;
      };
      const ca = rel(pki.caFile);
      const kafka = `${config.kafka.host}:${broker.kafkaPort}`;
      const tls = `${config.kafka.host}:${broker.listenerPort(TLS_LISTENER)}`;
      const metricsUrl = `http://${metrics.host}:${broker.listenerPort('metrics')}/metrics`;
      const http = `${config.http.tls ? 'https' : 'http'}://${config.http.host}:${broker.httpPort}`;
      const curl = config.http.tls ? `curl -s --cacert ${ca}` : 'curl -s';
      const scram = `-X security.protocol=SASL_PLAINTEXT -X sasl.mechanisms=SCRAM-SHA-512 -X sasl.username=${EXAMPLE.admin.user} -X 'sasl.password=${EXAMPLE.admin.password}'`;
      const plainTls = `-X security.protocol=SASL_SSL -X ssl.ca.location=${ca} -X sasl.mechanisms=PLAIN -X sasl.username=${EXAMPLE.dana.user} -X 'sasl.password=${EXAMPLE.dana.password}'`;
      const mtls = `-X security.protocol=SSL -X ssl.ca.location=${ca} -X ssl.certificate.location=${rel(client.certFile)} -X ssl.key.location=${rel(client.keyFile)}`;
      const lines = [
        `bulwark dev: Kafka on ${kafka} (SCRAM), Kafka TLS on ${tls} (SCRAM, PLAIN, client certificates), HTTP on ${http} (Bearer tokens), metrics on ${metricsUrl}, data in ${config.dataDir}`,
        `  BrokerCluster ${cluster.metadata.namespace}/${cluster.metadata.name} from examples/policy: its listeners, limits (records up to ${config.limits.maxMessageBytes} bytes) and audit sinks${config.audit.file ? ` (${rel(config.audit.file)}, ${config.audit.topic ? '__audit' : 'no topic'})` : ''}`,
        `  CA certificate: ${ca}${pki.created ? ' (new: clients must trust it)' : ''}`,
        `  policy from examples/policy (reloaded on change) for ${snapshot.cluster.namespace}/${snapshot.cluster.name}: ${snapshot.users.length} users, ${snapshot.tokens.length} tokens, ${snapshot.rules.length} rules`,
      ];
      if (broker.generatedRootPassword) {
        lines.push(`  root password (shown once; set BULWARK_ROOT_PASSWORD to choose one): ${broker.generatedRootPassword}`);
      } else {
        lines.push('  root user: password as first printed, or BULWARK_ROOT_PASSWORD');
      }
      lines.push(
        '',
        'Try (the example users and token are in examples/policy/):',
        `  echo "order 1" | kcat -b ${kafka} ${scram} -P -t orders-demo`,
        `  kcat -b ${tls} ${plainTls} -C -t orders-demo -o beginning -e`,
        `  echo "order 2" | kcat -b ${tls} ${mtls} -P -t orders-demo`,
        `  ${curl} -H 'authorization: Bearer ${EXAMPLE.token}' '${http}/v1/topics/orders-demo/partitions/0/records?offset=0'`,
        `  curl -s ${metricsUrl} | grep bulwark_produced`,
        `  npx bulwark policy explain examples/policy --user dana@example.com --action read --resource topic:orders-pii-eu`,
        '',
        'Stop with Ctrl-C.',
      );
      return lines;
    },
    logger: createLogger({ pretty: true }),
  });
}
