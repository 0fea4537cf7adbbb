// Writes an OCI image archive (oci-layout, index.json, blobs/sha256/…) that `ctr images import`
// and any OCI tool read, without a container engine: the test node's images (pause, the broker)
// are assembled from files on this machine, since nothing may be pulled.
//
// Layers are tar streams (ustar, with PAX records for long names), gzip-compressed. Everything is
// deterministic: owner 0:0 unless a file says otherwise, mtime 0, entries in the given order with
// missing parent directories added first, so the same inputs give the same digests.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, posix } from 'node:path';
import { gzipSync } from 'node:zlib';

export interface ImageFile {
  /** Absolute path in the image, such as /usr/bin/node. */
  path: string;
  type: 'file' | 'dir' | 'symlink';
  /** Permission bits, such as 0o755. */
  mode: number;
  /** A file's content from this host path (read when the layer is written)… */
  source?: string;
  /** …or given here. */
  data?: Buffer;
  /** A symlink's target. */
  linkTarget?: string;
  uid?: number;
  gid?: number;
}

export interface ImageLayer {
  files: ImageFile[];
}

/** The image configuration's `config` object (OCI image spec). */
export interface ImageConfig {
  Entrypoint?: string[];
  Cmd?: string[];
  User?: string;
  Env?: string[];
  WorkingDir?: string;
  Labels?: Record<string, string>;
  ExposedPorts?: Record<string, Record<string, never>>;
  StopSignal?: string;
}

export interface WrittenImage {
  /** The image reference, such as bulwark.local/bulwark:0.1.0-abc123. */
  name: string;
  /** The archive path. */
  archive: string;
  /** sha256:… of the manifest: what the runtime reports as the image digest. */
  digest: string;
}

/**
 * `history`: one `created_by` line per layer, for images other builds start FROM (buildah matches
 * a base's history against its layers); without it the config has no history.
 */
