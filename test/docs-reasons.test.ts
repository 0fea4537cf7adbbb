// docs/troubleshooting.md, "By condition reason": every reason the operator can write into a
// resource's conditions has a row there, and every row names a reason that exists.
//
// The reasons come from the code itself: the reason constant objects, imported; the compiler's
// DIAGNOSTIC_REASONS; and a short list of literals. A scan of src/operator/** fails when a reason
// object or a literal reason appears that this file does not know, so a new reason cannot slip
// past undocumented.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, test } from 'node:test';
import { AccessTokenEventReason, AccessTokenReason } from '../src/operator/accesstoken/reconciler.ts';
import { BrokerClusterEventReason } from '../src/operator/brokercluster/reconciler.ts';
import { AuthorizationOpenReason, BrokerClusterReason } from '../src/operator/brokercluster/status.ts';
import { CertificateEventReason } from '../src/operator/certificates/builtin.ts';
import { CertificateWaitReason, CertManagerEventReason } from '../src/operator/certificates/cert-manager.ts';
import { IssueReason } from '../src/operator/certificates/plan.ts';
import { OPERATOR_FORBIDDEN } from '../src/operator/controller/runner.ts';
import { MemberReason } from '../src/operator/policy/member-status.ts';
import { TopicEventReason } from '../src/operator/topic/reconciler.ts';
import { TopicReason } from '../src/operator/topic/status.ts';
import { UserCertificateReason, UserCertificateWaitReason } from '../src/operator/user/client-certificate.ts';
import { UserEventReason, UserReason } from '../src/operator/user/reconciler.ts';
import { DIAGNOSTIC_REASONS } from '../src/policy/compile.ts';

const root = join(import.meta.dirname, '..');
const read = (path: string) => readFileSync(join(root, path), 'utf8');

/** Every `export const <Name>Reason = {…}` of src/operator, by what its values become. */
const REASON_OBJECTS = {
  /** Written into Ready/Reconciling/Stalled (or AuthorizationOpen). */
  condition: { BrokerClusterReason, AuthorizationOpenReason, MemberReason, UserReason, UserCertificateReason, AccessTokenReason, TopicReason },
  /** Named in a condition's message, not its reason: documented in the row of the reason they explain. */
  wait: { CertificateWaitReason, UserCertificateWaitReason },
  /** Event reasons (docs/operator.md "Events", or the section's own Events table). */
  event: { BrokerClusterEventReason, CertificateEventReason, CertManagerEventReason, UserEventReason, AccessTokenEventReason, TopicEventReason },
  /** Why a certificate is (re)issued: in the CertificateIssued/CertificateRenewed Events' messages. */
  issue: { IssueReason },
} as const;

/** Condition reasons written as literals or single constants, where the code writes them. */
const LITERAL_REASONS: Record<string, string> = {
  Reconciled: 'src/operator/status/conditions.ts (applyDecision: Reconciling and Stalled when Ready)',
  Progressing: 'src/operator/status/conditions.ts (applyDecision: Stalled while Reconciling)',
  InvalidSpec: 'src/operator/policy/member.ts (parseMember: a User, Role, AccessToken or TopicGrant that does not parse)',
};
const CONSTANT_REASONS: Record<string, string> = { OPERATOR_FORBIDDEN };

const valuesOf = (objects: Record<string, Record<string, string>>) => Object.values(objects).flatMap((o) => Object.values(o));
const conditionReasons = new Set([...valuesOf(REASON_OBJECTS.condition), ...DIAGNOSTIC_REASONS, ...Object.keys(LITERAL_REASONS), ...Object.values(CONSTANT_REASONS)]);
const waitReasons = new Set(valuesOf(REASON_OBJECTS.wait));
const eventReasons = new Set([...valuesOf(REASON_OBJECTS.event), OPERATOR_FORBIDDEN, BrokerClusterReason.ScaleDownBlocked]);
const knownObjects = new Set(Object.values(REASON_OBJECTS).flatMap((group) => Object.keys(group)));

