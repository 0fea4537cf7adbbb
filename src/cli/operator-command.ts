// `bulwark operator`: the controller process. It runs until SIGTERM or SIGINT, then stops
// reconciling (letting reconciles in flight finish), releases its leader Lease so another
// replica takes over at once, and exits 0.
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { parseArgs } from 'node:util';
import { BulwarkError, createLogger } from '../lib/index.ts';
import { defaultReconcilers, KubeClient, loadKubeConfig, startOperator, type OperatorOptions, type ReconcilerOptions } from '../operator/index.ts';
import type { Output } from './policy-commands.ts';

export const OPERATOR_USAGE =
  'usage: bulwark operator [--kubeconfig FILE] [--namespaces a,b] [--metrics-port N] [--leader-election-namespace NS | --namespace NS] [--lease-name NAME] [--identity ID] [--broker-image IMAGE] [--cert-manager] [--no-leader-election] [--lease-duration S] [--renew-deadline S] [--retry-period S]';

const OPERATOR_HELP = `${OPERATOR_USAGE}

Reconciles Bulwark's custom resources. One replica acts at a time (leader election on a
coordination.k8s.io Lease); the others stand by and take over when the leader's Lease lapses or is released.

  --kubeconfig FILE                 API server and credentials (default: in-cluster service account, else KUBECONFIG or ~/.kube/config)
  --namespaces a,b                  namespaces to serve (default: all)
  --metrics-port N                  /healthz, /readyz and /metrics on 0.0.0.0:N (default 8080)
  --leader-election-namespace NS    namespace of the Lease (default: --namespace, else the pod's namespace)
  --namespace NS                    the operator's own namespace (default: the pod's, from its service account)
  --lease-name NAME                 Lease name (default bulwark-operator)
  --identity ID                     this replica's name in the Lease (default: <host name>_<random>, the pod name and
                                    a suffix new at every start, so a restarted process waits for the lease to expire)
  --broker-image IMAGE              image of broker pods (default: env BULWARK_BROKER_IMAGE, else, in a pod, the
                                    image of this pod's operator container, read at start)
  --cert-manager                    serve BrokerClusters with spec.tls.certManager (needs cert-manager's CRDs)
  --no-leader-election              act at once, without a Lease (one replica only)
  --lease-duration S, --renew-deadline S, --retry-period S
                                    leader election timing in seconds (default 15, 10, 2)

SIGTERM or SIGINT: stop reconciling, release the Lease, exit 0.`;

/** How long `bulwark operator` waits for a clean stop after SIGTERM. */
const STOP_TIMEOUT_MS = 20_000;
const SA_NAMESPACE_FILE = '/var/run/secrets/kubernetes.io/serviceaccount/namespace';
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

export interface OperatorCommandEnv {
  env: NodeJS.ProcessEnv;
  /** The pod's namespace file, when running in a pod. */
  serviceAccountNamespace(): string | undefined;
  hostname(): string;
}

const usage = (detail: string) => new BulwarkError('BWK_ERR_CLI_USAGE', { detail: `${detail}\n${OPERATOR_USAGE}` });

function seconds(flag: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw usage(`--${flag} must be a positive number of seconds (got ${JSON.stringify(v)})`);
  return Math.round(n * 1000);
}

function namespaceName(flag: string, v: string): string {
  if (!DNS_LABEL.test(v)) throw usage(`--${flag}: ${JSON.stringify(v)} is not a namespace name`);
  return v;
}

