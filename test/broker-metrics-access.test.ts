// Who may read the broker's metrics, and where credentials may travel, as a user checks with an
// HTTP client against a real broker:
// - /metrics labels name topics. On the client HTTP listener it needs describe on the cluster:
//   no credentials is 401, credentials without that permission 403, and neither answer names a
//   topic. Prometheus scrapes the metrics listener instead (plain HTTP, only /metrics), which the
//   operator's NetworkPolicy opens to the scrapers only.
// - Credentials never cross a plaintext HTTP listener: bearer without TLS is refused by the
//   configuration (as PLAIN is on a Kafka listener), and a request that carries an Authorization
//   header to a plaintext listener anyway is refused with BWK_ERR_HTTP_CREDENTIALS_NEED_TLS.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { loadBrokerConfig } from '../src/config/index.ts';
import { BulwarkError } from '../src/lib/index.ts';
import { generateToken } from '../src/policy/credentials.ts';
import { startTestBroker, type SecureTestBroker } from './harness/broker.ts';
import { https } from './harness/clients.ts';
import { accessTokenYaml, brokerClusterYaml, roleYaml, userYaml } from './harness/policy.ts';

/** A topic whose name is the secret an unauthorized client must not learn. */
const SECRET_TOPIC = 'acquisition-target-globex';
const WRITER = generateToken();
const SCRAPER = generateToken();
const READER = generateToken();

const policy = {
  'cluster.yaml': brokerClusterYaml({ allowAnonymous: true }),
  'roles.yaml': [
    roleYaml('secret-writer', [{ topics: ['acquisition-*'], actions: ['write'] }]),
    roleYaml('metrics-reader', [{ cluster: true, actions: ['describe'] }]),
    roleYaml('public-reader', [{ topics: ['public-*'], actions: ['read'] }]),
  ].join('---\n'),
  'users.yaml': [
    userYaml('writer', { type: 'tls', roles: ['secret-writer'] }),
    userYaml('prometheus', { type: 'tls', roles: ['metrics-reader'] }),
    userYaml('reader', { type: 'tls', roles: ['public-reader'] }),
  ].join('---\n'),
  'tokens.yaml': [accessTokenYaml('writer-http', 'writer', WRITER), accessTokenYaml('prometheus-http', 'prometheus', SCRAPER), accessTokenYaml('reader-http', 'reader', READER)].join('---\n'),
};

describe('/metrics: describe on the cluster over HTTPS, the metrics listener for Prometheus', () => {
  let b: SecureTestBroker;
  const call = (path: string, bearer?: string) => https(`${b.http}${path}`, { ca: b.pki.ca.certPem, ...(bearer !== undefined ? { headers: { authorization: `Bearer ${bearer}` } } : {}) });
  before(async () => {
    b = await startTestBroker({ security: { policy }, config: { metrics: { port: 0 } } });
    b.broker.topics.createTopic(SECRET_TOPIC, 1);
    b.broker.topics.createTopic('public-news', 1);
    // Records written the way a client writes them, so the per-topic counters carry the name.
    const produced = await https(`${b.http}/v1/topics/${SECRET_TOPIC}/records`, { ca: b.pki.ca.certPem, method: 'POST', headers: { authorization: `Bearer ${WRITER}` }, body: { records: [{ value: 'term sheet' }] } });
    assert.equal(produced.status, 200, produced.text);
  });
  after(() => b?.stop());

  test('no credentials is 401 and credentials without describe on the cluster 403; neither answer names a topic', async () => {
    const anonymous = await call('/metrics');
    assert.equal(anonymous.status, 401, anonymous.text);
    assert.equal((anonymous.json as { code: string }).code, 'BWK_ERR_UNAUTHENTICATED');
    const reader = await call('/metrics', READER);
    assert.equal(reader.status, 403, reader.text);
    assert.equal((reader.json as { code: string }).code, 'BWK_ERR_FORBIDDEN');
    // The writer may write the secret topic, and still may not see the whole cluster's metrics.
    const writer = await call('/metrics', WRITER);
    assert.equal(writer.status, 403, writer.text);
    for (const r of [anonymous, reader, writer]) {
      assert.doesNotMatch(r.text, /acquisition|public-news|bulwark_/, 'the refusal names no topic and no metric');
      assert.doesNotMatch(JSON.stringify(r.headers), /acquisition/);
    }
    assert.ok(Number((await b.broker.metrics.authorizationDenials.get()).values.find((v) => v.labels.type === 'cluster' && v.labels.action === 'describe')?.value) >= 2, 'the denials are counted');
  });

  test('a principal granted describe on the cluster reads the metrics over HTTPS', async () => {
    const r = await call('/metrics', SCRAPER);
    assert.equal(r.status, 200, r.text);
    assert.match(r.text, new RegExp(`bulwark_produced_records_total\\{topic="${SECRET_TOPIC}"\\} 1`));
  });

  test('the metrics listener serves /metrics to Prometheus without credentials, and nothing else', async () => {
    const port = b.broker.listenerPort('metrics');
    assert.ok(port, 'the metrics listener is up');
    const metrics = await fetch(`http://127.0.0.1:${port}/metrics`);
    assert.equal(metrics.status, 200);
    assert.match(metrics.headers.get('content-type') ?? '', /^text\/plain/);
    assert.match(await metrics.text(), new RegExp(`bulwark_produced_records_total\\{topic="${SECRET_TOPIC}"\\} 1`));
    for (const path of ['/v1/topics', `/v1/topics/${SECRET_TOPIC}`, '/openapi.json', '/healthz', '/']) {
      const r = await fetch(`http://127.0.0.1:${port}${path}`);
      assert.equal(r.status, 404, path);
      assert.doesNotMatch(await r.text(), /acquisition/);
    }
    assert.equal((await fetch(`http://127.0.0.1:${port}/metrics`, { method: 'POST', body: 'x' })).status, 405);
  });
});

