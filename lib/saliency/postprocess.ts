/**
 * Post-processing of saliency maps (METHODS §3.6, §6, §13): bilinear resizing with PyTorch's
 * align_corners=False geometry, TorchRay's Gaussian smoothing (replicate padding, separable), per-image
 * min-max normalisation with an explicit constant-map rule, and the first maximum in row-major order
 * (the pointing game's argmax).
 *
 * Conventions: a saliency map is an NHWC float32 tensor [N, H, W, 1]. Every function here leaves its
 * input tensors alone (the caller still owns and disposes them) and returns NEW tensors that the caller
 * owns and must dispose. Intermediates are freed with tf.tidy. Bad input throws SaliencyInputError.
 */
import { type Tensor, tf } from "../runtime/tf.ts";
import { SaliencyInputError } from "./errors.ts";
import { readTogether } from "../runtime/read_together.ts";

/** Fraction of the image's longer side used as the Gaussian sigma for input-layer maps (§3.6, `smooth`). */
export const SMOOTH_FRACTION = 0.02;

/** The epsilon TorchRay adds to √2·σ in the tap formula (float32 machine epsilon). */
export const TAP_EPSILON = 1.1920929e-7;

/** A pixel position: `x` is the column, `y` the row, both 0-based. */
export interface PixelPoint {
  x: number;
  y: number;
}

/**
 * Checks that `map` is a saliency map: rank 4, one channel, float32, no empty dimension.
 * Throws SaliencyInputError naming `what` and the shape that was given.
 */
export function assertSaliencyMap(map: Tensor, what = "saliency map"): void {
  if (!(map instanceof tf.Tensor)) {
    throw new SaliencyInputError(`${what} must be a tf.Tensor of shape [N, H, W, 1]; got ${typeof map}`);
  }
  if (map.rank !== 4 || map.shape[3] !== 1) {
    throw new SaliencyInputError(
      `${what} must have shape [N, H, W, 1] (NHWC, one channel); got [${map.shape.join(", ")}]`,
    );
  }
  if (map.shape.some((d) => d < 1)) {
    throw new SaliencyInputError(`${what} must have N, H, W >= 1; got [${map.shape.join(", ")}]`);
  }
  if (map.dtype !== "float32") {
    throw new SaliencyInputError(`${what} must be float32; got ${map.dtype}`);
  }
}

/** Checks a target size [H, W] of positive integers; throws SaliencyInputError otherwise. */
export function assertSize(size: readonly number[], what = "size"): asserts size is [number, number] {
  if (
    !Array.isArray(size) || size.length !== 2 || !size.every((d) => Number.isInteger(d) && d >= 1)
  ) {
    throw new SaliencyInputError(
      `${what} must be [H, W] with two positive integers; got ${JSON.stringify(size)}`,
    );
  }
}

/**
 * Resizes maps [N, h, w, 1] -> [N, H, W, 1] by bilinear interpolation with half-pixel centres and
 * align_corners=false, i.e. PyTorch `F.interpolate(mode='bilinear', align_corners=False)`: output pixel d
 * samples source coordinate (d + 0.5)·(in/out) − 0.5, clamped to the edge. No antialiasing on downsampling.
 * Always returns a new tensor (a copy when the size is unchanged); the caller disposes it and `map`.
 */
export function resizeMap(map: Tensor, size: readonly [number, number]): Tensor {
  assertSaliencyMap(map);
  assertSize(size);
  const [h, w] = size;
  if (map.shape[1] === h && map.shape[2] === w) return tf.clone(map);
  return tf.tidy(() => tf.image.resizeBilinear(map as tf.Tensor4D, [h, w], false, true));
}

/** Kernel half-width for sigma: Wk = ceil(4σ) (§3.6). */
export function gaussianHalfWidth(sigma: number): number {
  assertSigma(sigma);
  return Math.ceil(4 * sigma);
}

