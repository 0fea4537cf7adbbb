// Topics created and deleted through the Kafka API. A broker cannot call the operator, so the
// leader long-polls every running broker pod (GET /v1/topic-requests, src/cluster/distribution.ts)
// and answers each request it collects: it records a CreateTopics as a Topic resource (and a
// DeleteTopics by deleting the Topic), then answers done, or failed with the Kafka error the
// client gets. The broker authorized the request before forwarding it.
//
// A request is handed out again until it is answered: the Topic records the request's id, so a
// request answered twice (the first answer lost) is answered done again, not TOPIC_ALREADY_EXISTS.
import { API_GROUP_VERSION, MAX_TOPIC_PARTITIONS } from '../../api/index.ts';
import { answerTopicRequest, pollTopicRequests, topicConfigProblem, topicNameProblem, type TopicAnswer, type TopicRequest } from '../../cluster/index.ts';
import { KafkaErrorCode, type DistributionTls, type Logger } from '../../lib/index.ts';
import { isConflict, KINDS, KubeApiError, type ObjectApi, type ObjectCache, type ObjectKey } from '../controller/index.ts';
import type { BrokerTarget } from '../policy/index.ts';
import { clusterTopics, CREATED_BY_ANNOTATION, CREATED_BY_KAFKA_API, kubernetesTopicName, PRINCIPAL_ANNOTATION, storedTopicName, TOPIC_REQUEST_ANNOTATION, topicNamed, type StoredTopic } from './topics.ts';

type Failed = Extract<TopicAnswer, { outcome: 'failed' }>;
const failed = (errorCode: number, message: string): Failed => ({ outcome: 'failed', errorCode, message: message.slice(0, 1000) });

/** Why a CreateTopics request cannot be carried out as it is, before anything is read: pure. */
export function createRefusal(req: Extract<TopicRequest, { op: 'create' }>): Failed | undefined {
  const name = topicNameProblem(req.topic);
  if (name) return failed(KafkaErrorCode.INVALID_TOPIC_EXCEPTION, name);
  if (req.partitions > MAX_TOPIC_PARTITIONS) return failed(KafkaErrorCode.INVALID_PARTITIONS, `at most ${MAX_TOPIC_PARTITIONS} partitions`);
  if (req.replicationFactor !== 1) return failed(KafkaErrorCode.INVALID_REPLICATION_FACTOR, 'replication is not built yet: Bulwark topics have replication factor 1');
  const config = topicConfigProblem(req.config);
  if (config) return failed(KafkaErrorCode.INVALID_CONFIG, config);
  return undefined;
}

export interface TopicRequestEnv {
  cache: ObjectCache;
  api: ObjectApi;
  log: Logger;
}

/** The answer to one request, or undefined when it could not be decided now (the API server failed): it comes back on the next poll. */
export async function answerFor(cluster: ObjectKey, req: TopicRequest, env: TopicRequestEnv): Promise<TopicAnswer | undefined> {
  const ns = cluster.namespace;
  const mine = (t: StoredTopic | undefined) => !!t && !t.metadata.deletionTimestamp && t.spec?.clusterRef?.name === cluster.name && storedTopicName(t) === req.topic;
  const known = topicNamed(clusterTopics(env.cache, ns, cluster.name), req.topic);
  try {
    if (req.op === 'delete') {
      const live = known ?? (await env.api.get<StoredTopic>(KINDS.topic, { namespace: ns, name: kubernetesTopicName(req.topic) }));
      if (!mine(live)) return failed(KafkaErrorCode.UNKNOWN_TOPIC_OR_PARTITION, `topic ${req.topic} does not exist`);
      await env.api.delete(KINDS.topic, { namespace: ns, name: live!.metadata.name }, { uid: live!.metadata.uid ?? '' });
      env.log.info({ cluster: `${ns}/${cluster.name}`, topic: req.topic, principal: req.principal, resource: live!.metadata.name }, 'topic deleted through the Kafka API: Topic resource deleted');
      return { outcome: 'done' };
    }
    const refusal = createRefusal(req);
    if (refusal) return refusal;
    const existing = (t: StoredTopic): TopicAnswer =>
      t.metadata.annotations?.[TOPIC_REQUEST_ANNOTATION] === req.id ? { outcome: 'done', ...(t.status?.topicId ? { topicId: t.status.topicId } : {}) } : failed(KafkaErrorCode.TOPIC_ALREADY_EXISTS, `topic ${req.topic} already exists`);
    if (known) return existing(known);
    for (const salt of ['', `${ns}/${cluster.name}`]) {
      const name = kubernetesTopicName(req.topic, salt);
      const topic = {
        apiVersion: API_GROUP_VERSION,
        kind: 'Topic',
        metadata: { name, namespace: ns, annotations: { [CREATED_BY_ANNOTATION]: CREATED_BY_KAFKA_API, [PRINCIPAL_ANNOTATION]: req.principal.slice(0, 256), [TOPIC_REQUEST_ANNOTATION]: req.id } },
        spec: { clusterRef: { name: cluster.name }, topicName: req.topic, partitions: req.partitions, ...(Object.keys(req.config).length > 0 ? { config: req.config } : {}) },
      };
      try {
        await env.api.create(topic);
        env.log.info({ cluster: `${ns}/${cluster.name}`, topic: req.topic, principal: req.principal, resource: name }, 'topic created through the Kafka API: Topic resource created');
        return { outcome: 'done' };
      } catch (err) {
        if (!isConflict(err)) throw err;
        const live = await env.api.get<StoredTopic>(KINDS.topic, { namespace: ns, name });
        if (live && mine(live)) return existing(live);
        // The name is another cluster's topic (or one being deleted): try the other name.
      }
    }
    return failed(KafkaErrorCode.TOPIC_ALREADY_EXISTS, `topic ${req.topic}: the Topic resources it would be recorded as are taken`);
  } catch (err) {
    if (err instanceof KubeApiError && (err.status === 422 || err.status === 400)) return failed(KafkaErrorCode.INVALID_REQUEST, `refused by the API server: ${err.message}`);
    env.log.warn({ cluster: `${ns}/${cluster.name}`, topic: req.topic, op: req.op, err }, 'topic request not answered: it is collected again on the next poll');
    return undefined;
  }
}

