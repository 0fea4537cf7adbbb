// `bulwark dev`: one broker on embedded defaults, for trying Bulwark on a laptop: data in
// ./.bulwark/dev, Kafka on 127.0.0.1:9092, HTTP on 127.0.0.1:8080, topics created on first use.
// It prints commands to copy. Authentication arrives with the next issue: until then the
// listeners are plaintext and anonymous. It also checks examples/policy/, which the next issue
// makes it enforce.
import { join } from 'node:path';
import { loadBrokerConfig } from '../broker/config.ts';
import { loadPolicyDirectory } from '../policy/index.ts';
import { brokerFlags, runBroker } from './broker-command.ts';
import { formatProblem, type Output } from './policy-commands.ts';

export const EXAMPLES_POLICY_DIR = join(import.meta.dirname, '..', '..', 'examples', 'policy');

export async function dev(argv: string[], io: Output): Promise<number> {
  const { file, overrides } = brokerFlags(argv);
  const { snapshot, problems } = await loadPolicyDirectory(EXAMPLES_POLICY_DIR);
  for (const p of problems) (p.severity === 'error' ? io.err : io.out)(formatProblem(p));
  const config = loadBrokerConfig({
    ...(file ? { file } : {}),
    env: { BULWARK_DATA_DIR: '.bulwark/dev', BULWARK_TOPICS_AUTO_CREATE: 'true', ...process.env },
    overrides,
  });
  return runBroker(config, io, (broker) => {
    const kafka = `${config.kafka.host}:${broker.kafkaPort}`;
    const http = `http://${config.http.host}:${broker.httpPort}`;
    return [
      `bulwark dev: Kafka on ${kafka}, HTTP on ${http}, data in ${config.dataDir} (plaintext, anonymous: authentication arrives with the next release)`,
      `  example policy ${snapshot.cluster.namespace}/${snapshot.cluster.name}: ${snapshot.users.length} users, ${snapshot.tokens.length} tokens, ${snapshot.rules.length} rules (${snapshot.hash.slice(0, 19)}…)`,
      '',
      'Try:',
      `  echo "hello" | kcat -b ${kafka} -P -t demo`,
      `  kcat -b ${kafka} -C -t demo -o beginning -e`,
      `  curl -s -X POST ${http}/v1/topics/demo/records -H 'content-type: application/json' -d '{"records":[{"key":"k","value":"hi"}]}'`,
      `  curl -s '${http}/v1/topics/demo/partitions/0/records?offset=0'`,
      `  curl -s ${http}/metrics | grep bulwark_produced`,
      `  npx bulwark policy explain examples/policy --user dana@example.com --action read --resource topic:orders-pii-eu`,
      '',
      'Stop with Ctrl-C.',
    ];
  });
}
