// Broker limits as an operator would check them: throttles that follow the configured rates,
// per-topic quotas chosen by the most specific pattern, connection/producer/consumer caps, and
// host access lists, including the IPv4-mapped addresses Node reports on a dual-stack socket.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect, createServer, type Socket } from 'node:net';
import { describe, test } from 'node:test';
import type { Limits } from '../src/api/index.ts';
import { ConnectionLimiter, HostAccess, HostReason, LimitReason, QuotaManager, TokenBucket } from '../src/broker/limits/index.ts';
import { isBulwarkError } from '../src/lib/errors.ts';

const MIN = 60_000;

describe('TokenBucket', () => {
  test('a full burst passes unthrottled; the excess is throttled for exactly the time it takes to repay', () => {
    const b = new TokenBucket(100); // 100 per second, 1 s burst
    assert.equal(b.charge(100, 0), 0);
    assert.equal(b.charge(50, 0), 500); // 50 tokens of debt at 100/s
    assert.equal(b.charge(0, 250), 250);
    assert.equal(b.charge(0, 500), 0);
    assert.equal(b.charge(1, 500), 10);
  });

  test('the bucket refills at its rate, up to burstSeconds of it', () => {
    const b = new TokenBucket(10, 3);
    assert.equal(b.capacity, 30);
    assert.equal(b.charge(30, 0), 0);
    assert.equal(b.charge(1, 0), 100);
    assert.equal(b.available(1_000), 9); // -1 + 10
    assert.equal(b.available(60_000), 30); // never more than the burst
    assert.equal(b.charge(31, 60_000), 100);
  });

  test('the throttle is capped, but the debt is not forgiven: the average rate holds', () => {
    const b = new TokenBucket(10, 1, 30_000);
    assert.equal(b.charge(10 + 1000, 0), 30_000); // 100 s of debt, told to wait 30 s
    assert.equal(b.charge(1, 30_000), 30_000); // still 70 s owed
    assert.equal(b.charge(0, 95_000), 5_100); // 1001 - 950 = 51 tokens at 10/s
    assert.equal(b.charge(0, 100_100), 0);
  });

  test('a clock stepping backwards refills nothing and drains nothing', () => {
    const b = new TokenBucket(10);
    b.charge(10, 5_000);
    assert.equal(b.available(1_000), 0);
    assert.equal(b.available(5_500), 5);
  });

  test('a zero rate throttles every charge by the cap', () => {
    const b = new TokenBucket(0, 1, 7_000);
    assert.equal(b.charge(1, 0), 7_000);
    assert.equal(b.charge(1, 3_600_000), 7_000);
  });

  test('nonsense parameters are refused', () => {
    assert.throws(() => new TokenBucket(-1), RangeError);
    assert.throws(() => new TokenBucket(Number.NaN), RangeError);
    assert.throws(() => new TokenBucket(1, 0), RangeError);
  });
});

