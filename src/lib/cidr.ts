// IP address and CIDR matching for host access lists and grant hosts. Addresses are parsed once,
// at compile time, into a matcher; matching a client address is a few integer comparisons.
import { isIPv4, isIPv6 } from 'node:net';

export type HostMatcher = (address: string) => boolean;

/** Parses an address or CIDR block; returns undefined when it is not one. */
export function parseCidr(text: string): { family: 4 | 6; bits: bigint; prefix: number } | undefined {
  const [addr, prefixText, extra] = text.split('/');
  if (extra !== undefined || addr === undefined) return undefined;
  const family = isIPv4(addr) ? 4 : isIPv6(addr) ? 6 : undefined;
  if (!family) return undefined;
  const width = family === 4 ? 32 : 128;
  const prefix = prefixText === undefined ? width : Number(prefixText);
  if (!Number.isInteger(prefix) || prefix < 0 || prefix > width || (prefixText !== undefined && !/^[0-9]{1,3}$/.test(prefixText))) return undefined;
  const bits = addressBits(addr, family);
  return { family, bits: prefix === 0 ? 0n : (bits >> BigInt(width - prefix)) << BigInt(width - prefix), prefix };
}

function addressBits(addr: string, family: 4 | 6): bigint {
  if (family === 4) return addr.split('.').reduce((acc, octet) => (acc << 8n) | BigInt(Number(octet)), 0n);
  const [head = '', tail] = addr.split('::');
  const parseGroups = (s: string) => (s === '' ? [] : s.split(':'));
  let groups = parseGroups(head);
  let tailGroups = tail === undefined ? [] : parseGroups(tail);
  // An embedded IPv4 tail (::ffff:10.0.0.1) counts as two groups.
  const last = (tail === undefined ? groups : tailGroups).at(-1);
  if (last && last.includes('.')) {
    const v4 = addressBits(last, 4);
    const replacement = [((v4 >> 16n) & 0xffffn).toString(16), (v4 & 0xffffn).toString(16)];
    if (tail === undefined) groups = [...groups.slice(0, -1), ...replacement];
    else tailGroups = [...tailGroups.slice(0, -1), ...replacement];
  }
  const all = tail === undefined ? groups : [...groups, ...Array<string>(8 - groups.length - tailGroups.length).fill('0'), ...tailGroups];
  return all.reduce((acc, g) => (acc << 16n) | BigInt(parseInt(g, 16)), 0n);
}

/** Normalizes an IPv4-mapped IPv6 address (::ffff:10.0.0.1), as Node reports them on dual-stack sockets. */
export function normalizeAddress(address: string): string {
  return address.startsWith('::ffff:') && isIPv4(address.slice(7)) ? address.slice(7) : address;
}

/** A matcher for a list of addresses and CIDR blocks. An empty list matches nothing. */
export function compileHostMatcher(list: readonly string[]): HostMatcher {
  const blocks = list.map((text) => {
    const block = parseCidr(text);
    if (!block) throw new Error(`not an IP address or CIDR block: ${text}`);
    return block;
  });
  return (address: string) => {
    const a = normalizeAddress(address);
    const family = isIPv4(a) ? 4 : isIPv6(a) ? 6 : undefined;
    if (!family) return false; // fail closed on anything that is not an address
    const bits = addressBits(a, family);
    const width = family === 4 ? 32 : 128;
    return blocks.some((b) => b.family === family && (b.prefix === 0 || (bits >> BigInt(width - b.prefix)) << BigInt(width - b.prefix) === b.bits));
  };
}