/**
 * The 1-D Gaussian taps of §3.6 in float64, length 2·Wk + 1, index k holding tap i = k − Wk:
 * f_i ∝ exp(−(i / (√2·σ + 1.1920929e-7))²), normalised to sum to 1. σ = 0 gives the single tap [1].
 */
export function gaussianTaps(sigma: number): Float64Array {
  const wk = gaussianHalfWidth(sigma);
  const taps = new Float64Array(2 * wk + 1);
  const scale = Math.SQRT2 * sigma + TAP_EPSILON;
  let total = 0;
  for (let i = -wk; i <= wk; i++) {
    const t = Math.exp(-((i / scale) ** 2));
    taps[i + wk] = t;
    total += t;
  }
  for (let k = 0; k < taps.length; k++) taps[k] /= total;
  return taps;
}

function assertSigma(sigma: number): void {
  if (typeof sigma !== "number" || !Number.isFinite(sigma) || sigma < 0) {
    throw new SaliencyInputError(`sigma must be a finite number >= 0; got ${sigma}`);
  }
}

/** Indices 0..n−1 extended by `pad` on both sides with the edge index repeated (replicate padding). */
function replicateIndices(n: number, pad: number): Int32Array {
  const idx = new Int32Array(n + 2 * pad);
  for (let k = 0; k < idx.length; k++) idx[k] = Math.min(n - 1, Math.max(0, k - pad));
  return idx;
}

/**
 * Gaussian smoothing of maps [N, H, W, 1] -> [N, H, W, 1], exactly as §3.6 (TorchRay): half-width
 * Wk = ceil(4σ), taps from gaussianTaps(σ), REPLICATE padding by Wk on all four sides (also when Wk exceeds
 * the map size: the edge value is repeated), then a valid vertical convolution followed by a valid
 * horizontal one. A constant map stays constant; the total is preserved for mass at least Wk from the
 * borders. σ must be finite and >= 0 (σ = 0 returns a copy). Returns a new tensor the caller disposes;
 * `map` is left alone.
 */
export function gaussianSmooth(map: Tensor, sigma: number): Tensor {
  assertSaliencyMap(map);
  const taps = gaussianTaps(sigma);
  const wk = (taps.length - 1) / 2;
  if (wk === 0) return tf.clone(map);
  const [, h, w] = map.shape;
  return tf.tidy(() => {
    const k = Float32Array.from(taps);
    const rows = tf.tensor1d(replicateIndices(h, wk), "int32");
    const cols = tf.tensor1d(replicateIndices(w, wk), "int32");
    const padded = tf.gather(tf.gather(map, rows, 1), cols, 2) as tf.Tensor4D;
    const vertical = tf.tensor4d(k, [taps.length, 1, 1, 1]);
    const horizontal = tf.tensor4d(k, [1, taps.length, 1, 1]);
    const v = tf.conv2d(padded, vertical, 1, "valid");
    return tf.conv2d(v, horizontal, 1, "valid");
  });
}

/**
 * Smoothing of an input-layer map that has already been resized to the image size [H, W] (§3.6):
 * gaussianSmooth with σ = 0.02 · max(H, W). `map` must be [N, H, W, 1] with exactly that H and W
 * (else SaliencyInputError: smoothing belongs after the resize). Returns a new tensor the caller disposes.
 */
export function smoothForImage(map: Tensor, size: readonly [number, number]): Tensor {
  assertSaliencyMap(map);
  assertSize(size, "image size");
  const [h, w] = size;
  if (map.shape[1] !== h || map.shape[2] !== w) {
    throw new SaliencyInputError(
      `smoothForImage: the map must already be resized to the image size [${h}, ${w}]; ` +
        `got a map of shape [${map.shape.join(", ")}] (call resizeMap first)`,
    );
  }
  return gaussianSmooth(map, SMOOTH_FRACTION * Math.max(h, w));
}

