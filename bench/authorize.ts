// Authorizer benchmark: decisions per second and ns per decision at 10, 1,000, 10,000 and
// 100,000 grants, and the time to compile that many grants.
//
// Three scenarios per size:
// - spread-hot: grants spread over users (10 each), literal and prefix topics, as a real
//   cluster; requests come from 64 principals, as from a broker's active connections;
// - spread-cold: the same policy, requests from 4,096 principals in turn, so nearly every
//   decision reads memory no cache holds: this measures memory latency as much as the index;
// - worst-prefix: every grant held by one user, all prefix patterns sharing a 200-character
//   stem with the topic asked about, plus every prefix of that topic name. The asked action is
//   not granted, so each decision looks at every matching prefix and still finds nothing;
// - worst-prefix-diverging: the same, asking about a name that leaves the stem halfway.
// Beside them, in the same run: the cost of one Map.get (the machine's floor for a lookup),
// and a naive scan of every rule (what the index saves).
//
// `npm run bench:authorize` writes bench/results/authorize.json.
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { API_GROUP_VERSION, type Action, type BulwarkResource, type TopicGrant } from '../src/api/index.ts';
import { buildAuthorizer, compilePolicy, matchesPattern, parsePattern, type AuthorizeRequest, type PolicySnapshot } from '../src/policy/index.ts';

const SIZES = [10, 1_000, 10_000, 100_000];
const NS = 'bench';
const CLUSTER = 'c';
const STEM = `tenant-0042.region-eu-west-1.${'x'.repeat(170)}`; // 200 characters

const meta = (name: string) => ({ name, namespace: NS });
const topicGrant = (name: string, subject: string, topic: string, actions: Action[]): TopicGrant => ({
  apiVersion: API_GROUP_VERSION,
  kind: 'TopicGrant',
  metadata: meta(name),
  spec: { clusterRef: { name: CLUSTER }, subjects: [{ kind: 'User', name: subject }], topics: [topic], actions, effect: 'Allow' },
});
const tlsUser = (name: string): BulwarkResource => ({
  apiVersion: API_GROUP_VERSION,
  kind: 'User',
  metadata: meta(name),
  spec: { clusterRef: { name: CLUSTER }, authentication: { type: 'tls' } },
});

function spread(n: number, principals: number): { resources: BulwarkResource[]; requests: AuthorizeRequest[] } {
  const users = Math.max(1, Math.floor(n / 10));
  const resources: BulwarkResource[] = Array.from({ length: users }, (_, u) => tlsUser(`user-${u}`));
  for (let i = 0; i < n; i++) {
    const topic = i % 2 === 0 ? `team-${i % 97}.orders-${i}` : `team-${i % 97}.events-${i}-*`;
    resources.push(topicGrant(`g-${i}`, `user-${i % users}`, topic, i % 3 === 0 ? ['write'] : ['read']));
  }
  const requests = Array.from({ length: 4096 }, (_, k) => {
    const i = ((k % principals) * 7919) % n;
    const name = i % 2 === 0 ? `team-${i % 97}.orders-${i}` : `team-${i % 97}.events-${i}-eu`;
    return { principal: { user: `user-${i % users}` }, action: (k % 3 === 0 ? 'read' : 'describe') as Action, resource: { type: 'topic' as const, name } };
  });
  return { resources, requests };
}

function worstPrefix(n: number, diverge = false): { resources: BulwarkResource[]; requests: AuthorizeRequest[] } {
  const topic = `${STEM}.orders`.slice(0, 249);
  // Diverging: the asked name follows the stem for 150 characters, then leaves it.
  const asked = diverge ? `${topic.slice(0, 150)}-elsewhere` : topic;
  const resources: BulwarkResource[] = [tlsUser('victim')];
  // Every prefix of the topic name: the radix path has an entry at every step.
  const nested = Math.min(n, topic.length - 1);
  for (let i = 0; i < nested; i++) resources.push(topicGrant(`nested-${i}`, 'victim', `${topic.slice(0, i + 1)}*`, ['write']));
  // The rest share the long stem, then diverge.
  for (let i = nested; i < n; i++) resources.push(topicGrant(`sibling-${i}`, 'victim', `${STEM}.q${i}-*`, ['write']));
  const requests = Array.from({ length: 4096 }, () => ({ principal: { user: 'victim' }, action: 'read' as Action, resource: { type: 'topic' as const, name: asked } }));
  return { resources, requests };
}

function timeDecisions(authorize: (r: AuthorizeRequest) => { allowed: boolean }, requests: AuthorizeRequest[], minMs = 400): { nsPerDecision: number; allowed: number } {
  const mask = requests.length - 1;
  let allowed = 0;
  const warmUntil = performance.now() + minMs / 4; // warm up the JIT, bounded in time for slow cases
  for (let i = 0; i < 50_000 && performance.now() < warmUntil; i++) if (authorize(requests[i & mask]!).allowed) allowed++;
  let iterations = 0;
  const batch = 1_000;
  const start = process.hrtime.bigint();
  let elapsed = 0n;
  do {
    for (let i = 0; i < batch; i++) if (authorize(requests[(iterations + i) & mask]!).allowed) allowed++;
    iterations += batch;
    elapsed = process.hrtime.bigint() - start;
  } while (elapsed < BigInt(minMs) * 1_000_000n);
  return { nsPerDecision: Number(elapsed) / iterations, allowed };
}