describe('QuotaManager', () => {
  test('a user whose Limits set no rates is never throttled and costs no state', () => {
    const q = new QuotaManager();
    const limits: Limits = { maxConnections: 5 };
    for (let i = 0; i < 10_000; i++) {
      assert.equal(q.chargeRequest('alice', limits, 0), 0);
      assert.equal(q.chargeProduce('alice', limits, 'orders', 1 << 20, 0), 0);
      assert.equal(q.chargeFetch('alice', limits, 'orders', 1 << 20, 0), 0);
    }
    assert.deepEqual(q.size, { users: 0, topics: 0 });
  });

  test('requests, produced bytes and fetched bytes are separate per-user rates', () => {
    const q = new QuotaManager();
    const limits: Limits = { requestsPerSecond: 10, produceBytesPerSecond: 1000, fetchBytesPerSecond: 4000 };
    for (let i = 0; i < 10; i++) assert.equal(q.chargeRequest('alice', limits, 0), 0);
    assert.equal(q.chargeRequest('alice', limits, 0), 100);
    assert.equal(q.chargeRequest('bob', limits, 0), 0, 'bob has his own buckets');
    assert.equal(q.chargeProduce('alice', limits, 'orders', 1500, 0), 500);
    assert.equal(q.chargeFetch('alice', limits, 'orders', 4000, 0), 0);
    assert.equal(q.chargeFetch('alice', limits, 'orders', 2000, 0), 500);
  });

  test('a rate left out is unlimited even when the others are set', () => {
    const q = new QuotaManager();
    const limits: Limits = { produceBytesPerSecond: 100 };
    assert.equal(q.chargeFetch('alice', limits, 't', 1e9, 0), 0);
    assert.equal(q.chargeRequest('alice', limits, 0), 0);
    assert.equal(q.chargeProduce('alice', limits, 't', 200, 0), 1000);
  });

  test('topic quotas: the most specific pattern wins, and a topic bucket is shared by every user', () => {
    const q = new QuotaManager({
      topics: [
        { topic: '*', produceBytesPerSecond: 1_000_000 },
        { topic: 'orders-*', produceBytesPerSecond: 1000, fetchBytesPerSecond: 5000 },
        { topic: 'orders-eu-*', produceBytesPerSecond: 500 },
        { topic: 'orders-eu-west', produceBytesPerSecond: 100 },
      ],
    });
    assert.deepEqual(q.topicRates('orders-eu-west'), { produce: 100, fetch: undefined });
    assert.deepEqual(q.topicRates('orders-eu-north'), { produce: 500, fetch: undefined });
    assert.deepEqual(q.topicRates('orders-us'), { produce: 1000, fetch: 5000 });
    assert.deepEqual(q.topicRates('logs'), { produce: 1_000_000, fetch: undefined });

    const none: Limits = {};
    assert.equal(q.chargeProduce('alice', none, 'orders-us', 1000, 0), 0);
    assert.equal(q.chargeProduce('bob', none, 'orders-us', 500, 0), 500, 'bob pays for what alice used of the topic');
    assert.equal(q.chargeProduce('bob', none, 'orders-ca', 500, 0), 0, 'each topic has its own bucket');
    assert.equal(q.chargeProduce('bob', none, 'orders-eu-west', 200, 0), 1000);
    assert.equal(q.chargeFetch('bob', none, 'orders-eu-west', 1e9, 0), 0, 'no fetch rate on the most specific pattern');
  });

  test('without a matching pattern or a `*`, a topic has no quota', () => {
    const q = new QuotaManager({ topics: [{ topic: 'orders', fetchBytesPerSecond: 10 }] });
    assert.equal(q.topicRates('orders-2'), undefined);
    assert.equal(q.chargeFetch('alice', {}, 'orders-2', 1e6, 0), 0);
    assert.equal(q.chargeFetch('alice', {}, 'orders', 20, 0), 1000);
  });

  test('the throttle is the largest of the user and topic buckets', () => {
    const q = new QuotaManager({ topics: [{ topic: 'orders', produceBytesPerSecond: 1000 }] });
    const limits: Limits = { produceBytesPerSecond: 100 };
    assert.equal(q.chargeProduce('alice', limits, 'orders', 300, 0), 2000); // user: 200 over at 100/s; topic: within
    assert.equal(q.chargeProduce('bob', {}, 'orders', 1000, 0), 300); // topic: 300 over at 1000/s
  });

  test('a policy swap that keeps the rates keeps the debt; one that changes them rebuilds the buckets', () => {
    const q = new QuotaManager();
    const v1: Limits = { requestsPerSecond: 1 };
    q.chargeRequest('alice', v1, 0);
    assert.equal(q.chargeRequest('alice', v1, 0), 1000);
    const v2: Limits = { requestsPerSecond: 1, maxConnections: 3 }; // new snapshot, same rate
    assert.equal(q.chargeRequest('alice', v2, 0), 2000, 'no fresh burst from a swap');
    const v3: Limits = { requestsPerSecond: 100 };
    assert.equal(q.chargeRequest('alice', v3, 0), 0, 'new rate, new bucket');
    for (let i = 0; i < 99; i++) q.chargeRequest('alice', v3, 0);
    assert.equal(q.chargeRequest('alice', v3, 0), 10, 'the new bucket has the new rate');
    assert.equal(q.chargeRequest('alice', {}, 0), 0, 'rate removed: unlimited');
  });

  test('buckets unused for 5 minutes are dropped once they have refilled; memory has a hard cap', () => {
    const q = new QuotaManager({ maxThrottleMs: 1000 });
    const slow: Limits = { requestsPerSecond: 1 };
    const fast: Limits = { requestsPerSecond: 1000 };
    for (let i = 0; i < 1000; i++) q.chargeRequest('indebted', slow, 0); // ~1000 s of debt
    q.chargeRequest('quiet', fast, 0);
    assert.equal(q.size.users, 2);
    q.chargeRequest('other', fast, 6 * MIN);
    assert.equal(q.size.users, 2, 'quiet went; the indebted one stays until it has repaid');
    assert.equal(q.chargeRequest('indebted', slow, 6 * MIN), 1000, 'and still owes');
    q.chargeRequest('other', fast, 6 * MIN + 1_000_000);
    q.chargeRequest('another', fast, 6 * MIN + 1_000_000);
    assert.equal(q.size.users, 2, 'other and another: indebted repaid and went');

    const capped = new QuotaManager({ maxEntries: 50 });
    for (let i = 0; i < 10_000; i++) capped.chargeRequest(`user-${i}`, fast, i);
    assert.equal(capped.size.users, 50);
  });

  test('bad quota configuration fails at start-up with a coded error naming the key', () => {
    const bad = (topics: unknown) => () => new QuotaManager({ topics: topics as never });
    assert.throws(bad([{ topic: 'orders', produceBytesPerSecond: -1 }]), (e) => isBulwarkError(e, 'BWK_ERR_CONFIG_INVALID') && /quotas\.topics\.0\.produceBytesPerSecond/.test(e.message));
    assert.throws(bad([{ topic: 'or*ders' }]), (e) => isBulwarkError(e, 'BWK_ERR_CONFIG_INVALID') && /quotas\.topics\.0\.topic/.test(e.message));
    assert.throws(bad([{ topic: 'a' }, { topic: 'a' }]), (e) => isBulwarkError(e, 'BWK_ERR_CONFIG_INVALID') && /once/.test(e.message));
    assert.throws(bad([{ topic: 'a', produceBytesPerSecnd: 1 }]), (e) => isBulwarkError(e, 'BWK_ERR_CONFIG_INVALID'));
  });
});

