// Encryption at rest: AES-256-GCM over each batch's records section.
//
// Sealed batch layout: the 61-byte header as appended (attributes with bit 8 set, batchLength
// and CRC recomputed over the new content), then
//   keyIdLength u8 | keyId (ASCII) | nonce (12 random bytes) | ciphertext | tag (16 bytes)
// The associated data binds the ciphertext to where it belongs and to its header:
//   "bulwark/batch/v1" 0x00 topic 0x00 partition (u32 BE) baseOffset (i64 BE) header[21..61]
// so a batch copied to another topic, partition or offset, or with an edited header (counts,
// timestamps, producer fields), fails authentication and is never served. Each batch names its
// key id, so the active key can rotate while older keys, still mounted, keep decrypting.
//
// Keys come from a directory (a mounted Secret): one file per key, named by its id
// ([-._a-zA-Z0-9], 1-64 characters), holding the 32-byte key either base64-encoded (44
// characters, a trailing newline allowed: `openssl rand -base64 32 > k1`) or as the 32 raw bytes
// (`head -c 32 /dev/urandom > k1`). Dotfiles (Kubernetes' ..data links) and other names are
// ignored. Every key file is read and checked at start-up; errors name the key id and file, never
// a key's bytes. The directory is read once: a new key or a new active key takes a restart.
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { BulwarkError } from '../lib/index.ts';
import type { BatchCipher } from './partition.ts';
import { ATTR_ENCRYPTED, BATCH_HEADER_SIZE, computeBatchCrc, LOG_OVERHEAD, OFF, readInt64 } from './record-batch.ts';

const NONCE = 12;
const TAG = 16;
const KEY_ID = /^[-._a-zA-Z0-9]{1,64}$/;

/** The key ids a key directory offers (file names), without reading the keys: for `bulwark keys status`. */
export function keyFileIds(dir: string): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (err) {
    throw new BulwarkError('BWK_ERR_LOG_KEY_DIR_UNREADABLE', { dir, detail: (err as NodeJS.ErrnoException).code ?? 'unreadable' });
  }
  return names.filter((n) => !n.startsWith('.') && KEY_ID.test(n)).sort();
}

export class KeyRing {
  readonly #keys: Map<string, Buffer>;
  readonly activeKeyId: string;
  readonly dir: string;

  private constructor(dir: string, keys: Map<string, Buffer>, activeKeyId: string) {
    this.dir = dir;
    this.#keys = keys;
    this.activeKeyId = activeKeyId;
  }

  /** Loads every key file in `dir`; the active key must be among them. */
  static fromDirectory(dir: string, activeKeyId: string): KeyRing {
    const keys = new Map<string, Buffer>();
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch (err) {
      throw new BulwarkError('BWK_ERR_LOG_KEY_DIR_UNREADABLE', { dir, detail: (err as NodeJS.ErrnoException).code ?? 'unreadable' });
    }
    for (const name of names.sort()) {
      if (name.startsWith('.') || !KEY_ID.test(name)) continue;
      const file = join(dir, name);
      const invalid = (detail: string) => new BulwarkError('BWK_ERR_LOG_KEY_INVALID', { keyId: name, file, detail });
      let bytes: Buffer;
      try {
        if (!statSync(file).isFile()) continue;
        bytes = readFileSync(file);
      } catch (err) {
        throw invalid(`cannot read it (${(err as NodeJS.ErrnoException).code ?? 'unreadable'})`);
      }
      keys.set(name, parseKey(bytes) ?? throwError(invalid(`expected 32 bytes, base64-encoded (44 characters) or raw; found ${bytes.length} bytes that are neither`)));
    }
    if (!keys.has(activeKeyId)) throw new BulwarkError('BWK_ERR_LOG_KEY_MISSING', { keyId: activeKeyId, dir });
    return new KeyRing(dir, keys, activeKeyId);
  }

