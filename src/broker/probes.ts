// The probe listener: plain HTTP for the kubelet, no authentication, and nothing on it but
//   GET /healthz   200 while the process runs and is not shutting down, else 503
//   GET /readyz    200 when every listener is bound, no partition is fenced, a policy is in force
//                  (operator mode: pushed, or persisted and loaded at start) and the broker is not
//                  stopping; else 503 with the reasons
// Every other path is 404 and every other method 405: metrics and the API stay on the
// authenticated listeners. It is started before the data listeners (so /readyz can say
// "starting") and closed after them.
import { createServer, type Server } from 'node:http';

/** What the probes read from the broker. */
export interface ProbeTarget {
  readonly stopping: boolean;
  readiness(): { ready: boolean; reasons: string[] };
}

export const PROBE_PATHS = ['/healthz', '/readyz'] as const;

/** Starts the probe listener on host:port (0: the OS chooses); resolves once it listens. */
export async function startProbeListener(target: ProbeTarget, host: string, port: number): Promise<Server> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const send = (status: number, body: unknown, headers: Record<string, string> = {}) => {
      res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', ...headers });
      res.end(req.method === 'HEAD' ? undefined : JSON.stringify(body));
    };
    if (path !== '/healthz' && path !== '/readyz') return send(404, { status: 'not found' });
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(405, { status: 'method not allowed' }, { allow: 'GET, HEAD' });
    if (path === '/healthz') return target.stopping ? send(503, { status: 'stopping' }) : send(200, { status: 'ok' });
    const r = target.readiness();
    return send(r.ready ? 200 : 503, { status: r.ready ? 'ready' : 'not ready', reasons: r.reasons });
  });
  // Probes are tiny and frequent: no keep-alive pool to drain at stop.
  server.keepAliveTimeout = 1000;
  server.headersTimeout = 5000;
  server.requestTimeout = 5000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return server;
}

/** Closes the listener and its idle connections. */
export function closeProbeListener(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}
