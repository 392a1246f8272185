/**
 * ROAD, RemOve And Debias (Rong, Leemann, Borisov, Kasneci & Kasneci, "A Consistent and Efficient Evaluation
 * Strategy for Attribution Methods", ICML 2022; the authors' code tleemann/road_evaluation, road/imputations.py
 * NoisyLinearImputer and road/imputed_dataset.py; pytorch-grad-cam's metrics/road.py ROADMostRelevantFirst,
 * ROADLeastRelevantFirst, ROADCombined): pixels are removed in order of saliency and filled in by noisy linear
 * imputation, so the model sees no sharp mask edges that leak where the pixels were, and the target's
 * probability is recorded.
 *
 *   order   decreasing saliency, equal values higher pixel index first (lib/eval/causal_metric.ts pixelOrder).
 *           The authors break ties with random jitter (1e-4 · N(0, 1)); here they break deterministically.
 *   MoRF f  removes the first ⌊HW·f⌋ pixels of the order (most relevant first); LeRF f the last ⌊HW·f⌋.
 *           pytorch-grad-cam's percentile p removes the same 100 − p % by thresholding at np.percentile (on
 *           a map without ties the two agree to within a pixel; with ties its threshold removes every tied
 *           pixel or none).
 *   impute  every removed pixel is the weighted mean of its in-image 8 neighbours, the removed ones unknown
 *           too (lib/eval/road_imputation.ts); then `noise` · N(0, 1) is added to each imputed value (their
 *           default 0.01, absolute, in the model's input space; the draws are seeded).
 *   score   the target's probability on each imputed image; pytorch-grad-cam reports it minus the probability
 *           on the image, and ROADCombined = mean over fractions of (LeRF − MoRF) / 2 (higher = more faithful).
 *
 * Defaults: fractions 0.1 … 0.9 (pytorch-grad-cam's percentiles 10 … 90), noise 0.01.
 */
import { type Tensor, tf } from "../runtime/tf.ts";
import type { Network } from "../nets/network.ts";
import type { NetWeights } from "../nets/weights.ts";
import { runProbed } from "../nets/probes.ts";
import { normals } from "../runtime/seeded_random.ts";
import { type Probability, targetProbabilities } from "../saliency/seeds.ts";
import { pixelOrder } from "./causal_metric.ts";
import { imputeLinear } from "./road_imputation.ts";

export { imputeLinear };

export type RoadOrder = "morf" | "lerf";
export const ROAD_ORDERS: readonly RoadOrder[] = ["morf", "lerf"];

export const ROAD_DEFAULTS = {
  fractions: [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9] as readonly number[],
  noise: 0.01,
  seed: 0,
  batch: 9,
};

export class RoadError extends RangeError {
  override name = "RoadError";
}

/** The removed pixels (1 = removed) of MoRF / LeRF at `fraction` for pixels in decreasing-saliency `order`. */
export function removedPixels(order: Int32Array, fraction: number, mode: RoadOrder): Uint8Array {
  const pixels = order.length;
  const count = Math.floor(pixels * fraction);
  const removed = new Uint8Array(pixels);
  const from = mode === "morf" ? 0 : pixels - count;
  for (let r = from; r < from + count; r++) removed[order[r]] = 1;
  return removed;
}

export interface RoadOptions {
  /** Fractions of the pixels removed, each in (0, 1) (default 0.1 … 0.9). */
  fractions?: readonly number[];
  /** Standard deviation of the noise added to imputed values (default 0.01). */
  noise?: number;
  /** Seed of the noise (default 0). */
  seed?: number;
  probability?: Probability;
  /** Imputed images per forward pass (default 9). */
  batch?: number;
}

export interface RoadScores {
  /** The target's probability on the image. */
  base: number;
  /** Per fraction: the probability with that fraction removed, most / least relevant first. */
  morf: number[];
  lerf: number[];
}

