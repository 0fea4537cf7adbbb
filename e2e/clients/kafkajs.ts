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
}

const client = (req: Request, id = 'bulwark-e2e') =>
  new Kafka({ brokers: req.brokers, clientId: id, ssl: { ca: [req.ca] }, sasl: req.sasl, logLevel: logLevel.NOTHING, retry: { retries: 5, initialRetryTime: 200 }, connectionTimeout: 5_000 });

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
  const members: MemberResult[] = [];
  const consumers = Array.from({ length: req.members ?? 3 }, (_, i) => client(req, `bulwark-e2e-${i}`).consumer({ groupId: req.group ?? 'bulwark-e2e', sessionTimeout: 10_000, heartbeatInterval: 500, rebalanceTimeout: 10_000 }));
  let total = 0;
  let finish!: () => void;
  const done = new Promise<void>((resolve) => (finish = resolve));
  try {
    for (const consumer of consumers) {
      const m: MemberResult = { partitions: [], values: [] };
      members.push(m);
      consumer.on(consumer.events.GROUP_JOIN, (e) => {
        m.partitions = (e.payload.memberAssignment[req.topic] ?? []).slice().sort((a, b) => a - b);
      });
      await consumer.connect();
      await consumer.subscribe({ topic: req.topic, fromBeginning: true });
      void consumer.run({
        eachMessage: async ({ message }) => {
          m.values.push(message.value?.toString() ?? '');
          if (++total >= want) finish();
        },
      });
    }
    const timeout = new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`the group read ${total} of ${want} values in 60 s`)), 60_000));
    await Promise.race([done, timeout]);
    // The values can all be in before the last rebalance settles (a member alone at first holds
    // every partition): wait until the members' last assignments split the partitions.
    const settledBy = Date.now() + 20_000;
    const split = () => {
      const all = members.flatMap((m) => m.partitions);
      return new Set(all).size === all.length && members.every((m) => m.partitions.length > 0);
    };
    while (!split() && Date.now() < settledBy) await new Promise((r) => setTimeout(r, 200));
    return { values: members.flatMap((m) => m.values), members };
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
