// The error catalog and its page: every code is documented in docs/errors.md with the HTTP
// status and Kafka code the catalog gives it, every documented code exists, retired codes stay
// retired; and the Kafka listener's mapping comes from the catalog, with no text matching.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { kafkaErrorOf } from '../src/broker/kafka/server.ts';
import { BulwarkError, ERRORS, KafkaErrorCode, RETIRED, type BulwarkErrorCode, type ErrorSpec } from '../src/lib/index.ts';

const root = join(import.meta.dirname, '..');
const doc = readFileSync(join(root, 'docs', 'errors.md'), 'utf8');
const codes = Object.keys(ERRORS) as BulwarkErrorCode[];
const kafkaName = new Map<number, string>(Object.entries(KafkaErrorCode).map(([name, value]) => [value, name]));
const spec = (code: BulwarkErrorCode): ErrorSpec => ERRORS[code];

/** Each `## BWK_ERR_…` section of the page, with its text up to the next heading. */
const sections = new Map([...doc.matchAll(/^## (BWK_ERR_[A-Z_]+)\n([\s\S]*?)(?=^#{1,2} |(?![\s\S]))/gm)].map((m) => [m[1]!, m[2]!]));

describe('docs/errors.md', () => {
  test('documents exactly the codes in the catalog', () => {
    assert.deepEqual([...sections.keys()].sort(), [...codes].sort());
  });

  test("states each code's HTTP status and Kafka code as the catalog gives them, on the line under its heading", () => {
    const wrong = codes.flatMap((code) => {
      const s = spec(code);
      const expected = `*HTTP ${s.status}${s.kafka !== undefined ? ` · Kafka ${kafkaName.get(s.kafka)} (${s.kafka})` : ''}*`;
      const stated = sections.get(code)?.split('\n')[0];
      return stated === expected ? [] : [`${code}: says ${stated}, the catalog ${expected}`];
    });
    assert.deepEqual(wrong, []);
  });

  test('any other HTTP status its prose mentions is the catalog one', () => {
    const wrong = codes.flatMap((code) => [...(sections.get(code) ?? '').matchAll(/\bHTTP (\d{3})\b/g)].filter((m) => Number(m[1]) !== spec(code).status).map((m) => `${code}: ${m[0]}`));
    assert.deepEqual(wrong, []);
  });

  test('retired codes are not reused, and are listed on the page', () => {
    assert.deepEqual(
      RETIRED.filter((c) => c in ERRORS),
      [],
    );
    for (const c of RETIRED) assert.ok(doc.includes(c), `${c} is retired but not listed in docs/errors.md`);
  });
});

describe('the Kafka mapping', () => {
  test('every code the Kafka listener can meet (log, topics, producer state, internal) has a Kafka code', () => {
    // Not met on the Kafka listener: configuration and start-up key checks (the broker does not start), and the HTTP records view.
    const reachable = codes.filter((c) => /^BWK_ERR_(LOG_(?!CONFIG|KEY_INVALID|KEY_DIR_UNREADABLE|KEY_NEEDED|RECORDS)|TOPIC_NOT_FOUND|PARTITION_NOT_FOUND|PRODUCER_|INTERNAL)/.test(c));
    assert.ok(reachable.length >= 12, reachable.join());
    assert.deepEqual(
      reachable.filter((c) => spec(c).kafka === undefined),
      [],
    );
  });

  test('kafkaErrorOf reads the catalog: too large and malformed batches are different Kafka errors', () => {
    assert.equal(kafkaErrorOf(new BulwarkError('BWK_ERR_LOG_BATCH_TOO_LARGE', { position: 0, detail: 'x' })), KafkaErrorCode.MESSAGE_TOO_LARGE);
    assert.equal(kafkaErrorOf(new BulwarkError('BWK_ERR_LOG_BATCH_INVALID', { position: 0, detail: 'exceeds the limit' })), KafkaErrorCode.CORRUPT_MESSAGE);
    for (const code of codes) assert.equal(kafkaErrorOf(new BulwarkError(code)), spec(code).kafka ?? KafkaErrorCode.UNKNOWN_SERVER_ERROR, code);
    assert.equal(kafkaErrorOf(new RangeError('anything')), KafkaErrorCode.UNKNOWN_SERVER_ERROR);
  });

  test('every Kafka code in the catalog is in the Kafka table', () => {
    for (const code of codes) if (spec(code).kafka !== undefined) assert.ok(kafkaName.has(spec(code).kafka!), code);
  });
});

test('no source decides on an error by its message text', () => {
  const files = (dir: string): string[] => readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? files(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : []));
  const matching = /\.test\([^)]*\.(?:message|reason)\)|\.(?:message|reason)\)?\.(?:includes|startsWith|endsWith|match)\(/;
  const found = files(join(root, 'src')).flatMap((f) =>
    readFileSync(f, 'utf8')
      .split('\n')
      .flatMap((line, i) => (matching.test(line) ? [`${f.slice(root.length + 1)}:${i + 1}: ${line.trim()}`] : [])),
  );
  assert.deepEqual(found, []);
});
