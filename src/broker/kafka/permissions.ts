// The one place that says what a Kafka request needs: every request is mapped here to the
// (action, resource) pairs it touches, as Kafka's own authorizer does, and nowhere else.
// Handlers never call the authorizer; they read the Verdict built from this list, and a
// question the list did not ask is answered "denied" (fail closed), so a handler that forgets a
// resource denies instead of leaking.
//
// Kafka's choices we follow: Produce needs write on each topic; Fetch, read; ListOffsets and
// Metadata, describe (Metadata lists only topics the principal may describe, and auto-creation
// needs create on the cluster or the topic); CreateTopics, create on the cluster or the topic;
// DeleteTopics, delete; DescribeConfigs, describeConfigs; the group APIs, read (describe for
// FindCoordinator, DescribeGroups, OffsetFetch and ListGroups) on the group, plus read/describe
// on the topics of OffsetCommit/OffsetFetch. As in Kafka since KIP-679, a producer id carries no
// permission (every Produce is still checked), so a non-transactional InitProducerId needs
// nothing beyond authentication. DescribeAcls needs describe on the cluster (who may do what is
// itself sensitive); CreateAcls and DeleteAcls, alter on the cluster (they are refused anyway:
// grants are custom resources). DeleteGroups needs delete on each group; OffsetDelete, delete on
// the group and read on each topic.
import type { Action, ResourceType } from '../../api/index.ts';
import { ApiKey, type DecodedRequest } from '../../kafka/index.ts';

export const CLUSTER_RESOURCE = 'kafka-cluster';

export interface Permission {
  action: Action;
  type: ResourceType;
  name: string;
  /**
   * A check whose denial is not an event: it filters a listing (every topic of Metadata, every
   * group of ListGroups) or is one of two alternatives (create on the cluster, else on the
   * topic). Audits and metrics skip its denials; the request's own resources are never quiet.
   */
  quiet?: true;
}

/** What the mapping needs to know about the broker: which topics and groups exist. */
export interface PermissionContext {
  topicNames(): string[];
  groupIds(): string[];
}

const NONE: readonly Permission[] = Object.freeze([]);

const topic = (action: Action, name: string): Permission => ({ action, type: 'topic', name });
const group = (action: Action, name: string): Permission => ({ action, type: 'group', name });
const cluster = (action: Action): Permission => ({ action, type: 'cluster', name: CLUSTER_RESOURCE });
const quiet = (p: Permission): Permission => ({ ...p, quiet: true });

/** The permissions a request needs. Requests that need none: ApiVersions and the SASL exchange. */
export function requiredPermissions(req: DecodedRequest, ctx: PermissionContext): readonly Permission[] {
  switch (req.apiKey) {
    case ApiKey.ApiVersions:
    case ApiKey.SaslHandshake:
    case ApiKey.SaslAuthenticate:
      return NONE;
    case ApiKey.Produce: {
      const data = req.body.topicData;
      // The common case, one topic, without a map/flat allocation chain (hot path).
      if (data.length === 1) return [topic('write', data[0]!.name)];
      return data.map((t) => topic('write', t.name));
    }
    case ApiKey.Fetch: {
      const topics = req.body.topics;
      if (topics.length === 1) return [topic('read', topics[0]!.topic)];
      return topics.map((t) => topic('read', t.topic));
    }
    case ApiKey.ListOffsets:
      return req.body.topics.map((t) => topic('describe', t.name));
    case ApiKey.Metadata: {
      const b = req.body;
      const all = b.topics === null || (req.header.apiVersion === 0 && b.topics.length === 0);
      if (all) return ctx.topicNames().map((n) => quiet(topic('describe', n)));
      // Create only matters for auto-creation of a missing topic: its denials are not events.
      const out: Permission[] = [quiet(cluster('create'))];
      for (const t of b.topics!) out.push(topic('describe', t.name ?? ''), quiet(topic('create', t.name ?? '')));
      return out;
    }
    case ApiKey.CreateTopics:
      return [quiet(cluster('create')), ...req.body.topics.map((t) => topic('create', t.name))];
    case ApiKey.DeleteTopics:
      return req.body.topicNames.map((n) => topic('delete', n));
    case ApiKey.DescribeConfigs:
      return req.body.resources.map((r) => (r.resourceType === 2 ? topic('describeConfigs', r.resourceName) : cluster('describeConfigs')));
    case ApiKey.FindCoordinator:
      return req.body.keyType === 1 ? [{ action: 'describe', type: 'transactionalId', name: req.body.key }] : [group('describe', req.body.key)];
    case ApiKey.JoinGroup:
    case ApiKey.SyncGroup:
    case ApiKey.Heartbeat:
    case ApiKey.LeaveGroup:
      return [group('read', req.body.groupId)];
    case ApiKey.OffsetCommit:
      return [group('read', req.body.groupId), ...req.body.topics.map((t) => topic('read', t.name))];
    case ApiKey.OffsetFetch: {
      const topics = req.body.topics;
      // null topics means "all the group has committed": filtered per topic afterwards.
      if (topics === null) return [group('describe', req.body.groupId), ...ctx.topicNames().map((n) => quiet(topic('describe', n)))];
      return [group('describe', req.body.groupId), ...topics.map((t) => topic('describe', t.name))];
    }
    case ApiKey.ListGroups:
      return [quiet(cluster('describe')), ...ctx.groupIds().map((g) => quiet(group('describe', g)))];
    case ApiKey.DescribeGroups:
      return req.body.groups.map((g) => group('describe', g));
    case ApiKey.DescribeAcls:
      return [cluster('describe')];
    case ApiKey.CreateAcls:
    case ApiKey.DeleteAcls:
      return [cluster('alter')];
    case ApiKey.DeleteGroups:
      return req.body.groupsNames.map((g) => group('delete', g));
    case ApiKey.OffsetDelete:
      return [group('delete', req.body.groupId), ...req.body.topics.map((t) => topic('read', t.name))];
    case ApiKey.InitProducerId:
      return req.body.transactionalId === null ? NONE : [{ action: 'write', type: 'transactionalId', name: req.body.transactionalId }];
  }
}

/** The answers to a request's permissions, asked once, before its handler runs. */
export class Verdict {
  readonly #permissions: readonly Permission[];
  readonly #allowed: readonly boolean[];
  /** Built on first use for long lists (Metadata of every topic), where a scan would be quadratic. */
  #index: Map<string, boolean> | undefined;

  constructor(permissions: readonly Permission[], allowed: readonly boolean[]) {
    this.#permissions = permissions;
    this.#allowed = allowed;
  }

  /** Whether the request may do `action` on the resource; false for anything not asked (fail closed). */
  allows(type: ResourceType, name: string, action: Action): boolean {
    const ps = this.#permissions;
    if (ps.length > 16) {
      if (!this.#index) {
        this.#index = new Map();
        // Any denial of a repeated pair wins (fail closed).
        ps.forEach((p, i) => this.#index!.set(`${p.type}\0${p.action}\0${p.name}`, (this.#index!.get(`${p.type}\0${p.action}\0${p.name}`) ?? true) && this.#allowed[i]!));
      }
      return this.#index.get(`${type}\0${action}\0${name}`) ?? false;
    }
    for (let i = 0; i < ps.length; i++) {
      const p = ps[i]!;
      if (p.name === name && p.type === type && p.action === action) return this.#allowed[i]!;
    }
    return false;
  }

  /** Whether anything at all was denied. */
  get anyDenied(): boolean {
    return this.#allowed.includes(false);
  }

  static readonly ALLOW_NOTHING_ASKED = new Verdict([], []);
}
