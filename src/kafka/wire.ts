// Kafka's primitive wire types: big-endian integers, unsigned varints (compact lengths and
// tagged fields), and int64 as a JS number.
//
// int64 is a number, as in the log layer: exact below 2^53, which no offset, millisecond
// timestamp or producer id we hand out reaches, and far cheaper than bigint. A hostile int64
// beyond 2^53 decodes to a nearby number; nothing throws.
//
// The Reader checks every read against `end` before touching the buffer, so a claimed length
// can never make it read past the frame (or past a tagged field it is confined to).
import { ProtocolError } from './errors.ts';

const TWO_32 = 0x1_0000_0000;

export class Reader {
  buf: Buffer;
  pos: number;
  end: number;
  constructor(buf: Buffer, pos = 0, end = buf.length) {
    this.buf = buf;
    this.pos = pos;
    this.end = end;
  }

  /** Claims `n` bytes and returns where they start. */
  take(n: number): number {
    const p = this.pos;
    if (n > this.end - p) throw new ProtocolError('TRUNCATED', { needed: n, offset: p, remaining: this.end - p });
    this.pos = p + n;
    return p;
  }

  int8(): number {
    return this.buf.readInt8(this.take(1));
  }
  int16(): number {
    return this.buf.readInt16BE(this.take(2));
  }
  int32(): number {
    return this.buf.readInt32BE(this.take(4));
  }
  int64(): number {
    const p = this.take(8);
    return this.buf.readInt32BE(p) * TWO_32 + this.buf.readUInt32BE(p + 4);
  }
  bool(): boolean {
    return this.buf[this.take(1)] !== 0;
  }

  /** Kafka's unsigned varint, at most 5 bytes and 32 bits; returned as a non-negative number. */
  uvarint(): number {
    const start = this.pos;
    let value = 0;
    let scale = 1;
    for (let i = 0; i < 5; i++) {
      const b = this.buf[this.take(1)]!;
      value += (b & 0x7f) * scale;
      if (b < 0x80) {
        if (value >= TWO_32) break;
        return value;
      }
      scale *= 128;
    }
    throw new ProtocolError('VARINT_TOO_LONG', { offset: start });
  }
}

export class Writer {
  readonly buf: Buffer;
  pos: number;
  constructor(buf: Buffer, pos = 0) {
    this.buf = buf;
    this.pos = pos;
  }
  int8(v: number): void {
    this.pos = this.buf.writeInt8(v, this.pos);
  }
  int16(v: number): void {
    this.pos = this.buf.writeInt16BE(v, this.pos);
  }
  int32(v: number): void {
    this.pos = this.buf.writeInt32BE(v, this.pos);
  }
  int64(v: number): void {
    const hi = Math.floor(v / TWO_32);
    this.buf.writeInt32BE(hi, this.pos);
    this.pos = this.buf.writeUInt32BE(v - hi * TWO_32, this.pos + 4);
  }
  bool(v: boolean): void {
    this.buf[this.pos++] = v ? 1 : 0;
  }
  uvarint(v: number): void {
    while (v >= 0x80) {
      this.buf[this.pos++] = (v % 0x80) | 0x80;
      v = Math.floor(v / 0x80);
    }
    this.buf[this.pos++] = v;
  }
  bytes(b: Buffer): void {
    this.pos += b.copy(this.buf, this.pos);
  }
  /** Writes `s` as UTF-8 whose byte length the caller measured. */
  utf8(s: string, byteLength: number): void {
    this.pos += this.buf.write(s, this.pos, byteLength, 'utf8');
  }
}

export function uvarintSize(v: number): number {
  return v < 0x80 ? 1 : v < 0x4000 ? 2 : v < 0x20_0000 ? 3 : v < 0x1000_0000 ? 4 : 5;
}
