// `bulwark dev`: Bulwark on embedded defaults. For now it compiles examples/policy/ with the
// policy engine and prints what it loaded; the broker issues make it serve Kafka and HTTP.
import { join } from 'node:path';
import { loadPolicyDirectory } from '../policy/index.ts';
import { formatProblem, type Output } from './policy-commands.ts';

export const EXAMPLES_POLICY_DIR = join(import.meta.dirname, '..', '..', 'examples', 'policy');

export async function dev(argv: string[], io: Output): Promise<number> {
  const dir = argv[0] ?? EXAMPLES_POLICY_DIR;
  const { snapshot, problems } = await loadPolicyDirectory(dir);
  for (const p of problems) (p.severity === 'error' ? io.err : io.out)(formatProblem(p));
  io.out(`bulwark dev: policy for ${snapshot.cluster.namespace}/${snapshot.cluster.name} from ${dir}`);
  io.out(`  snapshot ${snapshot.hash} (version ${snapshot.version})`);
  io.out(`  super users: ${snapshot.settings.superUsers.join(', ') || '(none)'}`);
  for (const u of snapshot.users) {
    const groups = u.groups.length > 0 ? ` groups=${u.groups.join(',')}` : '';
    io.out(`  user ${u.name} (${u.authentication})${groups}${u.disabled ? ' DISABLED' : ''}`);
  }
  for (const t of snapshot.tokens) io.out(`  token ${t.id} for ${t.user}, expires ${t.expiresAt ?? 'never'}${t.scoped ? ', scoped' : ''}`);
  io.out(`  ${snapshot.rules.length} rules`);
  io.out('Try: npx bulwark policy explain examples/policy --user dana@example.com --action read --resource topic:orders-eu');
  io.out('The broker (Kafka on 127.0.0.1:9092, HTTP on 127.0.0.1:8080) arrives with the broker issues.');
  return problems.some((p) => p.severity === 'error') ? 1 : 0;
}
