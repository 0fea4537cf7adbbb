// The Helm chart (helm/bulwark) against the real helm v4 (scripts/helm-build.sh) and kubectl's
// kustomize (scripts/controlplane-build.sh): it lints, it renders exactly the objects of
// manifests/overlays (so the two installs cannot drift apart), and its values reach the operator's
// Deployment or are refused by values.schema.json. No cluster needed: e2e/helm.test.ts installs it.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parse, parseAllDocuments } from 'yaml';
import { ensureBinaries, repoRoot, runCommand } from './harness/controlplane.ts';
import { CHART_DIR, ensureHelm, helm } from '../tools/helm/helm.ts';

interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  [field: string]: unknown;
}

/** Labels Helm's conventions add to the chart's objects (metadata.labels only); manifests/ has none of them. */
const HELM_ONLY_LABELS = ['helm.sh/chart', 'app.kubernetes.io/instance', 'app.kubernetes.io/managed-by', 'app.kubernetes.io/version'];
const RELEASE_NAMESPACE = 'bulwark-system';

const objectKey = (o: KubeObject) => `${o.kind} ${o.metadata.namespace ? `${o.metadata.namespace}/` : ''}${o.metadata.name}`;

function parseObjects(text: string): KubeObject[] {
  return parseAllDocuments(text)
    .map((d) => d.toJS() as KubeObject | null)
    .filter((o): o is KubeObject => o !== null && typeof o === 'object');
}

function byKey(objects: KubeObject[]): Map<string, KubeObject> {
  const m = new Map<string, KubeObject>();
  for (const o of objects) {
    assert.ok(!m.has(objectKey(o)), `${objectKey(o)} rendered twice`);
    m.set(objectKey(o), o);
  }
  return m;
}

function withoutHelmLabels(o: KubeObject): KubeObject {
  const copy = structuredClone(o);
  for (const l of HELM_ONLY_LABELS) delete copy.metadata.labels?.[l];
  return copy;
}

/** Every path at which `a` and `b` differ, with both values: `spec.template.spec.containers[0].args: chart [...] manifests [...]`. */
function differences(a: unknown, b: unknown, path = ''): string[] {
  if (Array.isArray(a) && Array.isArray(b)) {
    if (a.length !== b.length) return [`${path}: chart has ${a.length} items ${JSON.stringify(a)}, manifests ${b.length} ${JSON.stringify(b)}`];
    return a.flatMap((x, i) => differences(x, b[i], `${path}[${i}]`));
  }
  if (a && b && typeof a === 'object' && typeof b === 'object' && !Array.isArray(a) && !Array.isArray(b)) {
    const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
    return keys.flatMap((k) => differences((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], path ? `${path}.${k}` : k));
  }
  return Object.is(a, b) ? [] : [`${path}: chart ${JSON.stringify(a)}, manifests ${JSON.stringify(b)}`];
}

/** Asserts the chart's objects equal the overlay's (Helm's own labels aside), naming each object and field that differs. */
function assertSameObjects(chart: KubeObject[], manifests: KubeObject[]): void {
  const c = byKey(chart.map(withoutHelmLabels));
  const m = byKey(manifests);
  const problems: string[] = [];
  for (const k of m.keys()) if (!c.has(k)) problems.push(`${k}: in manifests, not rendered by the chart`);
  for (const k of c.keys()) if (!m.has(k)) problems.push(`${k}: rendered by the chart, not in manifests`);
  for (const [k, o] of c) {
    const other = m.get(k);
    if (other) problems.push(...differences(o, other).map((d) => `${k}: ${d}`));
  }
  assert.deepEqual(problems, [], `helm/bulwark and manifests/ differ:\n  ${problems.join('\n  ')}`);
}

async function kustomize(dir: string): Promise<KubeObject[]> {
  const { kubectl } = await ensureBinaries();
  const r = await runCommand(kubectl, ['kustomize', join(repoRoot, dir)]);
  assert.equal(r.code, 0, `kubectl kustomize ${dir}: ${r.stderr}`);
  return parseObjects(r.stdout);
}

/** `helm template` of the chart into the release namespace, the objects parsed; fails the test on a non-zero exit. */
async function render(args: string[] = []): Promise<KubeObject[]> {
  const r = await helm(['template', 'bulwark', CHART_DIR, '-n', RELEASE_NAMESPACE, ...args]);
  assert.equal(r.code, 0, `helm template ${args.join(' ')}: ${r.stderr}`);
  return parseObjects(r.stdout);
}