describe('ConnectionLimiter', () => {
  test('broker-wide and per-address caps at accept time; a closed connection frees its place', () => {
    const c = new ConnectionLimiter({ maxConnections: 3, maxConnectionsPerIp: 2 });
    assert.deepEqual(c.admit(1, '10.0.0.1'), { ok: true });
    assert.deepEqual(c.admit(2, '::ffff:10.0.0.1'), { ok: true });
    assert.deepEqual(c.admit(3, '10.0.0.1'), { ok: false, reason: LimitReason.TooManyConnectionsFromIp }, 'the IPv4-mapped form is the same address');
    assert.deepEqual(c.admit(4, '10.0.0.2'), { ok: true });
    assert.deepEqual(c.admit(5, '10.0.0.3'), { ok: false, reason: LimitReason.TooManyConnections });
    c.release(1);
    c.release(1); // closing twice is harmless
    assert.deepEqual(c.admit(6, '10.0.0.1'), { ok: true });
    for (const id of [2, 4, 6]) c.release(id);
    assert.deepEqual(c.counts(), { connections: 0, addresses: 0, userConnections: 0, producers: 0, consumers: 0 });
  });

  test("a user's maxConnections is checked when the connection authenticates", () => {
    const c = new ConnectionLimiter();
    const limits: Limits = { maxConnections: 2 };
    for (const id of ['a', 'b', 'c']) c.admit(id, '10.0.0.1');
    assert.deepEqual(c.bindUser('a', 'alice', limits), { ok: true });
    assert.deepEqual(c.bindUser('b', 'alice', limits), { ok: true });
    assert.deepEqual(c.bindUser('b', 'alice', limits), { ok: true }, 're-authentication as the same user is free');
    assert.deepEqual(c.bindUser('c', 'alice', limits), { ok: false, reason: LimitReason.TooManyUserConnections });
    assert.deepEqual(c.bindUser('c', 'bob', limits), { ok: true }, 'other users are counted apart');
    c.release('a');
    assert.deepEqual(c.bindUser('c', 'alice', limits), { ok: true }, 'moving c from bob to alice');
    assert.equal(c.counts('alice').userConnections, 2);
    assert.equal(c.counts('bob').userConnections, 0);
    assert.deepEqual(c.bindUser('never-admitted', 'alice', {}), { ok: false, reason: LimitReason.TooManyUserConnections }, 'fail closed');
  });

  test('a limit of 0 refuses every connection of that user; no limit allows any number', () => {
    const c = new ConnectionLimiter();
    c.admit(1, '10.0.0.1');
    assert.equal(c.bindUser(1, 'locked', { maxConnections: 0 }).ok, false);
    for (let i = 2; i < 1000; i++) {
      c.admit(i, '10.0.0.1');
      assert.equal(c.bindUser(i, 'free', {}).ok, true);
    }
  });

  test('a connection counts as one producer from its first Produce until it closes', () => {
    const c = new ConnectionLimiter();
    const conn1 = {};
    const conn2 = {};
    c.admit(conn1, '10.0.0.1');
    c.admit(conn2, '10.0.0.2');
    assert.deepEqual(c.claimProducer(conn1, 'alice', 1), { ok: true });
    assert.deepEqual(c.claimProducer(conn1, 'alice', 1), { ok: true }, 'every later Produce on the same connection');
    assert.deepEqual(c.claimProducer(conn2, 'alice', 1), { ok: false, reason: LimitReason.TooManyProducers });
    c.release(conn1);
    assert.deepEqual(c.claimProducer(conn2, 'alice', 1), { ok: true });
    assert.equal(c.counts('alice').producers, 1);
    c.release(conn2);
    assert.equal(c.counts('alice').producers, 0);
  });

  test('consumer-group members are counted per user until they leave', () => {
    const c = new ConnectionLimiter();
    assert.deepEqual(c.claimConsumer('orders/m-1', 'alice', 2), { ok: true });
    assert.deepEqual(c.claimConsumer('orders/m-2', 'alice', 2), { ok: true });
    assert.deepEqual(c.claimConsumer('orders/m-1', 'alice', 2), { ok: true }, 'a member rejoining is not a new consumer');
    assert.deepEqual(c.claimConsumer('billing/m-3', 'alice', 2), { ok: false, reason: LimitReason.TooManyConsumers });
    assert.deepEqual(c.claimConsumer('billing/m-3', 'bob', undefined), { ok: true });
    c.releaseConsumer('orders/m-1');
    c.releaseConsumer('orders/m-1');
    assert.deepEqual(c.claimConsumer('billing/m-4', 'alice', 2), { ok: true });
    assert.equal(c.counts('alice').consumers, 2);
  });

  test('the reasons are stable names', () => {
    assert.deepEqual(Object.values(LimitReason).sort(), ['TooManyConnections', 'TooManyConnectionsFromIp', 'TooManyConsumers', 'TooManyProducers', 'TooManyUserConnections']);
  });
});

