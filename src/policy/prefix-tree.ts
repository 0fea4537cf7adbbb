// A set of string prefixes that answers one question fast: of the prefixes of this name, which
// is the longest? Each prefix carries a value, and values are folded from the shortest prefix
// to the longest when the tree is built (`combine`), so the longest match alone answers for
// every shorter one.
//
// Built as a radix tree, then compressed: a run of nodes that each have one child becomes one
// edge whose label is their labels joined, with "marks" at the offsets where a prefix ends.
// A lookup therefore costs one comparison per branching edge, and at most one binary search on
// the last edge, however many prefixes share the name's stem. (bench/authorize.ts worst-prefix:
// a 207-character name with a prefix at every length took ~3.3 µs walking node by node.)

interface BuildNode<V> {
  label: string;
  value: V | undefined;
  children: Map<number, BuildNode<V>> | undefined;
}

interface Edge<C> {
  /** The characters this edge consumes; the first one is its key in the parent's map. */
  label: string;
  /** Offsets into label (1..label.length) where a prefix ends, ascending. */
  marks: number[];
  /** The folded value at each mark. */
  folded: C[];
  /** The folded value once the whole label has matched (the last mark's, or the parent's). */
  end: C | undefined;
  children: Map<number, Edge<C>> | undefined;
}

export class PrefixTreeBuilder<V> {
  readonly #root: BuildNode<V> = { label: '', value: undefined, children: undefined };

  /** The value stored for this prefix, creating it with `create` when absent. */
  upsert(prefix: string, create: () => V): V {
    const node = this.#insert(prefix);
    return (node.value ??= create());
  }

  #insert(key: string): BuildNode<V> {
    let node = this.#root;
    let i = 0;
    for (;;) {
      if (i === key.length) return node;
      node.children ??= new Map();
      const c = key.charCodeAt(i);
      const child = node.children.get(c);
      if (!child) {
        const leaf: BuildNode<V> = { label: key.slice(i), value: undefined, children: undefined };
        node.children.set(c, leaf);
        return leaf;
      }
      let common = 0;
      const max = Math.min(child.label.length, key.length - i);
      while (common < max && child.label.charCodeAt(common) === key.charCodeAt(i + common)) common++;
      if (common < child.label.length) {
        // Split the edge where the new key leaves it.
        const split: BuildNode<V> = { label: child.label.slice(0, common), value: undefined, children: new Map() };
        child.label = child.label.slice(common);
        split.children!.set(child.label.charCodeAt(0), child);
        node.children.set(c, split);
        node = split;
      } else {
        node = child;
      }
      i += common;
    }
  }

  /** Freezes the tree, folding values from short prefixes to long ones. */
  build<C>(combine: (shorter: C | undefined, own: V) => C): PrefixTree<C> {
    const rootFolded = this.#root.value === undefined ? undefined : combine(undefined, this.#root.value);
    const compress = (start: BuildNode<V>, inherited: C | undefined): Edge<C> => {
      let label = '';
      const marks: number[] = [];
      const folded: C[] = [];
      let acc = inherited;
      let n = start;
      for (;;) {
        label += n.label;
        if (n.value !== undefined) {
          acc = combine(acc, n.value);
          marks.push(label.length);
          folded.push(acc);
        }
        if (n.children?.size !== 1) break;
        n = n.children.values().next().value!;
      }
      return { label, marks, folded, end: acc, children: compressChildren(n, acc) };
    };
    const compressChildren = (n: BuildNode<V>, acc: C | undefined) =>
      n.children === undefined ? undefined : new Map([...n.children].map(([c, child]) => [c, compress(child, acc)]));
    return new PrefixTree(rootFolded, compressChildren(this.#root, rootFolded));
  }
}

/**
 * Whether `name` continues with `label` at offset i. V8's startsWith compares character by
 * character (~4 ns each: 870 ns for a 201-character label), while === on a slice compares
 * memory (~60 ns for the same label), so long labels take the slice.
 */
function matchesAt(name: string, label: string, i: number): boolean {
  return label.length <= 16 ? name.startsWith(label, i) : name.slice(i, i + label.length) === label;
}

/** How many characters of `label` the name follows from offset i: 32 at a time, then one by one. */
function commonLength(name: string, i: number, label: string): number {
  const max = Math.min(label.length, name.length - i);
  let k = 0;
  while (k + 32 <= max && name.slice(i + k, i + k + 32) === label.slice(k, k + 32)) k += 32;
  while (k < max && name.charCodeAt(i + k) === label.charCodeAt(k)) k++;
  return k;
}

export class PrefixTree<C> {
  readonly #root: C | undefined;
  readonly #children: Map<number, Edge<C>> | undefined;

  constructor(root: C | undefined, children: Map<number, Edge<C>> | undefined) {
    this.#root = root;
    this.#children = children;
  }

  /** The folded value of the longest stored prefix of `name`, or undefined when none is. */
  longestPrefixOf(name: string): C | undefined {
    let best = this.#root;
    let children = this.#children;
    let i = 0;
    for (;;) {
      if (children === undefined || i === name.length) return best;
      const edge = children.get(name.charCodeAt(i));
      if (edge === undefined) return best;
      const label = edge.label;
      if (matchesAt(name, label, i)) {
        i += label.length;
        if (edge.end !== undefined) best = edge.end;
        children = edge.children;
        continue;
      }
      // The name leaves this edge partway: find how far it follows, then the last mark there.
      const k = commonLength(name, i, label);
      const marks = edge.marks;
      let lo = 0;
      let hi = marks.length;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (marks[mid]! <= k) lo = mid + 1;
        else hi = mid;
      }
      return lo > 0 ? edge.folded[lo - 1] : best;
    }
  }
}
