/**
 * Host-side correlations (METHODS §7.2): Pearson and Spearman on hand-computed values, average ranks for ties
 * (scipy.stats.rankdata / spearmanr), perfect ±1, NaN for constant input, Spearman's invariance to monotone
 * transforms, and meanStd over the finite values only. No tensors, so no backend is needed.
 */
import assert from "node:assert/strict";
import { averageRanks, meanStd, pearson, spearman } from "../lib/saliency/correlations.ts";
import { SaliencyInputError } from "../lib/saliency/errors.ts";
import { thrown } from "./helpers/errors.ts";

const close = (a: number, b: number, tol = 1e-12, what = "") =>
  assert.ok(Math.abs(a - b) <= tol, `${what}: got ${a}, expected ${b}`);

function lcg(seed: number): () => number {
  let s = seed;
  return () => {
    s = (s * 1103515245 + 12345) % 2147483648;
    return s / 2147483648;
  };
}

Deno.test("averageRanks: 1-based, ties get the average of the ranks they span", () => {
  assert.deepEqual(Array.from(averageRanks([10, 20, 20, 30])), [1, 2.5, 2.5, 4]);
  // sorted: 1 (index 1) -> 1, 2 (index 4) -> 2, the three 3s span ranks 3, 4, 5 -> 4.
  assert.deepEqual(Array.from(averageRanks([3, 1, 3, 3, 2])), [4, 1, 4, 4, 2]);
  assert.deepEqual(Array.from(averageRanks([-0, 0, -Infinity, Infinity])), [2.5, 2.5, 1, 4]);
  assert.deepEqual(Array.from(averageRanks([7])), [1]);
  thrown(() => averageRanks([1, NaN]), SaliencyInputError);
});

Deno.test("pearson: hand-computed value, perfect ±1, float32 input", () => {
  // a − 2.5 = [−1.5, −0.5, 0.5, 1.5], b − 5 = [−3, −1, 0, 4]: Σab = 11, Σa² = 5, Σb² = 26 -> 11/√130.
  close(pearson([1, 2, 3, 4], [2, 4, 5, 9]), 11 / Math.sqrt(130), 1e-15, "pearson");
  close(11 / Math.sqrt(130), 0.9647638212377322, 1e-15, "by hand");
  close(pearson([1, 2, 3], [2, 4, 6]), 1, 1e-15, "+1");
  close(pearson([1, 2, 3], [6, 4, 2]), -1, 1e-15, "−1");
  close(pearson(new Float32Array([1, 2, 3, 4]), new Float32Array([2, 4, 5, 9])), 11 / Math.sqrt(130), 1e-15);
  const r = pearson([0.1, 0.2, 0.3], [0.3, 0.6, 0.9]);
  assert.ok(r <= 1 && r > 1 - 1e-15, "clipped to [−1, 1]");
});

Deno.test("spearman: ties by hand (a = [1,2,2,3], b = [1,3,2,4]) gives 3/√10", () => {
  // ranks a = [1, 2.5, 2.5, 4], ranks b = [1, 3, 2, 4]; both have mean 2.5.
  // deviations a: [−1.5, 0, 0, 1.5], b: [−1.5, 0.5, −0.5, 1.5]
  // Σab = 2.25 + 2.25 = 4.5, Σa² = 4.5, Σb² = 5 -> 4.5/√22.5 = √0.9 = 3/√10 ≈ 0.9486833 (scipy: 0.9486832980505138).
  close(spearman([1, 2, 2, 3], [1, 3, 2, 4]), 3 / Math.sqrt(10), 1e-15, "ties");
  close(spearman([1, 2, 2, 3], [1, 3, 2, 4]), 0.9486832980505138, 1e-15, "scipy value");
  // both tied: ranks [1.5, 1.5, 3.5, 3.5] and [1.5, 3.5, 1.5, 3.5]: deviations ±1, Σab = 0 -> 0.
  assert.equal(spearman([1, 1, 2, 2], [1, 2, 1, 2]), 0);
});

