// `bulwark policy check DIR` and `bulwark policy explain DIR ...`: the policy engine, offline.
import { parseArgs } from 'node:util';
import { ACTIONS, RESOURCE_TYPES, type Action, type ResourceType } from '../api/index.ts';
import { checkBrokerCluster } from '../config/index.ts';
import { BulwarkError, isBulwarkError } from '../lib/index.ts';
import { buildAuthorizer, compilePolicyDirectory, loadPolicyDirectory, locate, readPolicyDirectory, type Decision, type LocatedError, type SnapshotRule } from '../policy/index.ts';

export interface Output {
  out: (line: string) => void;
  err: (line: string) => void;
}

export function formatProblem(p: LocatedError): string {
  const where = p.document > 0 ? `${p.file} (document ${p.document})` : p.file;
  return `${p.severity}: ${where}: ${p.path ? `${p.path}: ` : ''}${p.message}`;
}

function sortProblems(problems: LocatedError[]): LocatedError[] {
  return [...problems].sort((a, b) => (a.file < b.file ? -1 : a.file > b.file ? 1 : a.document - b.document || (a.path < b.path ? -1 : a.path > b.path ? 1 : 0)));
}

/** Validates a policy directory. Exit code 1 when anything is an error, warnings alone pass. */
export async function policyCheck(argv: string[], io: Output): Promise<number> {
  const { values, positionals } = parseArgs({ args: argv, allowPositionals: true, options: { cluster: { type: 'string' } } });
  const dir = positionals[0];
  if (!dir || positionals.length > 1) throw new BulwarkError('BWK_ERR_CLI_USAGE', { detail: 'usage: bulwark policy check DIR [--cluster NAME]' });
  const directory = await readPolicyDirectory(dir);
  const report = (problems: LocatedError[]) => {
    const sorted = sortProblems(problems);
    for (const p of sorted) (p.severity === 'error' ? io.err : io.out)(formatProblem(p));
    const errors = sorted.filter((p) => p.severity === 'error').length;
    return { errors, warnings: sorted.length - errors };
  };
  let loaded;
  try {
    loaded = await compilePolicyDirectory(directory, dir, values.cluster ? { cluster: values.cluster } : {});
  } catch (err) {
    // No cluster to compile for (often because the file that declares it is broken): still show every file's errors.
    if (!isBulwarkError(err, 'BWK_ERR_POLICY_CLUSTER_AMBIGUOUS')) throw err;
    const { errors, warnings } = report(directory.problems);
    io.err(`policy check failed: ${dir}: ${err.message}; ${errors} error(s), ${warnings} warning(s) in the files`);
    return 1;
  }
  const { snapshot, problems, brokerCluster } = loaded;
  // The broker runs the BrokerCluster through the same rendering: what it would refuse is an error here.
  if (brokerCluster) {
    const at = locate(directory, dir, 'BrokerCluster', brokerCluster.metadata.namespace, brokerCluster.metadata.name);
    for (const e of checkBrokerCluster(brokerCluster)) problems.push({ severity: 'error', ...at, path: e.path, message: e.message, kind: 'BrokerCluster' });
  }
  const { errors, warnings } = report(problems);
  const summary = `${snapshot.cluster.namespace}/${snapshot.cluster.name}: ${snapshot.users.length} users, ${snapshot.tokens.length} tokens, ${snapshot.rules.length} rules, ${errors} error(s), ${warnings} warning(s); snapshot ${snapshot.hash}`;
  if (errors > 0) {
    io.err(`policy check failed: ${summary}`);
    return 1;
  }
  io.out(`policy OK: ${summary}`);
  return 0;
}

export function parseResourceArgument(text: string): { type: ResourceType; name: string } {
  const i = text.indexOf(':');
  const type = text.slice(0, i) as ResourceType;
  const name = text.slice(i + 1);
  if (i <= 0 || !RESOURCE_TYPES.includes(type) || (name === '' && type !== 'cluster'))
    throw new BulwarkError('BWK_ERR_RESOURCE_ARGUMENT_INVALID', { value: text, types: RESOURCE_TYPES.join(', ') });
  return { type, name: type === 'cluster' && name === '' ? 'kafka-cluster' : name };
}

export function describeRule(rule: SnapshotRule): string {
  const hosts = rule.hosts.length > 0 ? ` from ${rule.hosts.join(', ')}` : '';
  return `${rule.source}: ${rule.effect} ${rule.subject} ${rule.actions.join(',')} on ${rule.resourceType}:${rule.pattern}${hosts}`;
}

export function describeDecision(d: Decision): string {
  const verdict = d.allowed ? 'ALLOWED' : 'DENIED';
  return d.rule ? `${verdict} (${d.reason}) by ${describeRule(d.rule)}` : `${verdict} (${d.reason})`;
}

/** Prints the decision for one request, and the rule that decided it. Exit 0 when allowed, 3 when denied. */
export async function policyExplain(argv: string[], io: Output): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      user: { type: 'string' },
      action: { type: 'string' },
      resource: { type: 'string' },
      host: { type: 'string' },
      token: { type: 'string' },
      cluster: { type: 'string' },
    },
  });
  const usage = 'usage: bulwark policy explain DIR --user USER --action ACTION --resource TYPE:NAME [--host IP] [--token ACCESSTOKEN] [--cluster NAME]';
  const dir = positionals[0];
  if (!dir || !values.user || !values.action || !values.resource) throw new BulwarkError('BWK_ERR_CLI_USAGE', { detail: usage });
  if (!ACTIONS.includes(values.action as Action)) throw new BulwarkError('BWK_ERR_CLI_USAGE', { detail: `unknown action ${JSON.stringify(values.action)}: expected one of ${ACTIONS.join(', ')}` });
  const resource = parseResourceArgument(values.resource);
  const { snapshot, problems } = await loadPolicyDirectory(dir, values.cluster ? { cluster: values.cluster } : {});
  const errors = problems.filter((p) => p.severity === 'error');
  if (errors.length > 0) io.err(`note: the directory has ${errors.length} error(s); run \`bulwark policy check ${dir}\`. Explaining what compiled.`);
  const authorizer = buildAuthorizer(snapshot);
  const decision = authorizer.authorize({
    principal: { user: values.user, ...(values.token ? { tokenId: values.token } : {}) },
    action: values.action as Action,
    resource,
    ...(values.host ? { host: values.host } : {}),
  });
  io.out(`${values.user} ${values.action} ${resource.type}:${resource.name}${values.host ? ` from ${values.host}` : ''}: ${describeDecision(decision)}`);
  return decision.allowed ? 0 : 3;
}