  /** The key ids loaded, sorted. */
  get keyIds(): string[] {
    return [...this.#keys.keys()];
  }

  key(id: string): Buffer | undefined {
    return this.#keys.get(id);
  }
}

function throwError(err: Error): never {
  throw err;
}

/** 32 raw bytes, or their base64 text (whitespace around it allowed); undefined otherwise. */
function parseKey(bytes: Buffer): Buffer | undefined {
  const text = bytes.toString('latin1').trim();
  if (/^[A-Za-z0-9+/]{43}=$/.test(text)) return Buffer.from(text, 'base64');
  return bytes.length === 32 ? Buffer.from(bytes) : undefined;
}

function associatedData(topic: string, partition: number, sealedHeader: Buffer): Buffer {
  const prefix = Buffer.from(`bulwark/batch/v1\0${topic}\0`, 'utf8');
  const fixed = Buffer.allocUnsafe(12);
  fixed.writeUInt32BE(partition, 0);
  sealedHeader.copy(fixed, 4, OFF.baseOffset, OFF.baseOffset + 8);
  return Buffer.concat([prefix, fixed, sealedHeader.subarray(OFF.attributes, BATCH_HEADER_SIZE)]);
}

export class AesGcmBatchCipher implements BatchCipher {
  readonly #ring: KeyRing;
  constructor(ring: KeyRing) {
    this.#ring = ring;
  }

  seal(batch: Buffer, topic: string, partition: number): Buffer {
    const keyId = this.#ring.activeKeyId;
    const key = this.#ring.key(keyId)!;
    const plain = batch.subarray(BATCH_HEADER_SIZE);
    const idBytes = Buffer.from(keyId, 'ascii');
    const out = Buffer.allocUnsafe(BATCH_HEADER_SIZE + 1 + idBytes.length + NONCE + plain.length + TAG);
    batch.copy(out, 0, 0, BATCH_HEADER_SIZE);
    out.writeInt32BE(out.length - LOG_OVERHEAD, OFF.batchLength);
    out.writeInt16BE(out.readInt16BE(OFF.attributes) | ATTR_ENCRYPTED, OFF.attributes);
    let p = BATCH_HEADER_SIZE;
    out.writeUInt8(idBytes.length, p++);
    p += idBytes.copy(out, p);
    const nonce = randomBytes(NONCE);
    p += nonce.copy(out, p);
    const cipher = createCipheriv('aes-256-gcm', key, nonce);
    cipher.setAAD(associatedData(topic, partition, out));
    p += cipher.update(plain).copy(out, p);
    p += cipher.final().copy(out, p);
    cipher.getAuthTag().copy(out, p);
    out.writeUInt32BE(computeBatchCrc(out), OFF.crc);
    return out;
  }

  open(sealed: Buffer, topic: string, partition: number): Buffer {
    const offset = readInt64(sealed, OFF.baseOffset);
    const fail = (keyId: string) => new BulwarkError('BWK_ERR_LOG_DECRYPT_FAILED', { offset, partition: `${topic}-${partition}`, keyId });
    let p = BATCH_HEADER_SIZE;
    if (sealed.length < p + 1 + NONCE + TAG) throw fail('?');
    const idLength = sealed.readUInt8(p++);
    if (idLength < 1 || sealed.length < p + idLength + NONCE + TAG) throw fail('?');
    const keyId = sealed.toString('ascii', p, p + idLength);
    p += idLength;
    const key = this.#ring.key(keyId);
    if (!key) throw new BulwarkError('BWK_ERR_LOG_KEY_MISSING', { keyId, dir: this.#ring.dir });
    const nonce = sealed.subarray(p, p + NONCE);
    p += NONCE;
    const ciphertext = sealed.subarray(p, sealed.length - TAG);
    const decipher = createDecipheriv('aes-256-gcm', key, nonce);
    decipher.setAAD(associatedData(topic, partition, sealed));
    decipher.setAuthTag(sealed.subarray(sealed.length - TAG));
    let plain: Buffer;
    try {
      plain = Buffer.concat([decipher.update(ciphertext), decipher.final()]);
    } catch {
      throw fail(keyId);
    }
    const out = Buffer.allocUnsafe(BATCH_HEADER_SIZE + plain.length);
    sealed.copy(out, 0, 0, BATCH_HEADER_SIZE);
    plain.copy(out, BATCH_HEADER_SIZE);
    out.writeInt32BE(out.length - LOG_OVERHEAD, OFF.batchLength);
    out.writeInt16BE(out.readInt16BE(OFF.attributes) & ~ATTR_ENCRYPTED, OFF.attributes);
    out.writeUInt32BE(computeBatchCrc(out), OFF.crc);
    return out;
  }
}
