// Leader election on a coordination.k8s.io/v1 Lease, as client-go does it, so that two replicas
// never both act:
// - every write carries the Lease's resourceVersion (optimistic concurrency): of two replicas
//   racing for it, one gets 409 Conflict and stays standby;
// - a standby takes the Lease only when its holder has not renewed it for leaseDuration, timed
//   on this replica's own clock from when it saw the renewal (no trust in other clocks), or
//   at once when the holder released it (empty holderIdentity);
// - the leader renews every renewInterval; if it has not renewed for renewDeadline (shorter
//   than leaseDuration) it stops acting, before anyone else could take over;
// - a clean shutdown releases the Lease, so a standby takes over at its next poll.
import type { Clock, Logger, TimerHandle } from '../../lib/index.ts';
import { KINDS, kindPath } from '../kinds.ts';
import { isConflict, isNotFound, type KubeClient } from './kube-client.ts';

export interface LeaderElectionOptions {
  client: KubeClient;
  namespace: string;
  name: string;
  identity: string;
  clock: Clock;
  log: Logger;
  /** How long a Lease holds without renewal (default 15 s). */
  leaseDurationMs?: number;
  /** The leader stops acting when it has not renewed for this long (default 10 s; < leaseDuration). */
  renewDeadlineMs?: number;
  /** The leader renews this often (default 2 s). */
  renewIntervalMs?: number;
  /** A standby looks at the Lease this often (default 500 ms). */
  retryPeriodMs?: number;
  onStartedLeading(): void;
  /** Must stop all acting (it may finish what is in flight). */
  onStoppedLeading(): void;
}

interface LeaseSpec {
  holderIdentity?: string | null;
  leaseDurationSeconds?: number;
  acquireTime?: string | null;
  renewTime?: string | null;
  leaseTransitions?: number;
}
interface Lease {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace: string; resourceVersion?: string };
  spec?: LeaseSpec;
}

/** metav1.MicroTime. */
function microTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

export class LeaderElector {
  readonly #o: Required<Omit<LeaderElectionOptions, 'onStartedLeading' | 'onStoppedLeading'>> & Pick<LeaderElectionOptions, 'onStartedLeading' | 'onStoppedLeading'>;
  #leader = false;
  #stopped = false;
  #timer: TimerHandle | undefined;
  #deadline: TimerHandle | undefined;
  #lastRenew = 0;
  /** The holder's last renewal as this replica saw it: resourceVersion and local time of seeing it. */
  #observed: { resourceVersion: string; at: number } | undefined;
  #lease: Lease | undefined;
  #tick: Promise<void> = Promise.resolve();

  constructor(opts: LeaderElectionOptions) {
    const o = { leaseDurationMs: 15_000, renewDeadlineMs: 10_000, renewIntervalMs: 2_000, retryPeriodMs: 500, ...opts };
    if (!(o.renewDeadlineMs < o.leaseDurationMs)) throw new Error('leader election: renewDeadline must be shorter than leaseDuration');
    if (!(o.renewIntervalMs < o.renewDeadlineMs)) throw new Error('leader election: renewInterval must be shorter than renewDeadline');
    this.#o = o;
  }

  get isLeader(): boolean {
    return this.#leader;
  }

  get #path(): string {
    return kindPath(KINDS.lease, this.#o.namespace, this.#o.name);
  }

  start(): void {
    this.#schedule(0);
  }

