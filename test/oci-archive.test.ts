// The OCI image archive writer (tools/image/oci-archive.ts), read back by GNU tar and checked
// against the OCI layout: what `ctr images import` reads on the test node.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { writeOciArchive, type ImageFile } from '../tools/image/oci-archive.ts';
import { baseFiles, hostBinaryWithLibraries } from '../tools/image/rootfs.ts';
import { useTempDirs } from './harness/temp.ts';

const tempDir = useTempDirs('oci-archive');
const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

describe('writeOciArchive', () => {
  const longName = `/app/${'n'.repeat(120)}/index.js`;
  const files: ImageFile[] = [
    ...baseFiles(),
    { path: longName, type: 'file', mode: 0o644, data: Buffer.from('console.log(1)\n') },
    { path: '/app/link', type: 'symlink', mode: 0o777, linkTarget: `../${'t'.repeat(130)}` },
  ];

  test('writes an OCI layout whose digests match their blobs, and layers GNU tar extracts with long names intact', async () => {
    const dir = await tempDir();
    const out = join(dir, 'image.tar');
    const image = await writeOciArchive({ name: 'bulwark.local/test:1', out, config: { Entrypoint: ['/bin/x'], User: '65532:65532' }, layers: [{ files }] });
    const unpacked = join(dir, 'x');
    execFileSync('mkdir', ['-p', unpacked]);
    execFileSync('tar', ['xf', out, '-C', unpacked]);
    const blob = (digest: string) => readFileSync(join(unpacked, 'blobs', 'sha256', digest.slice('sha256:'.length)));
    const index = JSON.parse(readFileSync(join(unpacked, 'index.json'), 'utf8'));
    assert.equal(index.manifests[0].annotations['io.containerd.image.name'], 'bulwark.local/test:1');
    assert.equal(index.manifests[0].digest, image.digest);
    const manifest = JSON.parse(blob(image.digest).toString());
    assert.equal(sha(blob(image.digest)), image.digest);
    const config = JSON.parse(blob(manifest.config.digest).toString());
    assert.equal(config.config.User, '65532:65532');
    const layer = blob(manifest.layers[0].digest);
    assert.equal(sha(layer), manifest.layers[0].digest);
    const tar = gunzipSync(layer);
    assert.equal(sha(tar), config.rootfs.diff_ids[0], 'diff_id is the digest of the uncompressed layer');
    const layerDir = join(dir, 'layer');
    execFileSync('mkdir', ['-p', layerDir]);
    execFileSync('tar', ['xf', '-', '-C', layerDir], { input: tar });
    assert.equal(readFileSync(join(layerDir, longName), 'utf8'), 'console.log(1)\n');
    assert.match(execFileSync('tar', ['tvf', '-'], { input: tar }).toString(), /drwxrwxrwt .* tmp\/\n/);
    assert.match(execFileSync('readlink', [join(layerDir, 'app/link')]).toString(), /^\.\.\/t{130}\n$/);
  });

  test('the same inputs give the same digest', async () => {
    const dir = await tempDir();
    const a = await writeOciArchive({ name: 'bulwark.local/test:1', out: join(dir, 'a.tar'), config: {}, layers: [{ files }] });
    const b = await writeOciArchive({ name: 'bulwark.local/test:1', out: join(dir, 'b.tar'), config: {}, layers: [{ files: [...files].reverse() }] });
    assert.equal(a.digest, b.digest);
  });

  test('a dynamically linked binary comes with the libraries its loader needs', () => {
    const paths = hostBinaryWithLibraries(process.execPath, '/usr/bin/node').map((f) => f.path);
    assert.equal(paths[0], '/usr/bin/node');
    assert.ok(paths.some((p) => /ld-linux.*\.so/.test(p)), `the dynamic loader is included: ${paths.join(', ')}`);
    assert.ok(paths.some((p) => /libc\.so/.test(p)));
  });
});
