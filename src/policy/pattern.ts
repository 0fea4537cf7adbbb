// Resource patterns: `*` (any), `orders-*` (prefix), `orders` (literal).
export type Pattern = { kind: 'any' } | { kind: 'prefix'; prefix: string } | { kind: 'literal'; name: string };

export function parsePattern(text: string): Pattern {
  if (text === '*') return { kind: 'any' };
  if (text.endsWith('*')) return { kind: 'prefix', prefix: text.slice(0, -1) };
  return { kind: 'literal', name: text };
}

export function formatPattern(p: Pattern): string {
  return p.kind === 'any' ? '*' : p.kind === 'prefix' ? `${p.prefix}*` : p.name;
}

export function matchesPattern(p: Pattern, name: string): boolean {
  return p.kind === 'any' || (p.kind === 'prefix' ? name.startsWith(p.prefix) : name === p.name);
}

/** The names matched by both patterns, as one pattern; undefined when no name matches both. */
export function intersectPatterns(a: Pattern, b: Pattern): Pattern | undefined {
  if (a.kind === 'any') return b;
  if (b.kind === 'any') return a;
  if (a.kind === 'literal') return matchesPattern(b, a.name) ? a : undefined;
  if (b.kind === 'literal') return matchesPattern(a, b.name) ? b : undefined;
  const [short, long] = a.prefix.length <= b.prefix.length ? [a, b] : [b, a];
  return long.prefix.startsWith(short.prefix) ? long : undefined;
}
