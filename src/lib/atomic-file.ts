// Replacing a file so that a crash leaves the old content or the new, never a mix: write a temp
// file beside it, fsync it, rename it over the old one, fsync the directory.
import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, openSync, renameSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';

/** `mode` applies from creation (0o600 for keys and credentials: never readable by others, not even before the rename). */
export function writeFileAtomic(path: string, chunks: Iterable<Buffer>, opts: { mode?: number } = {}): void {
  const tmp = `${path}.${randomBytes(4).toString('hex')}.tmp`;
  const fd = openSync(tmp, 'wx', opts.mode ?? 0o666);
  try {
    for (const chunk of chunks) writeSync(fd, chunk);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
  const dirFd = openSync(dirname(path), 'r');
  try {
    fsyncSync(dirFd);
  } finally {
    closeSync(dirFd);
  }
}
