// Files for image root filesystems, taken from this machine: a dynamically linked binary with
// the shared libraries it loads, a directory tree, and the few files every image needs.
import { execFileSync } from 'node:child_process';
import { lstatSync, readdirSync, readlinkSync, realpathSync, statSync } from 'node:fs';
import { join, posix } from 'node:path';
import type { ImageFile } from './oci-archive.ts';

/** The uid and gid images run as: non-root, numeric, as Pod Security "restricted" wants. */
export const IMAGE_UID = 65532;

/** The binary at `binPath` (as `imagePath`) and every library `ldd` lists, each at the path the loader looks for it. */
export function hostBinaryWithLibraries(binPath: string, imagePath = binPath): ImageFile[] {
  const files: ImageFile[] = [{ path: imagePath, type: 'file', mode: 0o755, source: realpathSync(binPath) }];
  let out = '';
  try {
    out = execFileSync('ldd', [binPath], { encoding: 'utf8' });
  } catch (err) {
    // "not a dynamic executable": a static binary needs nothing else.
    if (!/not a dynamic executable/.test(String((err as { stdout?: string }).stdout ?? '') + String((err as { stderr?: string }).stderr ?? ''))) throw err;
    return files;
  }
  for (const line of out.split('\n')) {
    // "libstdc++.so.6 => /lib/x86_64-linux-gnu/libstdc++.so.6 (0x…)" or "/lib64/ld-linux-x86-64.so.2 (0x…)"
    const m = /(?:=>\s*)?(\/\S+)\s+\(0x[0-9a-f]+\)/.exec(line);
    if (!m) continue;
    files.push({ path: m[1]!, type: 'file', mode: 0o755, source: realpathSync(m[1]!) });
  }
  return files;
}

/** Every file, directory and symlink under `hostDir`, placed under `imageDir`; `skip` filters by the path relative to hostDir. */
export function directoryFiles(hostDir: string, imageDir: string, skip: (relative: string) => boolean = () => false): ImageFile[] {
  const files: ImageFile[] = [];
  const walk = (rel: string) => {
    for (const entry of readdirSync(join(hostDir, rel), { withFileTypes: true })) {
      const r = rel === '' ? entry.name : `${rel}/${entry.name}`;
      if (skip(r)) continue;
      const host = join(hostDir, r);
      const path = posix.join(imageDir, r);
      const st = lstatSync(host);
      if (entry.isSymbolicLink()) files.push({ path, type: 'symlink', mode: 0o777, linkTarget: readlinkSync(host) });
      else if (entry.isDirectory()) {
        files.push({ path, type: 'dir', mode: st.mode & 0o777 });
        walk(r);
      } else if (entry.isFile()) files.push({ path, type: 'file', mode: (st.mode & 0o111) !== 0 ? 0o755 : 0o644, source: host });
    }
  };
  if (statSync(hostDir).isDirectory()) walk('');
  return files;
}

/** /etc/passwd and /etc/group naming the image user, a world-writable sticky /tmp, and no shell anywhere. */
export function baseFiles(): ImageFile[] {
  const text = (path: string, content: string): ImageFile => ({ path, type: 'file', mode: 0o644, data: Buffer.from(content) });
  return [
    text('/etc/passwd', `root:x:0:0:root:/root:/sbin/nologin\nbulwark:x:${IMAGE_UID}:${IMAGE_UID}:bulwark:/nonexistent:/sbin/nologin\n`),
    text('/etc/group', `root:x:0:\nbulwark:x:${IMAGE_UID}:\n`),
    text('/etc/nsswitch.conf', 'hosts: files dns\n'),
    { path: '/tmp', type: 'dir', mode: 0o1777 },
  ];
}
