// kafkajs against a Bulwark cluster over TLS with SCRAM-SHA-512: writes one record to a topic,
// then reads the topic from the beginning in a consumer group and prints what it reads.
//
//   KAFKA_PASSWORD=… node kafkajs.mjs <bootstrap host:port> <username> <CA file> [topic] [group]
//
// The password comes from the environment, not the command line (which `ps` shows to everyone).
// docs/clients.md gets all of it from the User's Secret.
import { readFileSync } from 'node:fs';
import { Kafka, logLevel } from 'kafkajs';

const [bootstrap, username, caFile, topic = 'orders', groupId = 'orders-kafkajs'] = process.argv.slice(2);
const password = process.env.KAFKA_PASSWORD;
if (!bootstrap || !username || !caFile || !password) {
  console.error('usage: KAFKA_PASSWORD=… node kafkajs.mjs <bootstrap host:port> <username> <CA file> [topic] [group]');
  process.exit(2);
}

const kafka = new Kafka({
  clientId: 'bulwark-example',
  brokers: [bootstrap],
  // The brokers' certificates name their DNS names: connect by name, trust the cluster's CA.
  ssl: { ca: [readFileSync(caFile, 'utf8')] },
  sasl: { mechanism: 'scram-sha-512', username, password },
  logLevel: logLevel.WARN,
});

const value = `hello from kafkajs at ${new Date().toISOString()}`;
const producer = kafka.producer();
await producer.connect();
await producer.send({ topic, messages: [{ value }] });
await producer.disconnect();
console.log(`wrote: ${value}`);

const consumer = kafka.consumer({ groupId });
await consumer.connect();
await consumer.subscribe({ topic, fromBeginning: true });
await new Promise((resolve, reject) => {
  const timer = setTimeout(() => reject(new Error(`did not read back "${value}" within 30 s`)), 30_000);
  consumer
    .run({
      eachMessage: async ({ partition, message }) => {
        const text = message.value?.toString() ?? '';
        console.log(`read: partition ${partition} offset ${message.offset}: ${text}`);
        if (text === value) {
          clearTimeout(timer);
          resolve();
        }
      },
    })
    .catch(reject);
});
await consumer.disconnect();
