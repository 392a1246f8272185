/**
 * Saliency post-processing on the wasm backend: bilinear resizing matches the half-pixel (PyTorch
 * align_corners=False) formula on hand-computed values, Gaussian smoothing matches §3.6 (taps, replicate
 * padding, separable order), min-max normalisation is per image with constant maps becoming all ones, the
 * argmax is the first maximum in row-major order, bad input is a SaliencyInputError, and nothing leaks.
 */
import assert from "node:assert/strict";
import { initBackend } from "../lib/runtime/backend.ts";
import { type Tensor, tf } from "../lib/runtime/tf.ts";
import {
  firstArgmax,
  firstArgmaxAll,
  firstArgmaxOfValues,
  firstArgmaxSync,
  gaussianHalfWidth,
  gaussianSmooth,
  gaussianTaps,
  minMaxNormalise,
  resizeMap,
  smoothForImage,
} from "../lib/saliency/postprocess.ts";
import { SaliencyInputError } from "../lib/saliency/errors.ts";
import { assertClose, relErr } from "./helpers/compare.ts";
import { thrown } from "./helpers/errors.ts";

await initBackend("wasm");

/** [H][W] nested array -> [1, H, W, 1] tensor. */
function map2d(rows: number[][]): Tensor {
  return tf.tensor4d(rows.flat(), [1, rows.length, rows[0].length, 1]);
}

/** Float64 reference of half-pixel bilinear resizing of one [h][w] plane (PyTorch align_corners=False). */
function resizeRef(src: number[][], outH: number, outW: number): number[][] {
  const h = src.length;
  const w = src[0].length;
  const coord = (d: number, inSize: number, outSize: number) => {
    const s = Math.max(0, (d + 0.5) * (inSize / outSize) - 0.5);
    const i0 = Math.min(Math.floor(s), inSize - 1);
    const i1 = Math.min(i0 + 1, inSize - 1);
    return [i0, i1, s - i0] as const;
  };
  const out: number[][] = [];
  for (let y = 0; y < outH; y++) {
    const [y0, y1, fy] = coord(y, h, outH);
    const row: number[] = [];
    for (let x = 0; x < outW; x++) {
      const [x0, x1, fx] = coord(x, w, outW);
      const top = src[y0][x0] * (1 - fx) + src[y0][x1] * fx;
      const bottom = src[y1][x0] * (1 - fx) + src[y1][x1] * fx;
      row.push(top * (1 - fy) + bottom * fy);
    }
    out.push(row);
  }
  return out;
}

/** Float64 reference of §3.6 on one plane: replicate padding by Wk, vertical then horizontal valid conv. */
function smoothRef(src: number[][], taps: ArrayLike<number>): number[][] {
  const h = src.length;
  const w = src[0].length;
  const wk = (taps.length - 1) / 2;
  const at = (y: number, x: number) => src[Math.min(h - 1, Math.max(0, y))][Math.min(w - 1, Math.max(0, x))];
  const vertical: number[][] = [];
  for (let y = 0; y < h; y++) {
    const row: number[] = [];
    for (let x = -wk; x < w + wk; x++) {
      let s = 0;
      for (let k = 0; k < taps.length; k++) s += taps[k] * at(y + k - wk, x);
      row.push(s);
    }
    vertical.push(row);
  }
  return vertical.map((row) =>
    Array.from({ length: w }, (_, x) => {
      let s = 0;
      for (let k = 0; k < taps.length; k++) s += taps[k] * row[x + k];
      return s;
    })
  );
}

function randomPlane(h: number, w: number, seed: number): number[][] {
  let s = seed;
  const next = () => {
    s = (s * 1103515245 + 12345) % 2147483648;
    return s / 2147483648;
  };
  return Array.from({ length: h }, () => Array.from({ length: w }, () => next() * 4 - 1));
}

Deno.test("resizeMap: 2x2 -> 4x4 by the half-pixel formula, hand-computed", () => {
  // Source coordinate of output pixel d: (d + 0.5)·(2/4) − 0.5 = −0.25, 0.25, 0.75, 1.25, clamped to [0, 1]
  // -> weights of the second pixel 0, 0.25, 0.75, 1. Row [1, 2] -> [1, 1.25, 1.75, 2]; column [1, 3] ->
  // [1, 1.5, 2.5, 3] (F.interpolate(mode='bilinear', align_corners=False) gives the same).
  const m = map2d([[1, 2], [3, 4]]);
  const r = resizeMap(m, [4, 4]);
  assert.deepEqual(r.shape, [1, 4, 4, 1]);
  assertClose(
    r.dataSync(),
    [
      [1, 1.25, 1.75, 2],
      [1.5, 1.75, 2.25, 2.5],
      [2.5, 2.75, 3.25, 3.5],
      [3, 3.25, 3.75, 4],
    ].flat(),
    1e-6,
    "2x2->4x4",
  );
  tf.dispose([m, r]);
});

