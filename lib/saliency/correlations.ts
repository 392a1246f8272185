/**
 * Host-side statistics for the class-sensitivity metric (METHODS §7): Pearson and Spearman correlation of two
 * flattened saliency maps (Spearman with average ranks for ties, matching `scipy.stats.spearmanr`), and the
 * mean / standard deviation of per-image correlations over the finite ones. All arithmetic is float64 on
 * plain arrays (Float32Array, number[], ...): read tensors with `await t.data()` first. No tensors involved.
 */
import { SaliencyInputError } from "./errors.ts";

function checkPair(a: ArrayLike<number>, b: ArrayLike<number>, what: string): void {
  if (a == null || b == null || typeof a.length !== "number" || typeof b.length !== "number") {
    throw new SaliencyInputError(`${what}: both inputs must be arrays of numbers`);
  }
  if (a.length !== b.length) {
    throw new SaliencyInputError(
      `${what}: the inputs must have the same length; got ${a.length} and ${b.length}`,
    );
  }
  if (a.length === 0) {
    throw new SaliencyInputError(`${what}: the inputs are empty; give at least one value each`);
  }
}

function isConstant(v: ArrayLike<number>): boolean {
  const first = v[0];
  for (let i = 1; i < v.length; i++) if (v[i] !== first) return false;
  return !Number.isNaN(first);
}

function hasNaN(v: ArrayLike<number>): boolean {
  for (let i = 0; i < v.length; i++) if (Number.isNaN(v[i])) return true;
  return false;
}

/** Pearson on already-checked input; float64, two-pass (means first), clipped to [−1, 1] like scipy. */
function pearsonUnchecked(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (isConstant(a) || isConstant(b)) return NaN;
  const n = a.length;
  let ma = 0;
  let mb = 0;
  for (let i = 0; i < n; i++) {
    ma += a[i];
    mb += b[i];
  }
  ma /= n;
  mb /= n;
  let sab = 0;
  let saa = 0;
  let sbb = 0;
  for (let i = 0; i < n; i++) {
    const da = a[i] - ma;
    const db = b[i] - mb;
    sab += da * db;
    saa += da * da;
    sbb += db * db;
  }
  const r = sab / Math.sqrt(saa * sbb);
  return Number.isNaN(r) ? NaN : Math.max(-1, Math.min(1, r));
}

/**
 * Pearson correlation of two equal-length vectors, in float64. Returns NaN when either vector is constant
 * (all values equal, including a single value: the correlation is 0/0; scipy warns and returns NaN too) or
 * contains NaN. Throws SaliencyInputError for different lengths or empty input.
 */
export function pearson(a: ArrayLike<number>, b: ArrayLike<number>): number {
  checkPair(a, b, "pearson");
  return pearsonUnchecked(a, b);
}

/**
 * 1-based ranks with ties given the average of the ranks they span (`scipy.stats.rankdata(method='average')`),
 * e.g. [10, 20, 20, 30] -> [1, 2.5, 2.5, 4]. −0 and +0 tie. Values must not be NaN (throws SaliencyInputError).
 */
export function averageRanks(values: ArrayLike<number>): Float64Array {
  const n = values.length;
  const v = Float64Array.from(values);
  if (hasNaN(v)) throw new SaliencyInputError("averageRanks: NaN cannot be ranked");
  const order = new Uint32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  order.sort((i, j) => (v[i] < v[j] ? -1 : v[i] > v[j] ? 1 : 0));
  const ranks = new Float64Array(n);
  let start = 0;
  while (start < n) {
    let end = start;
    while (end + 1 < n && v[order[end + 1]] === v[order[start]]) end++;
    const rank = (start + end) / 2 + 1;
    for (let k = start; k <= end; k++) ranks[order[k]] = rank;
    start = end + 1;
  }
  return ranks;
}

/**
 * Spearman rank correlation (METHODS §7.2, matches `scipy.stats.spearmanr` with its default
 * nan_policy='propagate'): the Pearson correlation of the average ranks of each vector. Returns NaN when a
 * vector is constant (all ranks tie) or contains NaN. Invariant to strictly increasing transforms of either
 * input. Throws SaliencyInputError for different lengths or empty input.
 */
export function spearman(a: ArrayLike<number>, b: ArrayLike<number>): number {
  checkPair(a, b, "spearman");
  if (hasNaN(a) || hasNaN(b) || isConstant(a) || isConstant(b)) return NaN;
  return pearsonUnchecked(averageRanks(a), averageRanks(b));
}

export interface MeanStd {
  /** Mean of the finite values; NaN when there are none. */
  mean: number;
  /** Standard deviation √(Σ(v − mean)² / (count − ddof)); NaN when count − ddof <= 0. */
  std: number;
  /** How many finite values were used. */
  count: number;
  /** How many values were ignored (NaN or ±Infinity), e.g. images whose maps were constant. */
  ignored: number;
}

/**
 * Mean and standard deviation of the FINITE values (NaN and ±Infinity are ignored and counted in `ignored`),
 * as §7.1 reports mean ρ over the images with a finite ρ. `ddof` = 0 (default) gives the population std,
 * numpy's `np.std` default; 1 gives the sample std. Float64, two-pass.
 */
export function meanStd(values: ArrayLike<number>, ddof = 0): MeanStd {
  if (!Number.isInteger(ddof) || ddof < 0) {
    throw new SaliencyInputError(`meanStd: ddof must be a non-negative integer; got ${ddof}`);
  }
  let count = 0;
  let sum = 0;
  for (let i = 0; i < values.length; i++) {
    if (Number.isFinite(values[i])) {
      count++;
      sum += values[i];
    }
  }
  const ignored = values.length - count;
  if (count === 0) return { mean: NaN, std: NaN, count, ignored };
  const mean = sum / count;
  let ss = 0;
  for (let i = 0; i < values.length; i++) {
    if (Number.isFinite(values[i])) ss += (values[i] - mean) ** 2;
  }
  const std = count - ddof > 0 ? Math.sqrt(ss / (count - ddof)) : NaN;
  return { mean, std, count, ignored };
}