describe('HostAccess', () => {
  const hosts = new HostAccess();

  test("a listener's allowedCidrs: left out allows all, empty allows none", () => {
    const cidrs = ['10.0.0.0/8', '2001:db8::/32'];
    assert.deepEqual(hosts.admitListener(cidrs, '10.1.2.3'), { ok: true });
    assert.deepEqual(hosts.admitListener(cidrs, '::ffff:10.1.2.3'), { ok: true });
    assert.deepEqual(hosts.admitListener(cidrs, '2001:db8::7'), { ok: true });
    assert.deepEqual(hosts.admitListener(cidrs, '192.168.0.1'), { ok: false, reason: HostReason.HostNotAllowedByListener });
    assert.deepEqual(hosts.admitListener(cidrs, '::ffff:192.168.0.1'), { ok: false, reason: HostReason.HostNotAllowedByListener });
    assert.deepEqual(hosts.admitListener(undefined, '192.168.0.1'), { ok: true });
    assert.equal(hosts.admitListener([], '10.1.2.3').ok, false);
    assert.equal(hosts.admitListener(undefined, undefined).ok, false, 'no address: refused');
  });

  test("a user's hosts: empty or left out allows every host", () => {
    assert.deepEqual(hosts.admitUser([], '203.0.113.9'), { ok: true });
    assert.deepEqual(hosts.admitUser(undefined, '203.0.113.9'), { ok: true });
    assert.deepEqual(hosts.admitUser(['192.168.1.0/24', '10.0.0.5'], '192.168.1.77'), { ok: true });
    assert.deepEqual(hosts.admitUser(['192.168.1.0/24', '10.0.0.5'], '::ffff:10.0.0.5'), { ok: true });
    assert.deepEqual(hosts.admitUser(['192.168.1.0/24', '10.0.0.5'], '10.0.0.6'), { ok: false, reason: HostReason.HostNotAllowedForUser });
    assert.equal(hosts.admitUser(['192.168.1.0/24'], 'not-an-address').ok, false);
  });

  test('a list with an entry that is not an address matches nothing (fail closed)', () => {
    assert.equal(hosts.admitUser(['10.0.0.0/8', 'example.com'], '10.0.0.1').ok, false);
    assert.equal(hosts.admitListener(['10.0.0.0/33'], '10.0.0.1').ok, false);
  });

  test('on a real dual-stack socket, an IPv4 client matches IPv4 rules and is counted as one address', async (t) => {
    const server = createServer();
    try {
      server.listen(0, '::');
      await once(server, 'listening');
    } catch {
      return t.skip('no IPv6 on this machine');
    }
    const limiter = new ConnectionLimiter({ maxConnectionsPerIp: 1 });
    const seen: { address: string | undefined; listener: boolean; admitted: boolean }[] = [];
    let id = 0;
    server.on('connection', (socket: Socket) => {
      const address = socket.remoteAddress;
      const admitted = limiter.admit(++id, address ?? '').ok;
      seen.push({ address, listener: hosts.admitListener(['127.0.0.0/8'], address).ok, admitted });
    });
    const port = (server.address() as { port: number }).port;
    const clients = [connect(port, '127.0.0.1'), connect(port, '127.0.0.1')];
    await Promise.all(clients.map((c) => once(c, 'connect')));
    while (seen.length < 2) await new Promise((r) => setTimeout(r, 5));
    clients.forEach((c) => c.destroy());
    server.close();
    assert.equal(seen[0]!.address, '::ffff:127.0.0.1', 'Node reports the IPv4-mapped form');
    assert.deepEqual(
      seen.map((s) => [s.listener, s.admitted]),
      [
        [true, true],
        [true, false],
      ],
    );
  });
});
