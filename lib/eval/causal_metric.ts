/**
 * The deletion and insertion metrics of RISE (Petsiuk, Das & Saenko, BMVC 2018, §4.1; the authors' evaluation.py
 * CausalMetric): pixels are moved from a start image to a finish image in order of decreasing saliency, `step`
 * pixels at a time, and the target's probability is recorded before the first move and after each (n + 1
 * points, n = ⌈HW / step⌉); the score is the area under that curve on [0, 1] by the trapezoid rule,
 * (Σ s − s₀/2 − sₙ/2) / n. Deletion starts from the image and moves to a substrate of zeros (low AUC = faithful);
 * insertion starts from the image blurred and moves to the image (high AUC = faithful). The blur is theirs: an
 * 11x11 kernel, scipy.ndimage.gaussian_filter of a centred unit impulse with σ = 5 (truncate 4, reflect mode),
 * applied per channel with zero padding. Defaults are theirs too: 224 pixels a step (a row of a 224 x 224 image).
 * The order is np.flip of a stable ascending argsort: equal saliencies go higher pixel index first.
 * Everything is in the model's input space (the normalised tensor), as theirs. Steps are batched; nothing is read
 * back until the curve is done.
 */
import { type Tensor, tf } from "../runtime/tf.ts";
import type { Network } from "../nets/network.ts";
import type { NetWeights } from "../nets/weights.ts";
import { runProbed } from "../nets/probes.ts";
import { type Probability, targetProbabilities } from "../saliency/seeds.ts";

export type CausalMode = "deletion" | "insertion";

export interface CausalOptions {
  /** Pixels moved per step (default 224). */
  step?: number;
  /** The image the pixels come from / go to besides the input: default zeros for deletion, blur for insertion. */
  substrate?: "zero" | "blur";
  probability?: Probability;
  /** Curve points per forward pass (default 32). */
  batch?: number;
}

export interface CausalCurve {
  /** The target's probability before the first move and after each: n + 1 values. */
  scores: Float32Array;
  auc: number;
}

const KLEN = 11;
const NSIG = 5;

/** scipy.ndimage.gaussian_filter1d of a unit impulse at the centre of KLEN samples (σ NSIG, truncate 4, reflect). */
function impulseResponse1d(): number[] {
  const radius = Math.round(4 * NSIG); // scipy: int(truncate * sd + 0.5)
  const taps = Array.from({ length: 2 * radius + 1 }, (_, j) => Math.exp(-0.5 * ((j - radius) / NSIG) ** 2));
  const total = taps.reduce((a, b) => a + b);
  // 'reflect' extends d c b a | a b c d | d c b a (the edge sample repeated)
  const reflect = (i: number) => {
    const period = 2 * KLEN;
    const m = ((i % period) + period) % period;
    return m < KLEN ? m : period - 1 - m;
  };
  const centre = Math.floor(KLEN / 2);
  return Array.from({ length: KLEN }, (_, i) => {
    let v = 0;
    for (let j = -radius; j <= radius; j++) if (reflect(i + j) === centre) v += taps[j + radius] / total;
    return v;
  });
}

/** The 11x11 blur kernel of RISE's insertion substrate (separable: the outer product of the 1-D responses). */
export function insertionBlurKernel(): number[][] {
  const k = impulseResponse1d();
  return k.map((a) => k.map((b) => a * b));
}

/** RISE's blurred substrate of images [N, H, W, C]: the kernel per channel, zero padding. */
export function blurSubstrate(images: Tensor): Tensor {
  return tf.tidy(() => {
    const c = images.shape[3]!;
    const k = tf.tensor(insertionBlurKernel().flat(), [KLEN, KLEN, 1, 1]);
    return tf.depthwiseConv2d(images as tf.Tensor4D, tf.tile(k, [1, 1, c, 1]) as tf.Tensor4D, 1, "same");
  });
}

/** Pixel indices in order of decreasing saliency, equal values higher index first. */
export function pixelOrder(saliency: ArrayLike<number>): Int32Array {
  const idx = Array.from({ length: saliency.length }, (_, i) => i);
  idx.sort((a, b) => saliency[a] - saliency[b] || a - b); // stable ascending
  return Int32Array.from(idx.reverse());
}

/** Trapezoid area of n + 1 equally spaced points on [0, 1]. */
export function curveArea(scores: ArrayLike<number>): number {
  const n = scores.length - 1;
  let sum = 0;
  for (let i = 0; i <= n; i++) sum += scores[i];
  return (sum - scores[0] / 2 - scores[n] / 2) / n;
}

/** The curve of one image [1, H, W, 3] for target `target` with saliency [H·W] (row-major). */
export async function causalCurve(
  net: Network,
  weights: NetWeights,
  image: Tensor,
  target: number,
  saliency: ArrayLike<number>,
  mode: CausalMode,
  options: CausalOptions = {},
): Promise<CausalCurve> {
  const [height, width] = [image.shape[1]!, image.shape[2]!];
  const pixels = height * width;
  if (image.shape[0] !== 1) throw new RangeError(`one image at a time, got a batch of ${image.shape[0]}`);
  if (saliency.length !== pixels) {
    throw new RangeError(`the saliency has ${saliency.length} values for a ${height}x${width} image`);
  }
  const step = options.step ?? 224;
  const batch = options.batch ?? 32;
  for (const [key, v] of [["step", step], ["batch", batch]] as const) {
    if (!Number.isInteger(v) || v < 1) throw new RangeError(`${key} must be a positive integer, got ${v}`);
  }
  const substrateKind = options.substrate ?? (mode === "deletion" ? "zero" : "blur");
  const n = Math.ceil(pixels / step);
  const order = pixelOrder(saliency);
  const rank = new Float32Array(pixels);
  order.forEach((p, r) => (rank[p] = r));
  const ranks = tf.tensor(rank, [1, height, width, 1]);
  const substrate = substrateKind === "zero" ? tf.zerosLike(image) : blurSubstrate(image);
  const [start, finish] = mode === "deletion" ? [image, substrate] : [substrate, image];
  const parts: Tensor[] = [];
  try {
    for (let from = 0; from <= n; from += batch) {
      const size = Math.min(batch, n + 1 - from);
      parts.push(tf.tidy(() => {
        const moved = tf.tensor(Array.from({ length: size }, (_, i) => Math.min((from + i) * step, pixels)), [
          size,
          1,
          1,
          1,
        ]);
        const mask = tf.cast(tf.less(ranks, moved), "float32"); // [size, H, W, 1]
        const inputs = tf.add(start, tf.mul(mask, tf.sub(finish, start)));
        const r = runProbed(net, weights, inputs);
        try {
          if (r.output.rank !== 2) {
            throw new RangeError(
              `deletion / insertion need a classifier's [N, K] output, got [${r.output.shape}]`,
            );
          }
          return targetProbabilities(r.output, target, options.probability);
        } finally {
          r.dispose();
        }
      }));
    }
    const all = tf.concat(parts);
    const scores = await all.data() as Float32Array;
    all.dispose();
    return { scores, auc: curveArea(scores) };
  } finally {
    tf.dispose([ranks, substrate, ...parts]);
  }
}
