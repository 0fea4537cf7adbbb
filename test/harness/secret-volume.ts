// A Secret (or ConfigMap) volume laid out and updated the way the kubelet does it (its
// AtomicWriter, pkg/volume/util/atomic_writer.go):
//
//   <dir>/..2026_12_06_04_00_00.123456789/tls.crt   the payload, in a timestamped directory
//   <dir>/..data -> ..2026_12_06_04_00_00.123456789  the one symlink that is swapped
//   <dir>/tls.crt -> ..data/tls.crt                  what the container reads, made once
//
// An update writes a new timestamped directory, points a new symlink `..data_tmp` at it, renames
// that over `..data` (the atomic step), then removes the old directory. The visible file names
// never change: only where `..data` points.
import { mkdirSync, readlinkSync, renameSync, rmSync, symlinkSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';

export class SecretVolume {
  readonly dir: string;
  #seq = 0;

  constructor(dir: string) {
    this.dir = dir;
    mkdirSync(dir, { recursive: true });
  }

  /** The path a container reads a key at. */
  path(key: string): string {
    return join(this.dir, key);
  }

  /** Writes a new payload and swaps it in atomically, as the kubelet does on a Secret update. */
  write(payload: Readonly<Record<string, string | Buffer>>): void {
    const stamp = `..${new Date().toISOString().replace(/[-:]/g, '_').replace('T', '_').replace('Z', '')}${String(++this.#seq).padStart(6, '0')}`;
    const tsDir = join(this.dir, stamp);
    mkdirSync(tsDir, { mode: 0o755 });
    for (const [key, value] of Object.entries(payload)) writeFileSync(join(tsDir, key), value, { mode: 0o644 });
    const data = join(this.dir, '..data');
    const old = existsSync(data) ? readlinkSync(data) : undefined;
    const tmp = join(this.dir, '..data_tmp');
    rmSync(tmp, { force: true });
    symlinkSync(stamp, tmp);
    renameSync(tmp, data);
    for (const key of Object.keys(payload)) {
      const visible = join(this.dir, key);
      if (!existsSync(visible)) symlinkSync(join('..data', key), visible);
    }
    if (old && old !== stamp) rmSync(join(this.dir, old), { recursive: true, force: true });
  }
}