function operatorDeployment(objects: KubeObject[]): any {
  const d = objects.find((o) => o.kind === 'Deployment' && o.metadata.name === 'bulwark-operator');
  assert.ok(d, 'the chart renders the Deployment bulwark-operator');
  return d;
}

let scratch: string;
before(async () => {
  await ensureHelm(); // a cold build takes minutes: once, before the tests' own timeouts run
  scratch = await mkdtemp(join(tmpdir(), 'bulwark-helm-test-'));
});
after(async () => {
  if (scratch) await rm(scratch, { recursive: true, force: true });
});

describe('helm lint --strict', () => {
  test('passes with the default values', async () => {
    const r = await helm(['lint', '--strict', CHART_DIR]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /1 chart\(s\) linted, 0 chart\(s\) failed/);
  });

  test('passes when the operator serves named namespaces in cert-manager mode', async () => {
    const r = await helm(['lint', '--strict', CHART_DIR, '--set', 'watch.namespaces={team-a,team-b}', '--set', 'certManager.enabled=true']);
    assert.equal(r.code, 0, r.stdout + r.stderr);
  });

  test('fails on a value the schema refuses', async () => {
    const r = await helm(['lint', '--strict', CHART_DIR, '--set', 'replicas=-1']);
    assert.notEqual(r.code, 0);
    assert.match(r.stdout + r.stderr, /replicas/);
  });
});

