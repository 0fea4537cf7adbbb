// Numbers for benchmark reports.

/** Percentiles of a sample (sorted in place), in the sample's unit. */
export function percentiles(xs: Float64Array | number[], ps: readonly number[]): number[] {
  const s = xs instanceof Float64Array ? xs.sort() : Float64Array.from(xs).sort();
  if (s.length === 0) return ps.map(() => NaN);
  return ps.map((p) => s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!);
}

export const round = (x: number, d = 1) => Math.round(x * 10 ** d) / 10 ** d;