  #schedule(ms: number): void {
    if (this.#stopped) return;
    this.#timer = this.#o.clock.setTimeout(() => {
      this.#tick = this.#attempt().finally(() => this.#schedule(this.#leader ? this.#o.renewIntervalMs : this.#o.retryPeriodMs));
    }, ms);
  }

  async #attempt(): Promise<void> {
    try {
      const lease = await this.#get();
      const now = this.#o.clock.now();
      if (!lease) return await this.#create(now);
      const spec = lease.spec ?? {};
      const holder = spec.holderIdentity ?? '';
      if (holder === this.#o.identity) return await this.#write(lease, now, false);
      const seen = this.#observed;
      const observed = seen && seen.resourceVersion === lease.metadata.resourceVersion ? seen : { resourceVersion: lease.metadata.resourceVersion ?? '', at: now };
      this.#observed = observed;
      if (this.#leader) this.#lose('the Lease is held by another replica');
      const durationMs = (spec.leaseDurationSeconds ?? 0) * 1000;
      if (holder !== '' && now < observed.at + durationMs) return;
      await this.#write(lease, now, true);
    } catch (err) {
      if (isConflict(err)) return; // Someone else wrote first: look again next time.
      this.#o.log.warn({ err, lease: `${this.#o.namespace}/${this.#o.name}` }, 'leader election: could not read or write the Lease');
    }
  }

  async #get(): Promise<Lease | undefined> {
    try {
      return await this.#o.client.request<Lease>('GET', this.#path, { signal: AbortSignal.timeout(this.#o.renewIntervalMs) });
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  #spec(now: number, acquireTime: string, transitions: number): LeaseSpec {
    return { holderIdentity: this.#o.identity, leaseDurationSeconds: Math.ceil(this.#o.leaseDurationMs / 1000), acquireTime, renewTime: microTime(now), leaseTransitions: transitions };
  }

  async #create(now: number): Promise<void> {
    const body: Lease = { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: this.#o.name, namespace: this.#o.namespace }, spec: this.#spec(now, microTime(now), 0) };
    this.#lease = await this.#o.client.request<Lease>('POST', kindPath(KINDS.lease, this.#o.namespace), { body, signal: AbortSignal.timeout(this.#o.renewIntervalMs) });
    this.#renewed(now);
  }

  async #write(lease: Lease, now: number, takeOver: boolean): Promise<void> {
    const spec = lease.spec ?? {};
    const transitions = (spec.leaseTransitions ?? 0) + (takeOver ? 1 : 0);
    const acquireTime = takeOver || !spec.acquireTime ? microTime(now) : spec.acquireTime;
    const body: Lease = { ...lease, spec: this.#spec(now, acquireTime, transitions) };
    this.#lease = await this.#o.client.request<Lease>('PUT', this.#path, { body, signal: AbortSignal.timeout(this.#o.renewIntervalMs) });
    if (takeOver) this.#o.log.info({ lease: `${this.#o.namespace}/${this.#o.name}`, previous: spec.holderIdentity || undefined, transitions }, 'leader election: took the Lease');
    this.#renewed(now);
  }

  #renewed(at: number): void {
    if (this.#stopped) return;
    this.#lastRenew = at;
    if (this.#deadline) this.#o.clock.clearTimeout(this.#deadline);
    this.#deadline = this.#o.clock.setTimeout(() => this.#lose(`not renewed for ${this.#o.renewDeadlineMs} ms`), this.#o.renewDeadlineMs);
    if (!this.#leader) {
      this.#leader = true;
      this.#o.onStartedLeading();
    }
  }

  #lose(why: string): void {
    if (this.#deadline) this.#o.clock.clearTimeout(this.#deadline);
    this.#deadline = undefined;
    if (!this.#leader) return;
    this.#leader = false;
    this.#o.log.warn({ lease: `${this.#o.namespace}/${this.#o.name}`, lastRenewMs: this.#lastRenew }, `leader election: stopped leading: ${why}`);
    this.#o.onStoppedLeading();
  }

  /** Stops electing; a leader stops acting, then releases the Lease so another replica takes over at once. */
  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer) this.#o.clock.clearTimeout(this.#timer);
    await this.#tick;
    if (!this.#leader) return;
    this.#lose('shutting down');
    try {
      const lease = await this.#get();
      if (lease?.spec?.holderIdentity !== this.#o.identity) return;
      const body: Lease = { ...lease, spec: { ...lease.spec, holderIdentity: null, acquireTime: null, renewTime: null, leaseDurationSeconds: 1 } };
      await this.#o.client.request('PUT', this.#path, { body, signal: AbortSignal.timeout(2_000) });
      this.#o.log.info({ lease: `${this.#o.namespace}/${this.#o.name}` }, 'leader election: released the Lease');
    } catch (err) {
      this.#o.log.warn({ err }, 'leader election: could not release the Lease; another replica takes over when it expires');
    }
  }
}
