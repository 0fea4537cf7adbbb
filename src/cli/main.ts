// The `bulwark` command: run(argv, io) returns the exit code. It has no side effect on import; the
// entry points that call it are bin/bulwark.js (dist/, built) and src/cli/entry.ts (tsx, `npm start`).
import { BulwarkError } from '../lib/index.ts';
import { brokerCommand, BROKER_USAGE } from './broker-command.ts';
import { dev } from './dev.ts';
import { keysCommand } from './keys-command.ts';
import { policyCheck, policyExplain, type Output } from './policy-commands.ts';

const HELP = `bulwark: a Kafka-compatible broker whose security is declared as Kubernetes resources

Usage:
  bulwark dev [flags]                    one broker on embedded defaults: Kafka 127.0.0.1:9092, HTTP :8080
  bulwark broker [flags]                 one broker (config file, env BULWARK_*, flags)
                                         flags: ${BROKER_USAGE.slice('usage: bulwark broker '.length)}
  bulwark operator [flags]               the Kubernetes operator (--help for its flags)
  bulwark policy check DIR               validate a directory of CR YAML files
  bulwark policy explain DIR --user U --action A --resource TYPE:NAME [--host IP] [--token T]
                                         show the decision for one request and the rule behind it
  bulwark token create NAME --user USER [--cluster C] [-n NS] [--lifetime 720h | --expires-at T] [--role R]...
                                         create an AccessToken and print its token once (on stdout)
  bulwark token list [-n NS | -A] [-o json]
                                         the AccessTokens: NAME, USER, CLUSTER, EXPIRES, STATUS (never the token)
  bulwark token revoke NAME [-n NS]      delete an AccessToken: the brokers refuse the token
                                         token commands use the API server (--kubeconfig, --context), or
                                         with --policy-dir DIR the files of local mode (\`bulwark token --help\`)
  bulwark keys status (--config FILE | --data-dir DIR) [--key-dir DIR] [--active-key-id ID] [-o json]
                                         encryption at rest: the key ids the data on disk still needs,
                                         and which keys in the key directory may be retired
  bulwark help                           this text
`;

export async function run(argv: string[], io: Output): Promise<number> {
  const [command, sub, ...rest] = argv;
  try {
    switch (command) {
      case 'dev':
        return await dev(sub === undefined ? [] : [sub, ...rest], io);
      case 'broker':
        return await brokerCommand(sub === undefined ? [] : [sub, ...rest], io);
      case 'operator': {
        // Loaded only here: @kubernetes/client-node (and its undici) is the operator's alone.
        const { operatorCommand } = await import('./operator-command.ts');
        return await operatorCommand(sub === undefined ? [] : [sub, ...rest], io);
      }
      case 'token': {
        // Loaded only here, as for `operator`: it brings @kubernetes/client-node.
        const { tokenCommand } = await import('./token-command.ts');
        return await tokenCommand(sub === undefined ? [] : [sub, ...rest], io);
      }
      case 'keys':
        return keysCommand(sub === undefined ? [] : [sub, ...rest], io);
      case 'policy':
        if (sub === 'check') return await policyCheck(rest, io);
        if (sub === 'explain') return await policyExplain(rest, io);
        throw new BulwarkError('BWK_ERR_CLI_USAGE', { detail: `unknown policy command ${JSON.stringify(sub)}: expected check or explain` });
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        io.out(HELP);
        return 0;
      default:
        throw new BulwarkError('BWK_ERR_CLI_USAGE', { detail: `unknown command ${JSON.stringify(command)}; run \`bulwark help\`` });
    }
  } catch (err) {
    if (err instanceof BulwarkError) {
      io.err(`bulwark: ${err.message} [${err.code}]`);
      return 2;
    }
    if (err instanceof TypeError && (err as NodeJS.ErrnoException).code?.startsWith('ERR_PARSE_ARGS')) {
      io.err(`bulwark: ${err.message}`);
      return 2;
    }
    throw err;
  }
}
