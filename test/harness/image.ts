// An image's OCI archive read back the way a user inspects an image: its index (names), its
// configuration, every tar entry of every layer with owners and modes, and the layers unpacked in
// order onto one root filesystem.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BrokerImage } from '../../tools/image/broker-image.ts';

export interface ImageEntry {
  path: string;
  type: string;
  mode: number;
  uid: number;
  gid: number;
}

export interface UnpackedImage {
  image: BrokerImage;
  index: { manifests: { digest: string; annotations?: Record<string, string> }[] };
  config: { config: Record<string, any>; created?: string; rootfs: { diff_ids: string[] }; history?: { created?: string; created_by?: string; comment?: string; empty_layer?: boolean }[] };
  rootfs: string;
  layers: number;
  /** Every tar entry of every layer, later layers last. */
  entries: ImageEntry[];
}

/** Unpacks `image` under `dir` (which must exist and be empty). */
export function unpackImage(image: BrokerImage, dir: string): UnpackedImage {
  const oci = join(dir, 'oci');
  const rootfs = join(dir, 'rootfs');
  mkdirSync(oci);
  mkdirSync(rootfs);
  execFileSync('tar', ['-xf', image.archive, '-C', oci]);
  const blob = (digest: string) => join(oci, 'blobs', 'sha256', digest.slice('sha256:'.length));
  const index = JSON.parse(readFileSync(join(oci, 'index.json'), 'utf8'));
  const manifest = JSON.parse(readFileSync(blob(image.digest), 'utf8'));
  const entries: ImageEntry[] = [];
  for (const layer of manifest.layers) {
    // GNU tar: "drwxr-xr-x 0/0 0 1970-01-01 00:00 app/" (numeric owners), for every entry.
    const listing = execFileSync('tar', ['-tvf', blob(layer.digest), '--numeric-owner'], { encoding: 'utf8', maxBuffer: 256 << 20 });
    for (const line of listing.split('\n').filter(Boolean)) {
      const m = /^(\S)(\S{9})\s+(\d+)\/(\d+)\s+\d+\s+\S+\s+\S+\s+(.*?)(?: -> .*| link to .*)?$/.exec(line);
      assert.ok(m, `unexpected tar listing line: ${line}`);
      entries.push({ path: m[5]!.replace(/^\.?\//, '').replace(/\/$/, ''), type: m[1]!, mode: permBits(m[2]!), uid: Number(m[3]), gid: Number(m[4]) });
    }
    execFileSync('tar', ['-xf', blob(layer.digest), '-C', rootfs, '--numeric-owner']);
  }
  return { image, index, config: JSON.parse(readFileSync(blob(manifest.config.digest), 'utf8')), rootfs, layers: manifest.layers.length, entries };
}

/** "rwsr-xr-t" → 0o5755. */
function permBits(s: string): number {
  let mode = 0;
  for (let i = 0; i < 9; i++) if (s[i] !== '-' && s[i] !== 'S' && s[i] !== 'T') mode |= 1 << (8 - i);
  if (/[sS]/.test(s[2]!)) mode |= 0o4000;
  if (/[sS]/.test(s[5]!)) mode |= 0o2000;
  if (/[tT]/.test(s[8]!)) mode |= 0o1000;
  return mode;
}