export interface TopicRequestPollersOptions {
  log: Logger;
  /** How long one poll waits for a request (default 20 s; at most MAX_POLL_WAIT_MS). */
  waitMs?: number;
  /** Pause after a failed poll (default 2 s). */
  retryMs?: number;
  poll?: typeof pollTopicRequests;
  answer?: typeof answerTopicRequest;
  decide?: typeof answerFor;
}

interface Poll {
  cluster: ObjectKey;
  pod: string;
  target: BrokerTarget;
  port: number;
  tls: DistributionTls;
  env: TopicRequestEnv;
  abort: AbortController;
  done: Promise<void>;
}

/** One long poll per running broker pod; a pod that goes (or a new run of its container) ends its poll. */
export class TopicRequestPollers {
  readonly #o: TopicRequestPollersOptions;
  readonly #polls = new Map<string, Poll>();

  constructor(options: TopicRequestPollersOptions) {
    this.#o = options;
  }

  /** The pods of `cluster` polled now (tests, logs). */
  polling(cluster: ObjectKey): string[] {
    return [...this.#polls.values()].filter((p) => p.cluster.namespace === cluster.namespace && p.cluster.name === cluster.name).map((p) => p.pod).sort();
  }

  /** Polls exactly `targets` of `cluster` from now on (none when tls is undefined). */
  sync(cluster: ObjectKey, targets: readonly BrokerTarget[], port: number, tls: DistributionTls | undefined, env: TopicRequestEnv): void {
    const prefix = `${cluster.namespace}/${cluster.name}/`;
    const want = new Map(tls ? targets.map((t) => [`${prefix}${t.instance ?? t.pod}`, t]) : []);
    for (const [key, p] of this.#polls) if (key.startsWith(prefix) && !want.has(key)) this.#end(key, p);
    for (const [key, target] of want) {
      const p = this.#polls.get(key);
      if (p) Object.assign(p, { target, port, tls: tls!, env });
      else this.#start(key, cluster, target, port, tls!, env);
    }
  }

  /** Ends every poll (leadership lost, or shutting down) and waits for them. */
  async stopAll(): Promise<void> {
    const all = [...this.#polls.entries()];
    for (const [key, p] of all) this.#end(key, p);
    await Promise.all(all.map(([, p]) => p.done));
  }

  #end(key: string, p: Poll): void {
    p.abort.abort();
    this.#polls.delete(key);
  }

  #start(key: string, cluster: ObjectKey, target: BrokerTarget, port: number, tls: DistributionTls, env: TopicRequestEnv): void {
    const p = { cluster, pod: target.pod, target, port, tls, env, abort: new AbortController() } as Poll;
    this.#polls.set(key, p);
    p.done = this.#run(p).catch((err: unknown) => this.#o.log.error({ pod: p.pod, err }, 'topic request poll ended by an error'));
  }

  async #run(p: Poll): Promise<void> {
    const poll = this.#o.poll ?? pollTopicRequests;
    const answer = this.#o.answer ?? answerTopicRequest;
    const decide = this.#o.decide ?? answerFor;
    const signal = p.abort.signal;
    const pause = (ms: number) => new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      signal.addEventListener('abort', () => (clearTimeout(timer), resolve()), { once: true });
    });
    while (!signal.aborted) {
      const to = () => ({ host: p.target.host, port: p.port, servername: p.target.servername });
      const r = await poll(to(), p.tls, this.#o.waitMs ?? 20_000, { signal });
      if (signal.aborted) return;
      if (r.outcome !== 'ok') {
        p.env.log.debug({ pod: p.pod, code: r.error.code }, 'topic request poll failed; trying again');
        await pause(this.#o.retryMs ?? 2_000);
        continue;
      }
      let unanswered = false;
      for (const req of r.value) {
        if (signal.aborted) return;
        const a = await decide(p.cluster, req, p.env);
        if (!a) {
          unanswered = true;
          continue;
        }
        const sent = await answer(to(), p.tls, req.id, a, { signal });
        if (sent.outcome !== 'ok') p.env.log.info({ pod: p.pod, request: req.id, code: sent.error.code }, 'topic request answer not delivered: the broker hands it out again');
      }
      // The next poll hands the unanswered ones out again at once: not in a tight loop.
      if (unanswered) await pause(this.#o.retryMs ?? 2_000);
    }
  }
}
