// The images the test node needs, assembled from files on this machine (nothing is pulled):
// the pod sandbox image, and a tiny HTTP app for tests of the node itself.
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { cacheRoot } from '../controlplane/launcher.ts';
import { writeOciArchive, type WrittenImage } from '../image/oci-archive.ts';
import { baseFiles, hostBinaryWithLibraries, IMAGE_UID } from '../image/rootfs.ts';
import { PAUSE_IMAGE } from './config.ts';

/** `registry.k8s.io/pause:3.10.2` from NODE_BIN/pause (a static Go binary), as an OCI archive. */
export function writePauseImage(nodeBin: string, out: string): Promise<WrittenImage> {
  return writeOciArchive({
    name: PAUSE_IMAGE,
    out,
    config: { Entrypoint: ['/pause'], User: '65535:65535' },
    layers: [{ files: [{ path: '/pause', type: 'file', mode: 0o755, source: path.join(nodeBin, 'pause') }] }],
  });
}

export const TEST_APP_IMAGE = 'bulwark.local/node-test-app:v1';

/**
 * The test app: `GET /` answers `ok`, `GET /whoami` answers {uid, host}; it exits on SIGTERM at
 * once (pods stop without waiting out their grace period).
 */
const SERVER_JS = `const http = require('node:http');
const os = require('node:os');
const server = http.createServer((req, res) => {
  if (req.url === '/whoami') { res.end(JSON.stringify({ uid: process.getuid(), host: os.hostname() })); return; }
  res.end('ok');
});
server.listen(Number(process.env.PORT || 8080));
console.log('test app listening on ' + (process.env.PORT || 8080));
process.on('SIGTERM', () => process.exit(0));
`;

/** The host's node binary with its libraries plus a 10-line HTTP server, as an OCI archive. */
export async function writeTestAppImage(out: string): Promise<WrittenImage> {
  const nodeBinary = fs.realpathSync(process.execPath);
  return writeOciArchive({
    name: TEST_APP_IMAGE,
    out,
    config: {
      Entrypoint: ['/usr/bin/node'],
      Cmd: ['/app/server.js'],
      WorkingDir: '/app',
      Env: ['PATH=/usr/bin:/bin'],
      User: `${IMAGE_UID}:${IMAGE_UID}`,
    },
    layers: [
      {
        files: [
          ...baseFiles(),
          ...hostBinaryWithLibraries(nodeBinary, '/usr/bin/node'),
          { path: '/app/server.js', type: 'file', mode: 0o644, data: Buffer.from(SERVER_JS) },
        ],
      },
    ],
  });
}

/**
 * The test app archive, cached in ${BULWARK_CACHE}/node/images/ (keyed by the node binary's
 * version and the server's text); built on first use (a few seconds: it gzips the node binary).
 */
export async function cachedTestAppImage(): Promise<WrittenImage & { cached: boolean }> {
  const key = createHash('sha256').update(process.version).update(fs.realpathSync(process.execPath)).update(SERVER_JS).digest('hex').slice(0, 12);
  const out = path.join(cacheRoot(), 'node', 'images', `node-test-app-${key}.tar`);
  const meta = `${out}.json`;
  if (fs.existsSync(out) && fs.existsSync(meta)) {
    return { ...(JSON.parse(fs.readFileSync(meta, 'utf8')) as WrittenImage), cached: true };
  }
  const tmp = `${out}.${process.pid}.tmp`;
  const img = await writeTestAppImage(tmp);
  fs.renameSync(tmp, out);
  const written = { ...img, archive: out };
  fs.writeFileSync(meta, JSON.stringify(written));
  return { ...written, cached: false };
}