/** The naive alternative: scan every rule of the snapshot for each decision. */
function naiveAuthorizer(snapshot: PolicySnapshot) {
  const rules = snapshot.rules.map((r) => ({ ...r, p: parsePattern(r.pattern) }));
  return (req: AuthorizeRequest) => {
    let allowed = false;
    for (const r of rules) {
      if (r.subject !== `User:${req.principal.user}` || !matchesPattern(r.p, req.resource.name)) continue;
      if (r.effect === 'Deny' && r.actions.includes(req.action)) return { allowed: false };
      if (r.effect === 'Allow' && r.actions.includes(req.action)) allowed = true;
    }
    return { allowed };
  };
}

/** One Map.get in a 100,000-entry map through the same harness, with 64 or 4,096 distinct keys. */
function mapGetFloor(distinct: number): number {
  const m = new Map(Array.from({ length: 100_000 }, (_, i) => [`team-${i % 97}.orders-${i}`, i]));
  const keys = Array.from({ length: 4096 }, (_, k) => `team-${(((k % distinct) * 7919) % 100_000) % 97}.orders-${((k % distinct) * 7919) % 100_000}`);
  const r = timeDecisions((req) => ({ allowed: m.get(req.resource.name) !== undefined }), keys.map((name) => ({ principal: { user: '' }, action: 'read', resource: { type: 'topic', name } })));
  return r.nsPerDecision;
}

interface CaseResult {
  case: string;
  grants: number;
  rules: number;
  nsPerDecision: number;
  decisionsPerSecond: number;
  compileMs: number;
  buildIndexMs: number;
  naiveNsPerDecision?: number;
}

const results: CaseResult[] = [];
const floorHot = mapGetFloor(64);
const floorCold = mapGetFloor(4096);
console.log(`Map.get floor: ${floorHot.toFixed(1)} ns hot, ${floorCold.toFixed(1)} ns cold`);
const scenarios = [
  ['spread-hot', (n: number) => spread(n, 64)],
  ['spread-cold', (n: number) => spread(n, 4096)],
  ['worst-prefix', (n: number) => worstPrefix(n)],
  ['worst-prefix-diverging', (n: number) => worstPrefix(n, true)],
] as const;
for (const [name, scenario] of scenarios) {
  for (const n of SIZES) {
    const { resources, requests } = scenario(n);
    const t0 = performance.now();
    const { snapshot } = compilePolicy({ cluster: { namespace: NS, name: CLUSTER }, resources });
    const t1 = performance.now();
    const authz = buildAuthorizer(snapshot);
    const t2 = performance.now();
    const { nsPerDecision } = timeDecisions(authz.authorize, requests);
    const naive = n <= 10_000 ? timeDecisions(naiveAuthorizer(snapshot), requests, 200).nsPerDecision : undefined;
    const r: CaseResult = {
      case: name,
      grants: n,
      rules: snapshot.rules.length,
      nsPerDecision: round(nsPerDecision),
      decisionsPerSecond: Math.round(1e9 / nsPerDecision),
      compileMs: round(t1 - t0),
      buildIndexMs: round(t2 - t1),
      ...(naive !== undefined ? { naiveNsPerDecision: round(naive) } : {}),
    };
    results.push(r);
    console.log(
      `${name.padEnd(22)} ${String(n).padStart(7)} grants: ${r.nsPerDecision.toFixed(0).padStart(5)} ns/decision (${(r.decisionsPerSecond / 1e6).toFixed(2)} M/s), compile ${r.compileMs} ms + index ${r.buildIndexMs} ms` +
        (naive !== undefined ? `, naive scan ${round(naive)} ns` : ''),
    );
  }
}

function round(x: number): number {
  return Math.round(x * 10) / 10;
}

const at = (c: string, n: number) => results.find((r) => r.case === c && r.grants === n)!;
const names = scenarios.map(([name]) => name);
const summary = {
  /** ns per decision at 100,000 grants over ns at 10: 1.0 is perfectly flat. */
  flatness: Object.fromEntries(names.map((c) => [c, round(at(c, 100_000).nsPerDecision / at(c, 10).nsPerDecision)])),
  /** ns per decision at 100,000 grants over one Map.get with the same locality. */
  ratioToMapGetAt100k: Object.fromEntries(names.map((c) => [c, round(at(c, 100_000).nsPerDecision / (c === 'spread-cold' ? floorCold : floorHot))])),
  targets: {
    under1usAt100k: Object.fromEntries(names.map((c) => [c, at(c, 100_000).nsPerDecision < 1000])),
    compile100kUnder2s: Object.fromEntries(names.map((c) => [c, at(c, 100_000).compileMs + at(c, 100_000).buildIndexMs < 2000])),
  },
};
console.log(JSON.stringify(summary));
const out = join(import.meta.dirname, 'results', 'authorize.json');
mkdirSync(join(import.meta.dirname, 'results'), { recursive: true });
writeFileSync(
  out,
  `${JSON.stringify({ benchmark: 'authorize', date: new Date().toISOString(), machine: { cpus: cpus().length, cpu: cpus()[0]?.model, node: process.version }, mapGetFloorNs: { hot: round(floorHot), cold: round(floorCold) }, cases: results, ...summary }, null, 2)}\n`,
);
console.log(`wrote ${out}`);