Deno.test("resizeMap: downsampling 4x4 -> 2x2 averages 2x2 blocks (no antialiasing)", () => {
  // (d + 0.5)·2 − 0.5 = 0.5, 2.5: midway between pixels 0,1 and 2,3.
  const m = map2d([[0, 2, 4, 6], [2, 4, 6, 8], [10, 10, 0, 0], [20, 20, 0, 4]]);
  const r = resizeMap(m, [2, 2]);
  assertClose(r.dataSync(), [2, 6, 15, 1], 1e-6, "4x4->2x2");
  tf.dispose([m, r]);
});

Deno.test("resizeMap: matches a float64 half-pixel reference on a batch of non-square maps", () => {
  const planes = [randomPlane(3, 5, 1), randomPlane(3, 5, 2)];
  const m = tf.tensor4d(planes.flat(2), [2, 3, 5, 1]);
  for (const [h, w] of [[7, 4], [2, 9], [3, 5], [1, 1], [13, 11]] as const) {
    const r = resizeMap(m, [h, w]);
    assert.deepEqual(r.shape, [2, h, w, 1]);
    const expected = planes.flatMap((p) => resizeRef(p, h, w).flat());
    assert.ok(relErr(r, expected) < 1e-6, `${h}x${w}`);
    r.dispose();
  }
  m.dispose();
});

Deno.test("resizeMap: same size returns an independent copy", () => {
  const m = map2d([[1, 2], [3, 4]]);
  const r = resizeMap(m, [2, 2]);
  assert.notEqual(r, m);
  r.dispose();
  assert.deepEqual(Array.from(m.dataSync()), [1, 2, 3, 4]);
  m.dispose();
});

Deno.test("gaussianTaps: σ = 1 gives Wk = 4 and the §3.6 taps computed here in float64", () => {
  assert.equal(gaussianHalfWidth(1), 4);
  assert.equal(gaussianHalfWidth(1.5), 6);
  assert.equal(gaussianHalfWidth(0.26), 2);
  const scale = Math.sqrt(2) * 1 + 1.1920929e-7;
  const raw = [-4, -3, -2, -1, 0, 1, 2, 3, 4].map((i) => Math.exp(-((i / scale) ** 2)));
  const total = raw.reduce((s, v) => s + v, 0);
  const expected = raw.map((v) => v / total);
  // By hand: exp(-1/2) = 0.60653, exp(-2) = 0.13534, exp(-9/2) = 0.011109, exp(-8) = 3.3546e-4;
  // total ≈ 1 + 2·(0.60653 + 0.13534 + 0.011109 + 0.00033546) = 2.50663 (≈ √(2π)), centre ≈ 0.39894.
  assert.ok(Math.abs(expected[4] - 0.398942) < 1e-5);
  assert.ok(Math.abs(expected[3] - 0.241971) < 1e-5);
  const taps = gaussianTaps(1);
  assertClose(taps, expected, 1e-15, "taps");
  assert.deepEqual(Array.from(gaussianTaps(0)), [1]);
});

Deno.test("gaussianSmooth: a delta away from the border becomes the outer product of the 1-D taps", () => {
  const n = 15;
  const c = 7;
  const plane = Array.from(
    { length: n },
    (_, y) => Array.from({ length: n }, (_, x) => (y === c && x === c ? 1 : 0)),
  );
  const m = map2d(plane);
  const s = gaussianSmooth(m, 1);
  const scale = Math.sqrt(2) + 1.1920929e-7;
  const raw = Array.from({ length: 9 }, (_, k) => Math.exp(-(((k - 4) / scale) ** 2)));
  const total = raw.reduce((a, v) => a + v, 0);
  const t = raw.map((v) => v / total);
  const expected = plane.map((row, y) =>
    row.map((_, x) => (Math.abs(y - c) <= 4 && Math.abs(x - c) <= 4 ? t[y - c + 4] * t[x - c + 4] : 0))
  );
  assertClose(s.dataSync(), expected.flat(), 1e-7, "delta");
  tf.dispose([m, s]);
});