/** The text of a `## heading` up to the next `## `. */
function section(doc: string, heading: string): string {
  const start = doc.indexOf(`\n## ${heading}\n`);
  assert.ok(start >= 0, `the page has a "## ${heading}" section`);
  const end = doc.indexOf('\n## ', start + 1);
  return doc.slice(start, end < 0 ? undefined : end);
}

/** The backquoted words of each table row's first cell (header rows included: they hold no backquotes). */
function firstCells(text: string): Set<string> {
  const out = new Set<string>();
  for (const line of text.split('\n')) {
    const cell = /^\|([^|]*)\|/.exec(line)?.[1];
    if (cell) for (const m of cell.matchAll(/`([^`]+)`/g)) out.add(m[1]!);
  }
  return out;
}

const troubleshooting = read('docs/troubleshooting.md');
const byReason = section(troubleshooting, 'By condition reason');
const rowReasons = firstCells(byReason);

/** src/operator/**\/*.ts */
function operatorSources(dir = join(root, 'src', 'operator')): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? operatorSources(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : []));
}

interface Scan {
  /** `export const XReason = {` declarations, with their file. */
  objects: { name: string; file: string }[];
  /** CamelCase string literals in the value of a `reason:` property. */
  literals: { value: string; file: string; line: number }[];
  /** `Something.Member` references in a `reason:` value whose object is a *Reason. */
  references: { object: string; file: string; line: number }[];
  /** ALL_CAPS constants given as a `reason:` value. */
  constants: { name: string; file: string; line: number }[];
}

function scanOperator(): Scan {
  const scan: Scan = { objects: [], literals: [], references: [], constants: [] };
  for (const path of operatorSources()) {
    const file = relative(root, path);
    const lines = readFileSync(path, 'utf8').split('\n');
    lines.forEach((text, i) => {
      const line = i + 1;
      for (const m of text.matchAll(/export const (\w*Reason)\s*=\s*\{/g)) scan.objects.push({ name: m[1]!, file });
      // Each `reason: <value>` up to the next property (`message:`) or the end of the line: a
      // ternary such as `reason: d.stalled ? d.reason : 'Reconciled'` is read whole.
      for (const m of text.matchAll(/\breason:\s*/g)) {
        const rest = text.slice(m.index! + m[0].length);
        const value = rest.split(/,\s*message:|\bmessage:/)[0]!;
        for (const lit of value.matchAll(/'([A-Z][A-Za-z]+)'/g)) scan.literals.push({ value: lit[1]!, file, line });
        for (const ref of value.matchAll(/\b([A-Z]\w*Reason)\.\w+/g)) scan.references.push({ object: ref[1]!, file, line });
        const bare = /^([A-Z][A-Z0-9_]+)\b/.exec(value);
        if (bare) scan.constants.push({ name: bare[1]!, file, line });
      }
      // An Event reason given as a literal: emit(obj, 'Warning', 'Something', …).
      for (const m of text.matchAll(/\.emit\([^,]+,\s*'(?:Normal|Warning)'\s*,\s*'([A-Za-z]+)'/g)) scan.literals.push({ value: m[1]!, file, line });
    });
  }
  return scan;
}

describe('docs/troubleshooting.md, "By condition reason"', () => {
  test('every reason the operator can write into a condition has a row (first cell) in the section', () => {
    const missing = [...conditionReasons].filter((r) => !rowReasons.has(r)).sort();
    assert.deepEqual(missing, [], `condition reasons with no row in "By condition reason": ${missing.join(', ')}`);
  });

  test('every kind has its own table', () => {
    const missing = ['Every kind', 'BrokerCluster', 'User', 'Role', 'AccessToken', 'TopicGrant', 'Topic', 'Policy compiler reasons'].filter((k) => !byReason.includes(`\n### ${k}\n`));
    assert.deepEqual(missing, []);
  });

  test('the wait reasons that a condition message stands for (cert-manager, the user certificate) are named in the section', () => {
    const missing = [...waitReasons].filter((r) => !byReason.includes(`\`${r}\``)).sort();
    assert.deepEqual(missing, []);
  });

  test('no row names a reason the code does not have (a renamed or removed reason is caught)', () => {
    const known = new Set([...conditionReasons, ...eventReasons]);
    const unknown = [...rowReasons].filter((r) => !known.has(r)).sort();
    assert.deepEqual(unknown, [], `rows naming no reason of the code: ${unknown.join(', ')}`);
  });

  test('every Event reason is documented: in docs/operator.md "Events" or in the section\'s Events table', () => {
    const operatorEvents = firstCells(section(read('docs/operator.md'), 'Events'));
    const events = firstCells(byReason.slice(byReason.indexOf('\n### Events\n')));
    const missing = [...eventReasons].filter((r) => !operatorEvents.has(r) && !events.has(r)).sort();
    assert.deepEqual(missing, []);
    const issue = Object.values(IssueReason).filter((r) => !events.has(r) && !byReason.includes(`\`${r}\``));
    assert.deepEqual(issue, [], 'the reasons a certificate is issued for, named where the CertificateIssued Event is');
  });
});