/** Flags and environment → startOperator's options and the reconcilers' options; usage errors name the flag. */
export function operatorOptionsFromFlags(argv: string[], host: OperatorCommandEnv): { options: Omit<OperatorOptions, 'reconcilers'>; reconcilers: ReconcilerOptions } {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      kubeconfig: { type: 'string' },
      namespaces: { type: 'string' },
      'metrics-port': { type: 'string' },
      'leader-election-namespace': { type: 'string' },
      namespace: { type: 'string' },
      'lease-name': { type: 'string' },
      identity: { type: 'string' },
      'broker-image': { type: 'string' },
      'no-leader-election': { type: 'boolean' },
      'cert-manager': { type: 'boolean' },
      'lease-duration': { type: 'string' },
      'renew-deadline': { type: 'string' },
      'retry-period': { type: 'string' },
    },
  });
  if (positionals.length > 0) throw usage(`unexpected argument ${JSON.stringify(positionals[0])}`);
  if (values.kubeconfig !== undefined && !existsSync(values.kubeconfig)) throw usage(`--kubeconfig: ${values.kubeconfig} does not exist`);
  const namespaces = values.namespaces === undefined ? undefined : values.namespaces.split(',').map((s) => s.trim()).filter((s) => s !== '').map((ns) => namespaceName('namespaces', ns));
  if (values.namespaces !== undefined && namespaces!.length === 0) throw usage('--namespaces: give at least one namespace (omit the flag to serve all)');
  let metricsPort = 8080;
  if (values['metrics-port'] !== undefined) {
    metricsPort = Number(values['metrics-port']);
    if (!Number.isInteger(metricsPort) || metricsPort < 0 || metricsPort > 65535) throw usage(`--metrics-port must be a port number 0-65535 (got ${JSON.stringify(values['metrics-port'])})`);
  }
  const brokerImage = values['broker-image'] ?? (host.env['BULWARK_BROKER_IMAGE'] || undefined);
  if (values['broker-image'] !== undefined && values['broker-image'].trim() === '') throw usage('--broker-image must not be empty');

  let leaderElection: OperatorOptions['leaderElection'] = false;
  if (!values['no-leader-election']) {
    const flag = values['leader-election-namespace'] !== undefined ? 'leader-election-namespace' : 'namespace';
    const given = values['leader-election-namespace'] ?? values.namespace;
    const ns = given !== undefined ? namespaceName(flag, given) : host.serviceAccountNamespace();
    if (!ns) throw usage('--leader-election-namespace (or --namespace) is required outside a pod: the namespace of the leader Lease');
    const leaseName = values['lease-name'] ?? 'bulwark-operator';
    if (!DNS_LABEL.test(leaseName)) throw usage(`--lease-name: ${JSON.stringify(leaseName)} is not a valid name`);
    const identity = values.identity ?? `${host.hostname()}_${randomBytes(4).toString('hex')}`;
    if (identity.trim() === '') throw usage('--identity must not be empty');
    const leaseDurationMs = seconds('lease-duration', values['lease-duration']) ?? 15_000;
    const renewDeadlineMs = seconds('renew-deadline', values['renew-deadline']) ?? Math.min(10_000, Math.round((leaseDurationMs * 2) / 3));
    const renewIntervalMs = seconds('retry-period', values['retry-period']) ?? Math.min(2_000, Math.round(renewDeadlineMs / 4));
    if (renewDeadlineMs >= leaseDurationMs) throw usage('--renew-deadline must be shorter than --lease-duration');
    if (renewIntervalMs >= renewDeadlineMs) throw usage('--retry-period must be shorter than --renew-deadline');
    leaderElection = { namespace: ns, name: leaseName, identity, leaseDurationMs, renewDeadlineMs, renewIntervalMs, retryPeriodMs: Math.min(500, renewIntervalMs) };
  }
  const operatorNamespace = values.namespace !== undefined ? namespaceName('namespace', values.namespace) : host.serviceAccountNamespace();
  return {
    options: {
      ...(values.kubeconfig !== undefined ? { kubeconfig: values.kubeconfig } : host.env['KUBERNETES_SERVICE_HOST'] && host.serviceAccountNamespace() ? { inCluster: true } : {}),
      ...(namespaces ? { namespaces } : {}),
      metricsPort,
      leaderElection,
    },
    reconcilers: { ...(brokerImage ? { brokerImage } : {}), ...(operatorNamespace ? { operatorNamespace } : {}), ...(values['cert-manager'] ? { certManager: true } : {}) },
  };
}

export const processEnv: OperatorCommandEnv = {
  env: process.env,
  serviceAccountNamespace: () => {
    try {
      return readFileSync(SA_NAMESPACE_FILE, 'utf8').trim() || undefined;
    } catch {
      return undefined;
    }
  },
  hostname: () => hostname(),
};

/**
 * The image of this pod's `operator` container (else its first): what the brokers run unless told
 * otherwise, so that `kubectl set image`, kustomize's `images:` and the chart's image values move
 * the operator and its brokers together. Fails (the process exits, the pod restarts) rather than
 * guess an image.
 */
async function ownImage(client: KubeClient, namespace: string, podName: string): Promise<string> {
  try {
    const pod = await client.request<{ spec?: { containers?: { name: string; image?: string }[] } }>('GET', `/api/v1/namespaces/${encodeURIComponent(namespace)}/pods/${encodeURIComponent(podName)}`);
    const containers = pod.spec?.containers ?? [];
    const image = (containers.find((c) => c.name === 'operator') ?? containers[0])?.image;
    if (!image) throw new Error('the pod has no container image');
    return image;
  } catch (err) {
    throw new BulwarkError('BWK_ERR_CONFIG_INVALID', { detail: `cannot read this pod (${namespace}/${podName}) to learn the broker image: ${err instanceof Error ? err.message : String(err)}; give --broker-image or BULWARK_BROKER_IMAGE, or let the operator get its own pod (manifests/base/rbac/self.yaml)` });
  }
}

export async function operatorCommand(argv: string[], io: Output, host: OperatorCommandEnv = processEnv): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    io.out(OPERATOR_HELP);
    return 0;
  }
  const { options, reconcilers } = operatorOptionsFromFlags(argv, host);
  const log = createLogger();
  // One client for the operator, and for reading its own pod first.
  const client = new KubeClient(loadKubeConfig({ ...(options.kubeconfig ? { kubeconfig: options.kubeconfig } : {}), ...(options.inCluster ? { inCluster: true } : {}) }));
  if (!reconcilers.brokerImage && options.inCluster) {
    const podName = host.env['POD_NAME'];
    const namespace = host.serviceAccountNamespace();
    try {
      if (!podName || !namespace) throw new BulwarkError('BWK_ERR_CONFIG_INVALID', { detail: 'no broker image: give --broker-image or BULWARK_BROKER_IMAGE, or POD_NAME (the downward API) so the operator gives the brokers its own image' });
      reconcilers.brokerImage = await ownImage(client, namespace, podName);
    } catch (err) {
      client.close();
      throw err;
    }
    log.info({ brokerImage: reconcilers.brokerImage }, 'broker image: this pod\'s own');
  }
  const operator = await startOperator({ ...options, client, reconcilers: defaultReconcilers(reconcilers), log });
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  // Bounded, inside Kubernetes' default 30 s grace period: a stop that hangs (an API server
  // that stopped answering mid-reconcile) is reported, and the process leaves anyway.
  let timer: NodeJS.Timeout | undefined;
  const stopped = await Promise.race([operator.stop().then(() => true), new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), STOP_TIMEOUT_MS)))]);
  clearTimeout(timer);
  if (!stopped) {
    io.err(`bulwark: the operator did not stop within ${STOP_TIMEOUT_MS} ms; exiting anyway`);
    setTimeout(() => process.exit(1), 100).unref();
    return 1;
  }
  return 0;
}
