// `bulwark keys status`: which encryption keys the data on disk still needs, so an admin knows
// when a key may be retired (removed from the key directory or the BrokerCluster's Secret).
// Read-only: it can run beside the broker (`kubectl exec <pod> -- /usr/bin/node /app/bin/bulwark.js keys status --config
// /etc/bulwark/config/broker.json`). The running broker reports the same per key id as the
// metric bulwark_log_key_segments.
import { parseArgs } from 'node:util';
import { loadBrokerConfig } from '../config/index.ts';
import { BulwarkError } from '../lib/index.ts';
import { keyFileIds, PLAINTEXT_KEY, scanKeyUsage } from '../log/index.ts';
import type { Output } from './policy-commands.ts';

export const KEYS_USAGE = 'usage: bulwark keys status (--config FILE | --data-dir DIR) [--key-dir DIR] [--active-key-id ID] [-o json]';

/** One key id's line of the report. */
export interface KeyStatus {
  keyId: string;
  /** Segments holding batches sealed with it. */
  segments: number;
  /** Partitions (topic-partition) those segments belong to. */
  partitions: string[];
  /** Whether the key directory has a file for it; null when no key directory was given. */
  inKeyDir: boolean | null;
  active: boolean;
  /** needed: data on disk needs it; missing: needed and not in the key directory (the broker refuses to start); retirable: in the key directory, needed by nothing, not active. */
  status: 'needed' | 'missing' | 'retirable';
}

export interface KeysReport {
  dataDir: string;
  keyDir: string | null;
  activeKeyId: string | null;
  keys: KeyStatus[];
  /** Segments holding batches stored in the clear (written before encryption was turned on). */
  plaintextSegments: number;
}

export function keysReport(dataDir: string, keyDir: string | undefined, activeKeyId: string | undefined): KeysReport {
  const usage = scanKeyUsage(dataDir);
  const inDir = keyDir === undefined ? undefined : new Set(keyFileIds(keyDir));
  const ids = [...new Set([...usage.keys(), ...(inDir ?? []), ...(activeKeyId ? [activeKeyId] : [])])].filter((k) => k !== PLAINTEXT_KEY).sort();
  const keys = ids.map((keyId): KeyStatus => {
    const files = usage.get(keyId) ?? [];
    const present = inDir === undefined ? null : inDir.has(keyId);
    const needed = files.length > 0 || keyId === activeKeyId;
    return {
      keyId,
      segments: files.length,
      partitions: [...new Set(files.map((f) => f.split(/[\\/]/).at(-2)!))].sort(),
      inKeyDir: present,
      active: keyId === activeKeyId,
      status: needed ? (present === false ? 'missing' : 'needed') : 'retirable',
    };
  });
  return { dataDir, keyDir: keyDir ?? null, activeKeyId: activeKeyId ?? null, keys, plaintextSegments: usage.get(PLAINTEXT_KEY)?.length ?? 0 };
}

/** Exit 1 when a needed key is missing from the key directory: the broker would refuse to start. */
export function keysCommand(argv: string[], io: Output): number {
  const [sub, ...rest] = argv;
  if (sub !== 'status') throw new BulwarkError('BWK_ERR_CLI_USAGE', { detail: `unknown keys command ${JSON.stringify(sub)}; ${KEYS_USAGE}` });
  const { values, positionals } = parseArgs({
    args: rest,
    allowPositionals: true,
    options: { config: { type: 'string' }, 'data-dir': { type: 'string' }, 'key-dir': { type: 'string' }, 'active-key-id': { type: 'string' }, output: { type: 'string', short: 'o' } },
  });
  if (positionals.length > 0 || (values.output !== undefined && values.output !== 'json')) throw new BulwarkError('BWK_ERR_CLI_USAGE', { detail: KEYS_USAGE });
  const config = values.config ? loadBrokerConfig({ file: values.config, env: process.env }) : undefined;
  const dataDir = values['data-dir'] ?? config?.dataDir;
  if (!dataDir) throw new BulwarkError('BWK_ERR_CLI_USAGE', { detail: `--config or --data-dir is needed; ${KEYS_USAGE}` });
  const report = keysReport(dataDir, values['key-dir'] ?? config?.encryption?.keyDir, values['active-key-id'] ?? config?.encryption?.activeKeyId);
  if (values.output === 'json') io.out(JSON.stringify(report, null, 2));
  else {
    const rows = [
      ['KEY ID', 'SEGMENTS', 'PARTITIONS', 'IN KEY DIR', 'STATUS'],
      ...report.keys.map((k) => [
        k.keyId,
        String(k.segments),
        String(k.partitions.length),
        k.inKeyDir === null ? '-' : k.inKeyDir ? 'yes' : 'NO',
        k.status === 'retirable' ? 'not needed: may be retired' : k.status === 'missing' ? 'MISSING: needed by data on disk, the broker will not start' : `needed${k.active ? ' (active)' : ''}`,
      ]),
    ];
    const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
    for (const r of rows) io.out(r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  '));
    io.out(`${report.plaintextSegments} segment(s) hold batches stored in the clear${report.plaintextSegments > 0 ? ' (written before encryption was on; retention deletes them)' : ''}.`);
  }
  return report.keys.some((k) => k.status === 'missing') ? 1 : 0;
}