describe('credentials need TLS on HTTP, as PLAIN does on Kafka', () => {
  test('the configuration refuses bearer and password on an HTTP listener without TLS, naming the key', () => {
    for (const authentication of [['bearer'], ['password', 'bearer']] as const) {
      assert.throws(
        () => loadBrokerConfig({ env: {}, overrides: { http: { authentication: [...authentication] } } }),
        (err: unknown) => err instanceof BulwarkError && err.code === 'BWK_ERR_CONFIG_INVALID' && /http\.authentication: bearer .* needs TLS/.test(err.message),
      );
    }
    // Nothing said: a plaintext HTTP listener accepts no credentials rather than refusing to start.
    assert.deepEqual(loadBrokerConfig({ env: {} }).http.authentication, []);
  });

  let plain: SecureTestBroker;
  before(async () => {
    plain = await startTestBroker({ security: { policy }, config: { http: { port: 0, tls: undefined, authentication: ['anonymous'] } } });
    plain.broker.topics.createTopic(SECRET_TOPIC, 1);
  });
  after(() => plain?.stop());

  test('a Bearer token or Basic password sent to a plaintext listener is refused on every route, and the token is not echoed', async () => {
    assert.match(plain.http, /^http:\/\//);
    for (const authorization of [`Bearer ${SCRAPER}`, `Bearer ${WRITER}`, `Basic ${Buffer.from('writer:pw').toString('base64')}`]) {
      for (const path of ['/metrics', '/v1/topics', `/v1/topics/${SECRET_TOPIC}/partitions/0/records`, '/healthz']) {
        const r = await fetch(`${plain.http}${path}`, { headers: { authorization } });
        const text = await r.text();
        assert.equal(r.status, 400, `${path}: ${text}`);
        assert.equal((JSON.parse(text) as { code: string }).code, 'BWK_ERR_HTTP_CREDENTIALS_NEED_TLS');
        assert.ok(!text.includes(authorization.split(' ')[1]!), 'the credential is not in the answer');
      }
    }
    assert.ok(!plain.logs.some((l) => l.includes(SCRAPER) || l.includes(WRITER)), 'nor in the logs');
    // Without credentials the anonymous listener still answers (and anonymous may not read metrics).
    assert.equal((await fetch(`${plain.http}/healthz`)).status, 200);
    assert.equal((await fetch(`${plain.http}/metrics`)).status, 403);
  });

  test('the same token over TLS is accepted', async () => {
    const b = await startTestBroker({ security: { policy } });
    try {
      const r = await https(`${b.http}/metrics`, { ca: b.pki.ca.certPem, headers: { authorization: `Bearer ${SCRAPER}` } });
      assert.equal(r.status, 200, r.text);
    } finally {
      await b.stop();
    }
  });
});