Deno.test("spearman: perfect ±1 for monotone relations, and 1 − 6Σd²/(n(n²−1)) without ties", () => {
  assert.equal(spearman([1, 2, 3, 4], [1, 8, 27, 64]), 1);
  assert.equal(spearman([1, 2, 3, 4], [64, 27, 8, 1]), -1);
  const rnd = lcg(42);
  const n = 200;
  const a = Array.from({ length: n }, rnd);
  const b = a.map((v) => v + 0.5 * rnd());
  const ra = averageRanks(a);
  const rb = averageRanks(b);
  let d2 = 0;
  for (let i = 0; i < n; i++) d2 += (ra[i] - rb[i]) ** 2;
  close(spearman(a, b), 1 - (6 * d2) / (n * (n * n - 1)), 1e-12, "closed form");
});

Deno.test("spearman is invariant to strictly increasing transforms (with ties)", () => {
  const rnd = lcg(7);
  const a = Array.from({ length: 500 }, () => Math.round(rnd() * 40) / 4); // many ties
  const b = a.map((v) => Math.round((v + rnd() * 5 - 2.5) * 2) / 2);
  const base = spearman(a, b);
  assert.ok(base > 0.5 && base < 1, `base ${base}`);
  assert.equal(spearman(a.map(Math.exp), b), base);
  assert.equal(spearman(a, b.map((v) => v ** 3 + 5)), base);
  assert.equal(spearman(a.map((v) => 3 * v - 100), b.map((v) => Math.atan(v))), base);
  assert.equal(spearman(a.map((v) => v + 1e-6), b.map((v) => v + 1e-6)), base, "the §7.1 +1e-6 shift");
  assert.equal(spearman(a.map((v) => -v), b), -base, "a decreasing transform flips the sign");
});

Deno.test("constant or NaN input gives NaN; bad lengths are a SaliencyInputError", () => {
  assert.ok(Number.isNaN(pearson([2, 2, 2], [1, 2, 3])));
  assert.ok(Number.isNaN(pearson([1, 2, 3], [0.1, 0.1, 0.1])));
  assert.ok(Number.isNaN(spearman([1, 2, 3], [5, 5, 5])));
  assert.ok(Number.isNaN(spearman(new Float32Array(10), new Float32Array(10))));
  assert.ok(Number.isNaN(spearman([4], [2])), "a single value is constant");
  assert.ok(Number.isNaN(pearson([1, NaN, 3], [1, 2, 3])));
  assert.ok(Number.isNaN(spearman([1, 2, 3], [1, NaN, 3])));
  assert.match(
    thrown(() => pearson([1, 2], [1, 2, 3]), SaliencyInputError).message,
    /same length; got 2 and 3/,
  );
  assert.match(thrown(() => spearman([], []), SaliencyInputError).message, /empty/);
});

Deno.test("meanStd: over the finite values only, population std by default", () => {
  assert.deepEqual(meanStd([2, 4, 4, 4, 5, 5, 7, 9]), { mean: 5, std: 2, count: 8, ignored: 0 });
  assert.deepEqual(meanStd([1, NaN, 3, Infinity]), { mean: 2, std: 1, count: 2, ignored: 2 });
  const s = meanStd([1, NaN, 3], 1);
  assert.equal(s.mean, 2);
  close(s.std, Math.SQRT2, 1e-15, "sample std");
  const none = meanStd([NaN, NaN]);
  assert.ok(Number.isNaN(none.mean) && Number.isNaN(none.std));
  assert.equal(none.count, 0);
  assert.equal(none.ignored, 2);
  assert.ok(Number.isNaN(meanStd([0.5], 1).std), "one value has no sample std");
  assert.equal(meanStd([0.5]).std, 0);
  assert.equal(meanStd(new Float32Array([0.25, 0.75])).mean, 0.5);
  thrown(() => meanStd([1], -1), SaliencyInputError);
});