describe('every value is documented', () => {
  type SchemaNode = { properties?: Record<string, SchemaNode> };
  const schema = JSON.parse(readFileSync(join(CHART_DIR, 'values.schema.json'), 'utf8')) as SchemaNode;
  /** The keys of a values table: the backquoted names of its rows' first cell (`a`, `b` and `c` in one row counts three). */
  const tableKeys = (text: string) => new Set([...text.matchAll(/^\| (`[^|]+) \|/gm)].flatMap((m) => [...m[1]!.matchAll(/`([^`]+)`/g)].map((k) => k[1]!)));
  /** The schema's values as a table names them: a group (image, watch, ...) by its members when the table names any member, else by itself. */
  const schemaKeys = (documented: Set<string>) =>
    Object.entries(schema.properties!)
      .filter(([key]) => key !== 'global')
      .flatMap(([key, node]) => (node.properties && [...documented].some((d) => d.startsWith(`${key}.`)) ? Object.keys(node.properties).map((child) => `${key}.${child}`) : [key]))
      .sort();
  const pages: [string, () => string][] = [
    ['docs/helm.md (its Values section)', () => readFileSync(join(repoRoot, 'docs', 'helm.md'), 'utf8').split('\n## Values\n')[1]!.split('\n## ')[0]!],
    ['the chart README', () => readFileSync(join(CHART_DIR, 'README.md'), 'utf8')],
  ];
  for (const [page, text] of pages) {
    test(`${page} has a row for every value values.schema.json allows, and none for another`, () => {
      const documented = tableKeys(text());
      assert.deepEqual([...documented].sort(), schemaKeys(documented));
    });
  }
});

describe('helm package: the chart archive users install or push to a registry', () => {
  test('bulwark-<version>.tgz holds the chart, its CRDs, schema, README and NOTES, nothing ignored, and renders as the directory does', async () => {
    const version = (parse(readFileSync(join(CHART_DIR, 'Chart.yaml'), 'utf8')) as { version: string }).version;
    const r = await helm(['package', CHART_DIR, '--destination', scratch]);
    assert.equal(r.code, 0, r.stderr);
    const archive = join(scratch, `bulwark-${version}.tgz`);
    const listed = await runCommand('tar', ['-tzf', archive]);
    const files = listed.stdout.split('\n').filter(Boolean).sort();
    for (const f of ['Chart.yaml', 'values.yaml', 'values.schema.json', 'README.md', 'templates/NOTES.txt', 'templates/deployment.yaml', ...readdirSync(join(CHART_DIR, 'crds')).map((f) => `crds/${f}`)]) {
      assert.ok(files.includes(`bulwark/${f}`), `bulwark/${f} in ${archive}: ${files.join(', ')}`);
    }
    assert.deepEqual(files.filter((f) => !f.startsWith('bulwark/')), [], 'every file under the chart name');
    assert.equal(files.filter((f) => /\.(swp|bak|tmp|orig)$|~$/.test(f)).length, 0);
    const lint = await helm(['lint', '--strict', archive]);
    assert.equal(lint.code, 0, lint.stdout + lint.stderr);
    const fromArchive = await helm(['template', 'bulwark', archive, '-n', RELEASE_NAMESPACE, '--include-crds']);
    const fromDir = await helm(['template', 'bulwark', CHART_DIR, '-n', RELEASE_NAMESPACE, '--include-crds']);
    assert.equal(fromArchive.code, 0, fromArchive.stderr);
    assert.equal(fromArchive.stdout, fromDir.stdout);
  });
});

describe('the chart renders what manifests/ installs', () => {
  test('Chart.yaml: appVersion is the package version, so the default image tag is this release', () => {
    const chart = parse(readFileSync(join(CHART_DIR, 'Chart.yaml'), 'utf8'));
    const pkg = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8'));
    assert.equal(chart.apiVersion, 'v2');
    assert.equal(chart.appVersion, pkg.version);
  });

  test('default values: the objects of overlays/cluster-wide, CRDs included, without the Namespace (the release namespace is not the chart\'s)', async () => {
    const manifests = (await kustomize('manifests/overlays/cluster-wide')).filter((o) => o.kind !== 'Namespace');
    assertSameObjects(await render(['--include-crds']), manifests);
  });

  test('watch.namespaces={bulwark-apps}: the objects of overlays/namespaced, without either Namespace', async () => {
    const manifests = (await kustomize('manifests/overlays/namespaced')).filter((o) => o.kind !== 'Namespace');
    assertSameObjects(await render(['--include-crds', '--set', 'watch.namespaces={bulwark-apps}']), manifests);
  });

  test('another release namespace: every namespaced object and every RoleBinding subject is there', async () => {
    const objects = await render(['-n', 'ops', '--set', 'watch.namespaces={bulwark-apps}']);
    for (const o of objects) {
      if (['ServiceAccount', 'Deployment', 'Service', 'Role'].includes(o.kind) || o.metadata.name === 'bulwark-operator-self') assert.equal(o.metadata.namespace, 'ops', objectKey(o));
      for (const s of (o.subjects as { namespace: string }[] | undefined) ?? []) assert.equal(s.namespace, 'ops', `${objectKey(o)}: subject`);
    }
    assert.equal(objects.filter((o) => o.kind === 'RoleBinding' && o.metadata.namespace === 'bulwark-apps').length, 2);
  });

  test('Helm\'s labels are on the objects, never in a selector or the pod template (an upgrade must not change them)', async () => {
    const objects = await render();
    for (const o of objects) assert.equal(o.metadata.labels?.['app.kubernetes.io/instance'], 'bulwark', objectKey(o));
    const d = operatorDeployment(objects);
    assert.deepEqual(d.spec.selector.matchLabels, { 'app.kubernetes.io/name': 'bulwark', 'app.kubernetes.io/component': 'operator' });
    assert.deepEqual(d.spec.template.metadata.labels, d.spec.selector.matchLabels);
    const svc = objects.find((o) => o.kind === 'Service') as any;
    assert.deepEqual(svc.spec.selector, d.spec.selector.matchLabels);
  });
});

describe('values reach the operator', () => {
  test('image, tag, pull policy, resources, cert-manager mode, metrics port and extra environment', async () => {
    const values = join(scratch, 'values.yaml');
    await writeFile(
      values,
      [
        'image: {repository: registry.example.com/streaming/bulwark, tag: "0.1.0-rc.1", pullPolicy: Always}',
        'resources: {requests: {cpu: 200m, memory: 256Mi}, limits: {memory: 1Gi}}',
        'certManager: {enabled: true}',
        'metrics: {port: 9090}',
        'extraEnv: [{name: HTTPS_PROXY, value: "http://proxy:3128"}]',
        'nodeSelector: {kubernetes.io/os: linux}',
        'replicas: 3',
      ].join('\n'),
    );
    const objects = await render(['-f', values]);
    const d = operatorDeployment(objects);
    const c = d.spec.template.spec.containers[0];
    assert.equal(d.spec.replicas, 3);
    assert.equal(c.image, 'registry.example.com/streaming/bulwark:0.1.0-rc.1');
    assert.equal(c.imagePullPolicy, 'Always');
    assert.deepEqual(c.resources, { requests: { cpu: '200m', memory: '256Mi' }, limits: { memory: '1Gi' } });
    assert.deepEqual(c.args, ['operator', '--metrics-port', '9090', '--cert-manager']);
    assert.deepEqual(c.ports, [{ name: 'metrics', containerPort: 9090 }]);
    assert.deepEqual(c.env.map((e: { name: string }) => e.name), ['POD_NAME', 'HTTPS_PROXY']);
    assert.deepEqual(d.spec.template.spec.nodeSelector, { 'kubernetes.io/os': 'linux' });
    const svc = objects.find((o) => o.kind === 'Service') as any;
    assert.equal(svc.spec.ports[0].port, 9090);
  });

  test('image.digest: the image is pulled by digest, whatever the tag', async () => {
    const digest = `sha256:${'0123456789abcdef'.repeat(4)}`;
    const c = operatorDeployment(await render(['--set', 'image.repository=r.example/bulwark', '--set', 'image.tag=0.2.0', '--set', `image.digest=${digest}`])).spec.template.spec.containers[0];
    assert.equal(c.image, `r.example/bulwark@${digest}`);
  });

  test('image.tag left empty: the chart\'s appVersion', async () => {
    const c = operatorDeployment(await render(['--set', 'image.repository=r.example/bulwark'])).spec.template.spec.containers[0];
    assert.equal(c.image, 'r.example/bulwark:0.1.0');
  });

  test('two namespaces served: a RoleBinding pair in each, --namespaces=a,b, no ClusterRoleBinding and no Namespace created', async () => {
    const objects = await render(['--set', 'watch.namespaces={team-a,team-b}']);
    assert.deepEqual(
      objects.filter((o) => o.kind === 'RoleBinding' && o.metadata.name !== 'bulwark-operator-self').map((o) => `${o.metadata.namespace}/${o.metadata.name}->${(o.roleRef as { name: string }).name}`),
      ['team-a/bulwark-operator->bulwark-operator', 'team-a/bulwark-operator-namespaced->bulwark-operator-namespaced', 'team-b/bulwark-operator->bulwark-operator', 'team-b/bulwark-operator-namespaced->bulwark-operator-namespaced'],
    );
    assert.equal(objects.filter((o) => o.kind === 'ClusterRoleBinding' || o.kind === 'Namespace').length, 0);
    assert.deepEqual(operatorDeployment(objects).spec.template.spec.containers[0].args, ['operator', '--metrics-port', '8080', '--namespaces=team-a,team-b']);
  });
});

describe('values.schema.json refuses bad values before anything is rendered', () => {
  const refused: [string, string[], RegExp][] = [
    ['a negative replica count', ['--set', 'replicas=-1'], /replicas/],
    ['a namespace that is not a DNS label', ['--set', 'watch.namespaces={Bad_NS}'], /watch\/namespaces/],
    ['an unknown pull policy', ['--set', 'image.pullPolicy=Sometimes'], /pullPolicy/],
    ['a digest that is not sha256:<64 hex>', ['--set', 'image.digest=sha256:abc'], /image\/digest/],
    ['cert-manager mode given as text', ['--set-string', 'certManager.enabled=yes'], /certManager\/enabled/],
    ['a privileged metrics port', ['--set', 'metrics.port=80'], /metrics\/port/],
    ['a resource quantity that is not one', ['--set', 'resources.limits.memory=lots'], /resources\/limits\/memory/],
    ['a misspelt key', ['--set', 'replica=3'], /replica/],
    ['an env var with both value and valueFrom', ['--set', 'extraEnv[0].name=A', '--set', 'extraEnv[0].value=x', '--set', 'extraEnv[0].valueFrom.secretKeyRef.name=s'], /extraEnv/],
  ];
  for (const [what, args, field] of refused) {
    test(what, async () => {
      const r = await helm(['template', 'bulwark', CHART_DIR, '-n', RELEASE_NAMESPACE, ...args]);
      assert.notEqual(r.code, 0, `helm template ${args.join(' ')} was accepted`);
      assert.match(r.stderr, /values don't meet the specifications of the schema|at '\//, r.stderr);
      assert.match(r.stderr, field);
    });
  }
});
