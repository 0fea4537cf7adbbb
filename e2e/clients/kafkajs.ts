// kafkajs as an application runs it, for the e2e tests: started inside a client host's network
// namespace (where the brokers' names resolve), given one JSON argument, printing one JSON line.
//   {"brokers":["host:9092"], "ca":"PEM", "sasl":{"mechanism":"scram-sha-256","username":"u","password":"p"},
//    "action":"produce"|"consume", "topic":"t", "values":["a"], "group":"g", "count":1}
// Output: {"ok":true,"values":[...]} or {"ok":false,"error":"<kafkajs error type>: <message>"}.
import { Kafka, logLevel, type SASLOptions } from 'kafkajs';
import { kafkajsConsume, kafkajsProduce } from '../../test/harness/clients.ts';

interface Request {
  brokers: string[];
  ca: string;
  sasl: SASLOptions;
  action: 'produce' | 'consume';
  topic: string;
  values?: string[];
  group?: string;
  count?: number;
}

async function main(req: Request): Promise<string[]> {
  const kafka = new Kafka({ brokers: req.brokers, clientId: 'bulwark-e2e', ssl: { ca: [req.ca] }, sasl: req.sasl, logLevel: logLevel.NOTHING, retry: { retries: 2, initialRetryTime: 200 }, connectionTimeout: 5_000 });
  if (req.action === 'produce') {
    await kafkajsProduce(kafka, req.topic, req.values ?? []);
    return req.values ?? [];
  }
  return kafkajsConsume(kafka, req.topic, req.group ?? 'bulwark-e2e', (seen) => seen.length >= (req.count ?? 1));
}

main(JSON.parse(process.argv[2] ?? '{}') as Request).then(
  (values) => {
    process.stdout.write(`${JSON.stringify({ ok: true, values })}\n`);
    process.exit(0);
  },
  (err: Error) => {
    process.stdout.write(`${JSON.stringify({ ok: false, error: `${err.name}: ${err.message}` })}\n`);
    process.exit(0);
  },
);
