// kafkajs as an application runs it, for the e2e tests: started inside a client host's network
// namespace (where the brokers' names resolve), given one JSON argument, printing one JSON line.
//   {"brokers":["host:9092"], "ca":"PEM", "sasl":{"mechanism":"scram-sha-256","username":"u","password":"p"},
//    "action":"produce"|"consume"|"group", "topic":"t", "values":["a"], "group":"g", "count":1,
//    "partitions":6, "members":3}
// produce with "partitions": value i goes to partition i % partitions.
// group: "members" consumers of one group, each its own client, consume "count" values between
// them; the answer adds "members": per member the partitions assigned and the values it read.
// Output: {"ok":true,"values":[...]} or {"ok":false,"error":"<kafkajs error type>: <message>"}.
import { Kafka, logLevel, type SASLOptions } from 'kafkajs';
import { kafkajsConsume, kafkajsProduce } from '../../test/harness/clients.ts';

interface Request {
  brokers: string[];
  ca: string;
  sasl: SASLOptions;
  action: 'produce' | 'consume' | 'group';
  topic: string;
  values?: string[];
  group?: string;
  count?: number;
  partitions?: number;
  members?: number;
}

interface MemberResult {
  partitions: number[];
  values: string[];
  /** What happened to this member, in order, with ms since the group started: for a failure's message. */
  trace: string[];
}

const client = (req: Request, id = 'bulwark-e2e', trace?: (line: string) => void) =>
  new Kafka({
    brokers: req.brokers,
    clientId: id,
    ssl: { ca: [req.ca] },
    sasl: req.sasl,
    retry: { retries: 5, initialRetryTime: 200 },
    connectionTimeout: 5_000,
    // Warnings and errors (a rejoin, a lost coordinator) go to the member's trace; nothing to stdout.
    logLevel: trace ? logLevel.WARN : logLevel.NOTHING,
    logCreator: () => ({ label, log }) => trace?.(`${label} ${log.message}${log.error ? `: ${log.error}` : ''}`),
  });

async function main(req: Request): Promise<{ values: string[]; members?: MemberResult[] }> {
  const kafka = client(req);
  if (req.action === 'produce' && req.partitions) {
    const producer = kafka.producer({ allowAutoTopicCreation: false });
    await producer.connect();
    try {
      await producer.send({ topic: req.topic, acks: -1, messages: (req.values ?? []).map((value, i) => ({ value, partition: i % req.partitions! })) });
    } finally {
      await producer.disconnect();
    }
    return { values: req.values ?? [] };
  }
  if (req.action === 'produce') {
    await kafkajsProduce(kafka, req.topic, req.values ?? []);
    return { values: req.values ?? [] };
  }
  if (req.action === 'group') return group(req);
  return { values: await kafkajsConsume(kafka, req.topic, req.group ?? 'bulwark-e2e', (seen) => seen.length >= (req.count ?? 1)) };
}

/** `members` consumers in one group, each its own client (connections), until they read `count` values between them. */
async function group(req: Request): Promise<{ values: string[]; members: MemberResult[] }> {
  const want = req.count ?? 1;
  const started = Date.now();
  const members: MemberResult[] = Array.from({ length: req.members ?? 3 }, () => ({ partitions: [], values: [], trace: [] }));
  const note = (m: MemberResult, line: string) => m.trace.length < 200 && m.trace.push(`+${Date.now() - started}ms ${line}`);
  const consumers = members.map((m, i) => client(req, `bulwark-e2e-${i}`, (line) => note(m, line)).consumer({ groupId: req.group ?? 'bulwark-e2e', sessionTimeout: 10_000, heartbeatInterval: 500, rebalanceTimeout: 10_000 }));
  let total = 0;
  let finish!: () => void;
  const done = new Promise<void>((resolve) => (finish = resolve));
  try {
    for (const [i, consumer] of consumers.entries()) {
      const m = members[i]!;
      consumer.on(consumer.events.GROUP_JOIN, (e) => {
        m.partitions = (e.payload.memberAssignment[req.topic] ?? []).slice().sort((a, b) => a - b);
        note(m, `joined as ${e.payload.memberId}${e.payload.isLeader ? ' (leader)' : ''}: partitions [${m.partitions.join(',')}] after ${e.payload.duration}ms`);
      });
      consumer.on(consumer.events.REBALANCING, () => note(m, 'rebalancing'));
      consumer.on(consumer.events.CRASH, (e) => note(m, `crashed: ${e.payload.error}`));
      note(m, 'connecting');
      await consumer.connect();
      await consumer.subscribe({ topic: req.topic, fromBeginning: true });
      void consumer.run({
        eachMessage: async ({ partition, message }) => {
          note(m, `read partition ${partition} offset ${message.offset}`);
          m.values.push(message.value?.toString() ?? '');
          if (++total >= want) finish();
        },
      });
    }
    const timeout = new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`the group read ${total} of ${want} values in 60 s: ${JSON.stringify(members.map((m) => m.trace))}`)), 60_000));
    await Promise.race([done, timeout]);
    // The values can all be in before the last rebalance settles (a member alone at first holds
    // every partition): wait until the members' last assignments split the partitions.
    const settledBy = Date.now() + 20_000;
    const split = () => {
      const all = members.flatMap((m) => m.partitions);
      return new Set(all).size === all.length && members.every((m) => m.partitions.length > 0);
    };
    while (!split() && Date.now() < settledBy) await new Promise((r) => setTimeout(r, 200));
    for (const m of members) note(m, split() ? 'assignments split' : 'assignments still overlap');
    // A copy, taken now: as the members disconnect below, those still in the group rebalance
    // again, and the last to leave is handed every partition.
    return { values: members.flatMap((m) => m.values), members: members.map((m) => ({ partitions: [...m.partitions], values: [...m.values], trace: [...m.trace] })) };
  } finally {
    await Promise.all(consumers.map((c) => c.disconnect().catch(() => undefined)));
  }
}

main(JSON.parse(process.argv[2] ?? '{}') as Request).then(
  (result) => {
    process.stdout.write(`${JSON.stringify({ ok: true, ...result })}\n`);
    process.exit(0);
  },
  (err: Error) => {
    process.stdout.write(`${JSON.stringify({ ok: false, error: `${err.name}: ${err.message}` })}\n`);
    process.exit(0);
  },
);