Deno.test("gaussianSmooth: the total is preserved for mass away from the borders", () => {
  const plane = Array.from({ length: 20 }, () => Array.from({ length: 22 }, () => 0));
  for (let y = 7; y <= 12; y++) for (let x = 7; x <= 14; x++) plane[y][x] = ((x * 7 + y * 3) % 5) + 0.5;
  const m = map2d(plane); // σ = 1.5: Wk = 6, the mass is >= 7 pixels from every border
  const s = gaussianSmooth(m, 1.5);
  const before = plane.flat().reduce((a, v) => a + v, 0);
  const after = tf.sum(s).dataSync()[0];
  assert.ok(Math.abs(after - before) / before < 1e-6, `sum ${before} -> ${after}`);
  tf.dispose([m, s]);
});

Deno.test("gaussianSmooth: a constant map stays constant (replicate padding, also with Wk > size)", () => {
  const m = tf.fill([2, 7, 9, 1], 3.5);
  for (const sigma of [0.5, 1, 2, 5]) {
    const s = gaussianSmooth(m, sigma);
    assert.deepEqual(s.shape, [2, 7, 9, 1]);
    assertClose(s.dataSync(), new Array(2 * 7 * 9).fill(3.5), 1e-5, `σ=${sigma}`);
    s.dispose();
  }
  m.dispose();
});

Deno.test("gaussianSmooth: matches a float64 replicate-padded separable reference near the borders", () => {
  const planes = [randomPlane(9, 12, 5), randomPlane(9, 12, 6)];
  const m = tf.tensor4d(planes.flat(2), [2, 9, 12, 1]);
  for (const sigma of [0.7, 1.3, 3]) {
    const s = gaussianSmooth(m, sigma);
    const expected = planes.flatMap((p) => smoothRef(p, gaussianTaps(sigma)).flat());
    assert.ok(relErr(s, expected) < 1e-6, `σ=${sigma}: ${relErr(s, expected)}`);
    s.dispose();
  }
  m.dispose();
});

Deno.test("smoothForImage: σ = 0.02 · max(H, W) after the resize; a map of another size is refused", () => {
  const m = tf.tensor4d(randomPlane(30, 50, 9).flat(), [1, 30, 50, 1]);
  const a = smoothForImage(m, [30, 50]); // σ = 1
  const b = gaussianSmooth(m, 1);
  assert.ok(relErr(a, b) === 0);
  const e = thrown(() => smoothForImage(m, [50, 30]), SaliencyInputError);
  assert.match(e.message, /resizeMap/);
  tf.dispose([m, a, b]);
});

Deno.test("minMaxNormalise: per image (m − min)/(max − min); a constant image becomes all ones", () => {
  const m = tf.tensor4d([1, 3, 5, 9, 7, 7, 7, 7, -2, 0, -1, 2], [3, 2, 2, 1]);
  const r = minMaxNormalise(m);
  assert.deepEqual(r.shape, [3, 2, 2, 1]);
  // image 0: min 1, max 9 -> (v − 1)/8; image 1: constant -> ones (the 0/0 rule); image 2: (v + 2)/4.
  assertClose(r.dataSync(), [0, 0.25, 0.5, 1, 1, 1, 1, 1, 0, 0.5, 0.25, 1], 1e-7, "normalised");
  tf.dispose([m, r]);
});

Deno.test("tf.argMax on wasm returns the first of tied maxima (documented, not relied upon)", () => {
  const x = tf.tensor2d([[0, 3, 1, 3, 3], [5, 5, 0, 0, 5]]);
  const i = tf.argMax(x, 1);
  assert.deepEqual(Array.from(i.dataSync()), [1, 0]);
  tf.dispose([x, i]);
});

Deno.test("firstArgmax: the first maximum in row-major order, per image", async () => {
  const m = tf.tensor4d(
    [
      [0, 3, 1, 3, 2, 3], // image 0: ties at (1,0), (0,1), (2,1): first is x=1, y=0
      [0, 0, 1, 4, 0, 4], // image 1: ties at (0,1), (2,1): first is x=0, y=1
      [-5, -4, -3, -2, -1, -0.5], // image 2: single maximum at the last pixel
    ].flat(),
    [3, 2, 3, 1],
  );
  const expected = [{ x: 1, y: 0 }, { x: 0, y: 1 }, { x: 2, y: 1 }];
  assert.deepEqual(await firstArgmax(m), expected);
  assert.deepEqual(firstArgmaxSync(m), expected);
  const flat = tf.reshape(m, [3, 6]);
  const am = tf.argMax(flat, 1);
  const viaTf = Array.from(am.dataSync()).map((k) => ({ x: k % 3, y: Math.floor(k / 3) }));
  assert.deepEqual(viaTf, expected);
  tf.dispose([m, flat, am]);
  const nan = map2d([[0, NaN], [1, 0]]);
  const e = thrown(() => firstArgmaxSync(nan), SaliencyInputError);
  assert.match(e.message, /NaN at \(x=1, y=0\)/);
  nan.dispose();
  thrown(() => firstArgmaxOfValues([1, 2, 3], [1, 2, 2]), SaliencyInputError);
});