/** Checks ROAD's options; a RoadError names the one that is wrong. */
export function checkRoadOptions(options: RoadOptions): void {
  const fractions = options.fractions ?? ROAD_DEFAULTS.fractions;
  if (fractions.length === 0 || fractions.some((f) => !(f > 0 && f < 1))) {
    throw new RoadError(`road fractions must be in (0, 1), got [${fractions.join(", ")}]`);
  }
  const noise = options.noise ?? ROAD_DEFAULTS.noise;
  if (!(noise >= 0 && Number.isFinite(noise))) throw new RoadError(`road noise must be >= 0, got ${noise}`);
  const batch = options.batch ?? ROAD_DEFAULTS.batch;
  if (!Number.isInteger(batch) || batch < 1) throw new RoadError(`road batch must be a positive integer`);
}

/**
 * The imputed images of one image (row-major H × W × C values): MoRF at each fraction, then LeRF at each, each
 * with `noise` · N(0, 1) added at its removed values (one seeded stream per image).
 */
export function roadImages(
  values: ArrayLike<number>,
  [height, width, channels]: readonly [number, number, number],
  saliency: ArrayLike<number>,
  options: { fractions: readonly number[]; noise: number; seed: number },
): Float32Array[] {
  const { fractions, noise, seed } = options;
  const order = pixelOrder(saliency);
  const size = height * width * channels;
  const out: Float32Array[] = [];
  ROAD_ORDERS.forEach((mode, m) =>
    fractions.forEach((f, i) => {
      const removed = removedPixels(order, f, mode);
      const filled = Float32Array.from(imputeLinear(values, height, width, channels, removed));
      if (noise > 0) {
        const draws = normals((seed * 7919 + m * fractions.length + i) >>> 0, size);
        for (let k = 0; k < size; k++) if (removed[Math.floor(k / channels)]) filled[k] += noise * draws[k];
      }
      out.push(filled);
    })
  );
  return out;
}

/** ROAD's MoRF and LeRF probabilities of one image [1, H, W, C] for `target` with saliency [H·W] (row-major). */
export async function roadScores(
  net: Network,
  weights: NetWeights,
  image: Tensor,
  target: number,
  saliency: ArrayLike<number>,
  options: RoadOptions = {},
): Promise<RoadScores> {
  checkRoadOptions(options);
  const [count, height, width, channels] = image.shape as number[];
  if (count !== 1) throw new RoadError(`one image at a time, got a batch of ${count}`);
  if (saliency.length !== height * width) {
    throw new RoadError(`the saliency has ${saliency.length} values for a ${height}x${width} image`);
  }
  const fractions = options.fractions ?? ROAD_DEFAULTS.fractions;
  const noise = options.noise ?? ROAD_DEFAULTS.noise;
  const seed = options.seed ?? ROAD_DEFAULTS.seed;
  const batch = options.batch ?? ROAD_DEFAULTS.batch;
  const values = await image.data() as Float32Array;
  const size = height * width * channels;
  const imputed = [
    values,
    ...roadImages(values, [height, width, channels], saliency, { fractions, noise, seed }),
  ];
  const parts: Tensor[] = [];
  try {
    for (let from = 0; from < imputed.length; from += batch) {
      const chunk = imputed.slice(from, from + batch);
      const data = new Float32Array(chunk.length * size);
      chunk.forEach((c, i) => data.set(c, i * size));
      parts.push(tf.tidy(() => {
        const r = runProbed(net, weights, tf.tensor(data, [chunk.length, height, width, channels]));
        try {
          if (r.output.rank !== 2) {
            throw new RoadError(`ROAD needs a classifier's [N, K] output, got [${r.output.shape}]`);
          }
          return targetProbabilities(r.output, target, options.probability);
        } finally {
          r.dispose();
        }
      }));
    }
    const all = tf.concat(parts);
    const scores = Array.from(await all.data() as Float32Array);
    all.dispose();
    const f = fractions.length;
    return { base: scores[0], morf: scores.slice(1, 1 + f), lerf: scores.slice(1 + f, 1 + 2 * f) };
  } finally {
    tf.dispose(parts);
  }
}

/** pytorch-grad-cam's ROADCombined of one image: mean over fractions of (LeRF − MoRF) / 2. */
export function roadCombined(scores: Pick<RoadScores, "morf" | "lerf">): number {
  const n = scores.morf.length;
  return scores.morf.reduce((a, m, i) => a + (scores.lerf[i] - m) / 2, 0) / n;
}
