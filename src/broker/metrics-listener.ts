// The metrics listener: plain HTTP for Prometheus, no authentication, and nothing on it but
//   GET /metrics   the broker's registry in the text exposition format
// Every other path is 404 and every other method 405. Its labels name topics, so it is meant for
// a port only the scraper can reach: in Kubernetes the operator's NetworkPolicy admits
// spec.networkPolicy.metricsPeers to it and nobody else. The client HTTP listener's /metrics
// needs describe on the cluster instead.
import { createServer, type Server } from 'node:http';
import type { Registry } from 'prom-client';

/** Starts the metrics listener on host:port (0: the OS chooses); resolves once it listens. */
export async function startMetricsListener(registry: Registry, host: string, port: number): Promise<Server> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const send = (status: number, type: string, body: string, headers: Record<string, string> = {}) => {
      res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store', ...headers });
      res.end(req.method === 'HEAD' ? undefined : body);
    };
    const json = 'application/json; charset=utf-8';
    if (path !== '/metrics') return send(404, json, JSON.stringify({ status: 'not found' }));
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(405, json, JSON.stringify({ status: 'method not allowed' }), { allow: 'GET, HEAD' });
    registry.metrics().then(
      (text) => send(200, registry.contentType, text),
      () => send(500, json, JSON.stringify({ status: 'metrics unavailable' })),
    );
  });
  server.keepAliveTimeout = 5000;
  server.headersTimeout = 5000;
  server.requestTimeout = 10_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return server;
}

/** Closes the listener and its connections. */
export function closeMetricsListener(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}