Deno.test("firstArgmaxAll: several maps of different sizes in one read, each as firstArgmax", async () => {
  const a = tf.tensor4d([0, 3, 1, 3, 2, 3, 0, 0, 1, 4, 0, 4], [2, 2, 3, 1]); // ties: (1,0) and (0,1)
  const b = tf.tensor4d([1, 2, 9, 9, 0], [1, 5, 1, 1]); // a 5x1 column, first of the tied 9s at y=2
  const c = tf.tensor4d([7], [1, 1, 1, 1]);
  const before = tf.memory().numTensors;
  const all = await firstArgmaxAll([a, b, c]);
  assert.deepEqual(all, [[{ x: 1, y: 0 }, { x: 0, y: 1 }], [{ x: 0, y: 2 }], [{ x: 0, y: 0 }]]);
  assert.deepEqual(all, [await firstArgmax(a), await firstArgmax(b), await firstArgmax(c)]);
  assert.deepEqual(await firstArgmaxAll([b]), [[{ x: 0, y: 2 }]]);
  assert.deepEqual(await firstArgmaxAll([]), []);
  assert.equal(tf.memory().numTensors, before);
  assert.ok(!a.isDisposed && !b.isDisposed && !c.isDisposed);
  const nan = map2d([[0, NaN], [1, 0]]);
  await assert.rejects(
    firstArgmaxAll([a, nan]),
    (e: Error) => e instanceof SaliencyInputError && /NaN/.test(e.message),
  );
  const twoChannels = tf.zeros([1, 2, 2, 2]);
  await assert.rejects(firstArgmaxAll([a, twoChannels]), /saliency map 1 must have shape \[N, H, W, 1\]/);
  assert.equal(tf.memory().numTensors, before + 2);
  tf.dispose([a, b, c, nan, twoChannels]);
});

Deno.test("bad input is a SaliencyInputError naming what is valid", () => {
  const rank3 = tf.zeros([4, 4, 1]);
  const twoChannels = tf.zeros([1, 4, 4, 2]);
  const ints = tf.zeros([1, 4, 4, 1], "int32");
  const ok = tf.zeros([1, 4, 4, 1]);
  assert.match(thrown(() => resizeMap(rank3, [2, 2]), SaliencyInputError).message, /\[N, H, W, 1\]/);
  assert.match(thrown(() => minMaxNormalise(twoChannels), SaliencyInputError).message, /got \[1, 4, 4, 2\]/);
  assert.match(thrown(() => gaussianSmooth(ints, 1), SaliencyInputError).message, /float32/);
  assert.match(thrown(() => resizeMap(ok, [0, 2]), SaliencyInputError).message, /positive integers/);
  assert.match(
    thrown(() => resizeMap(ok, [2.5, 2] as [number, number]), SaliencyInputError).message,
    /positive integers/,
  );
  assert.match(thrown(() => gaussianSmooth(ok, -1), SaliencyInputError).message, />= 0/);
  thrown(() => gaussianSmooth(ok, NaN), SaliencyInputError);
  tf.dispose([rank3, twoChannels, ints, ok]);
});

Deno.test("no tensor leaks after repeated calls", async () => {
  const m = tf.tensor4d(randomPlane(6, 8, 3).flat(), [1, 6, 8, 1]);
  const c = tf.fill([2, 6, 8, 1], 2);
  const before = tf.memory().numTensors;
  for (let i = 0; i < 3; i++) {
    tf.dispose([
      resizeMap(m, [12, 5]),
      resizeMap(m, [6, 8]),
      gaussianSmooth(m, 1.2),
      gaussianSmooth(m, 0),
      smoothForImage(m, [6, 8]),
      minMaxNormalise(m),
      minMaxNormalise(c),
    ]);
    await firstArgmax(m);
    firstArgmaxSync(c);
    try {
      gaussianSmooth(m, -1);
    } catch { /* expected */ }
  }
  assert.equal(tf.memory().numTensors, before);
  tf.dispose([m, c]);
});