/**
 * Per-image min-max normalisation of maps [N, H, W, 1] -> [N, H, W, 1]: for each batch item,
 * (m − min) / (max − min) over its H × W values, so each image spans exactly [0, 1].
 *
 * Constant-map rule (the authors' code has no epsilon and gives 0/0 = NaN; §6 leaves it open): an image whose
 * max equals its min becomes ALL ONES. One is neutral in the product combination (m^w = 1) and in a
 * weighted sum it adds a uniform offset, which does not move the argmax. Non-finite input values
 * propagate as NaN (they are not rescued by the constant rule). Returns a new tensor the caller disposes.
 */
export function minMaxNormalise(map: Tensor): Tensor {
  assertSaliencyMap(map);
  return tf.tidy(() => {
    const lo = tf.min(map, [1, 2], true);
    const hi = tf.max(map, [1, 2], true);
    const range = tf.sub(hi, lo);
    const constant = tf.equal(range, 0);
    const safeRange = tf.where(constant, tf.onesLike(range), range);
    const scaled = tf.div(tf.sub(map, lo), safeRange);
    return tf.where(tf.broadcastTo(constant, map.shape), tf.onesLike(map), scaled);
  });
}

/**
 * The first maximum of flattened per-image values in row-major order, from host data: `values` holds
 * N images of H × W values each (the layout of a [N, H, W, 1] tensor's data). Throws SaliencyInputError on a
 * NaN (a map with NaN has no meaningful maximum) or when the length is not N·H·W.
 */
export function firstArgmaxOfValues(
  values: ArrayLike<number>,
  shape: readonly [number, number, number],
): PixelPoint[] {
  const [n, h, w] = shape;
  if (values.length !== n * h * w) {
    throw new SaliencyInputError(`expected ${n}·${h}·${w} = ${n * h * w} values; got ${values.length}`);
  }
  const points: PixelPoint[] = [];
  const plane = h * w;
  for (let b = 0; b < n; b++) {
    const base = b * plane;
    let best = values[base];
    let at = 0;
    for (let k = 0; k < plane; k++) {
      const v = values[base + k];
      if (Number.isNaN(v)) {
        throw new SaliencyInputError(
          `map of image ${b} has NaN at (x=${k % w}, y=${Math.floor(k / w)}); its maximum is undefined`,
        );
      }
      if (v > best) {
        best = v;
        at = k;
      }
    }
    points.push({ x: at % w, y: Math.floor(at / w) });
  }
  return points;
}

/**
 * Per image of maps [N, H, W, 1], the position {x (column), y (row)} of the FIRST maximum in row-major
 * order (ties resolve to the smallest y, then the smallest x), as TorchRay's pointing game needs (§13).
 * The scan runs on the host so the tie rule does not depend on a backend's argMax kernel. Asynchronous
 * (`map.data()`), so it also works on webgpu. Returns one point per image; `map` is left alone.
 * Throws SaliencyInputError on a malformed map or one containing NaN.
 */
export async function firstArgmax(map: Tensor): Promise<PixelPoint[]> {
  assertSaliencyMap(map);
  return (await firstArgmaxAll([map]))[0];
}

/**
 * firstArgmax of several maps (each [N, H, W, 1], sizes may differ) read back in ONE transfer
 * (lib/runtime/read_together.ts): the pointing game reads every layer and combination of every method per
 * image, each read a round trip on webgpu. Same contract per map; the maps are left alone.
 */
export async function firstArgmaxAll(maps: readonly Tensor[]): Promise<PixelPoint[][]> {
  maps.forEach((m, i) => assertSaliencyMap(m, `saliency map ${i}`));
  const values = await readTogether(maps);
  return maps.map((m, k) => {
    const [n, h, w] = m.shape as number[];
    return firstArgmaxOfValues(values[k], [n, h, w]);
  });
}

/** Synchronous firstArgmax for backends that can read synchronously (cpu, wasm); same contract. */
export function firstArgmaxSync(map: Tensor): PixelPoint[] {
  assertSaliencyMap(map);
  const [n, h, w] = map.shape;
  return firstArgmaxOfValues(map.dataSync(), [n, h, w]);
}