describe('the operator\'s source holds no condition reason this test does not know', () => {
  const scan = scanOperator();

  test('the scan reads the code (it finds the reason objects and literals the lists above name)', () => {
    const found = new Set(scan.objects.map((o) => o.name));
    assert.deepEqual([...knownObjects].filter((n) => !found.has(n)).sort(), [], 'every imported reason object is declared in src/operator');
    const literals = new Set(scan.literals.map((l) => l.value));
    assert.deepEqual(Object.keys(LITERAL_REASONS).filter((r) => !literals.has(r)).sort(), [], 'every listed literal is still written somewhere');
    const constants = new Set(scan.constants.map((c) => c.name));
    assert.deepEqual(Object.keys(CONSTANT_REASONS).filter((c) => !constants.has(c)), [], 'every listed constant is still given as a reason');
  });

  test('every `export const …Reason = {` object is one of those imported above', () => {
    const unknown = scan.objects.filter((o) => !knownObjects.has(o.name)).map((o) => `${o.name} (${o.file})`);
    assert.deepEqual(unknown, [], 'a new reason object: import it above (condition, wait, event or issue) and document its reasons');
  });

  test('every literal reason is one the lists know', () => {
    const known = new Set([...conditionReasons, ...eventReasons]);
    const unknown = scan.literals.filter((l) => !known.has(l.value)).map((l) => `'${l.value}' at ${l.file}:${l.line}`);
    assert.deepEqual(unknown, [], 'a new literal reason: add it to LITERAL_REASONS (or a reason object) and document it');
  });

  test('every reason reference names a known reason object, and every constant reason a known constant', () => {
    const objects = scan.references.filter((r) => !knownObjects.has(r.object)).map((r) => `${r.object} at ${r.file}:${r.line}`);
    const constants = scan.constants.filter((c) => !(c.name in CONSTANT_REASONS)).map((c) => `${c.name} at ${c.file}:${c.line}`);
    assert.deepEqual([...objects, ...constants], []);
  });
});

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens. */
const slug = (heading: string) =>
  heading
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');
const anchors = (doc: string) => new Set([...doc.matchAll(/^#{1,6} (.+)$/gm)].map((m) => slug(m[1]!)));

describe('links of the pages this part owns (their shell blocks: test/docs-commands.test.ts)', () => {
  for (const page of ['docs/troubleshooting.md', 'docs/certificates.md']) {
    test(`${page}: every link to a section of a page in docs/ finds that section`, () => {
      const doc = read(page);
      const broken = [...doc.matchAll(/\]\(([\w.-]*\.md)?#([^)]+)\)/g)].filter((m) => !anchors(m[1] ? read(join('docs', m[1])) : doc).has(m[2]!)).map((m) => m[0]);
      assert.deepEqual(broken, []);
    });
  }
});