export async function writeOciArchive(opts: { name: string; out: string; config: ImageConfig; layers: ImageLayer[]; history?: string[] }): Promise<WrittenImage> {
  const blobs = new Map<string, Buffer>();
  const addBlob = (data: Buffer) => {
    const digest = `sha256:${createHash('sha256').update(data).digest('hex')}`;
    blobs.set(digest, data);
    return { digest, size: data.length };
  };
  const diffIds: string[] = [];
  const layerDescriptors = opts.layers.map((layer) => {
    const tar = layerTar(layer.files);
    diffIds.push(`sha256:${createHash('sha256').update(tar).digest('hex')}`);
    return { mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', ...addBlob(gzipSync(tar, { level: 6 })) };
  });
  const config = {
    architecture: 'amd64',
    os: 'linux',
    created: '1970-01-01T00:00:00Z',
    config: opts.config,
    rootfs: { type: 'layers', diff_ids: diffIds },
    ...(opts.history ? { history: opts.history.map((created_by) => ({ created: '1970-01-01T00:00:00Z', created_by })) } : {}),
  };
  if (opts.history && opts.history.length !== opts.layers.length) throw new Error(`${opts.name}: ${opts.history.length} history entries for ${opts.layers.length} layers`);
  const configDescriptor = { mediaType: 'application/vnd.oci.image.config.v1+json', ...addBlob(Buffer.from(JSON.stringify(config))) };
  const manifest = { schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: configDescriptor, layers: layerDescriptors };
  const manifestBlob = addBlob(Buffer.from(JSON.stringify(manifest)));
  const lastPart = opts.name.slice(opts.name.lastIndexOf('/') + 1);
  const tag = lastPart.includes(':') ? lastPart.slice(lastPart.indexOf(':') + 1) : 'latest';
  const index = {
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.index.v1+json',
    manifests: [
      {
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        ...manifestBlob,
        platform: { architecture: 'amd64', os: 'linux' },
        annotations: { 'io.containerd.image.name': opts.name, 'org.opencontainers.image.ref.name': tag },
      },
    ],
  };
  const entries: ImageFile[] = [
    { path: '/oci-layout', type: 'file', mode: 0o644, data: Buffer.from(JSON.stringify({ imageLayoutVersion: '1.0.0' })) },
    { path: '/index.json', type: 'file', mode: 0o644, data: Buffer.from(JSON.stringify(index)) },
    ...[...blobs].map(([digest, data]): ImageFile => ({ path: `/blobs/sha256/${digest.slice('sha256:'.length)}`, type: 'file', mode: 0o644, data })),
  ];
  await mkdir(dirname(opts.out), { recursive: true });
  await writeFile(opts.out, layerTar(entries));
  return { name: opts.name, archive: opts.out, digest: manifestBlob.digest };
}

/** One layer as an uncompressed tar: parents first, each path once (the last entry for a path wins). */
export function layerTar(files: readonly ImageFile[]): Buffer {
  const byPath = new Map<string, ImageFile>();
  for (const f of files) {
    const path = normalize(f.path);
    for (let dir = posix.dirname(path); dir !== '/' && !byPath.has(dir); dir = posix.dirname(dir)) {
      byPath.set(dir, { path: dir, type: 'dir', mode: 0o755 });
    }
    byPath.set(path, { ...f, path });
  }
  const ordered = [...byPath.values()].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const chunks: Buffer[] = [];
  for (const f of ordered) {
    const data = f.type === 'file' ? (f.data ?? readFileSync(f.source ?? fail(`${f.path}: a file needs source or data`))) : Buffer.alloc(0);
    const name = f.path.slice(1) + (f.type === 'dir' ? '/' : '');
    const link = f.type === 'symlink' ? (f.linkTarget ?? fail(`${f.path}: a symlink needs linkTarget`)) : '';
    const pax: string[] = [];
    if (Buffer.byteLength(name) > 100) pax.push(paxRecord('path', name));
    if (Buffer.byteLength(link) > 100) pax.push(paxRecord('linkpath', link));
    if (pax.length > 0) {
      const body = Buffer.from(pax.join(''));
      chunks.push(header({ name: `PaxHeaders/${posix.basename(name).slice(0, 80)}`, mode: 0o644, size: body.length, type: 'x', link: '' }), pad(body));
    }
    const type = f.type === 'file' ? '0' : f.type === 'dir' ? '5' : '2';
    chunks.push(header({ name: name.slice(0, 100), mode: f.mode, size: data.length, type, link: link.slice(0, 100), uid: f.uid, gid: f.gid }));
    if (data.length > 0) chunks.push(pad(data));
  }
  chunks.push(Buffer.alloc(1024));
  return Buffer.concat(chunks);
}

function normalize(p: string): string {
  if (!p.startsWith('/')) throw new Error(`image path ${p} must be absolute`);
  const n = posix.normalize(p);
  return n.length > 1 && n.endsWith('/') ? n.slice(0, -1) : n;
}

function fail(message: string): never {
  throw new Error(message);
}

/** "<len> key=value\n", where len counts the whole record, itself included. */
function paxRecord(key: string, value: string): string {
  const body = ` ${key}=${value}\n`;
  let len = Buffer.byteLength(body) + 1;
  while (String(len).length + Buffer.byteLength(body) !== len) len = String(len).length + Buffer.byteLength(body);
  return `${len}${body}`;
}

function header(h: { name: string; mode: number; size: number; type: string; link: string; uid?: number; gid?: number }): Buffer {
  const b = Buffer.alloc(512);
  const put = (value: string, offset: number, length: number) => b.write(value, offset, length, 'utf8');
  const octal = (n: number, offset: number, length: number) => put(n.toString(8).padStart(length - 1, '0'), offset, length - 1);
  put(h.name, 0, 100);
  octal(h.mode & 0o7777, 100, 8);
  octal(h.uid ?? 0, 108, 8);
  octal(h.gid ?? 0, 116, 8);
  octal(h.size, 124, 12);
  octal(0, 136, 12);
  put(h.type, 156, 1);
  put(h.link, 157, 100);
  put('ustar\u000000', 257, 8);
  b.fill(0x20, 148, 156);
  let sum = 0;
  for (const byte of b) sum += byte;
  put(`${sum.toString(8).padStart(6, '0')}\u0000 `, 148, 8);
  return b;
}

function pad(data: Buffer): Buffer {
  const rest = data.length % 512;
  return rest === 0 ? data : Buffer.concat([data, Buffer.alloc(512 - rest)]);
}
