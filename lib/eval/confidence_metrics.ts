/**
 * Two faithfulness metrics computed per image and averaged over a dataset:
 *
 *   Average Drop and Increase in Confidence (Chattopadhay et al., "Grad-CAM++", WACV 2018, §5.1): with Y the
 *   target's probability on the image and O on the image multiplied by its explanation map (min-max normalised to
 *   [0, 1], bilinearly resized to the input), Average Drop = mean of max(0, Y − O) / Y · 100 and Increase in
 *   Confidence = the percentage of images with O > Y. `confidenceChange` gives one image's (Y, O).
 *
 *   The energy-based pointing game (Wang et al., "Score-CAM", CVPR-W 2020, §4.2): the share of the map's energy
 *   inside the object's region, Σ_{Ω} L / Σ L, with L the map min-max normalised to [0, 1] at the image's size
 *   (a constant map counts as all ones: lib/saliency/postprocess.ts's rule, so its share is the region's area
 *   fraction).
 */
import { type Tensor, tf } from "../runtime/tf.ts";
import type { Network } from "../nets/network.ts";
import type { NetWeights } from "../nets/weights.ts";
import { runProbed } from "../nets/probes.ts";
import { minMaxNormalise, resizeMap } from "../saliency/postprocess.ts";
import { type Probability, targetProbabilities } from "../saliency/seeds.ts";

/** The target's probability on image [1, H, W, 3] and on image ⊙ map (map [1, h, w, 1], normalised and resized). */
export async function confidenceChange(
  net: Network,
  weights: NetWeights,
  image: Tensor,
  target: number,
  map: Tensor,
  probability: Probability = "softmax",
): Promise<{ full: number; masked: number }> {
  const [height, width] = [image.shape[1]!, image.shape[2]!];
  const both = tf.tidy(() => {
    const normalised = minMaxNormalise(map);
    const mask = resizeMap(normalised, [height, width]);
    return tf.concat([image, tf.mul(image, mask)]);
  });
  const r = runProbed(net, weights, both);
  both.dispose();
  try {
    const probs = targetProbabilities(r.output, target, probability);
    const [full, masked] = await probs.data();
    probs.dispose();
    return { full, masked };
  } finally {
    r.dispose();
  }
}

/** Average Drop (%) and Increase in Confidence (%) over images' (full, masked) probabilities. */
export function averageDropIncrease(changes: readonly { full: number; masked: number }[]): {
  averageDrop: number;
  increase: number;
} {
  const n = changes.length;
  if (n === 0) return { averageDrop: NaN, increase: NaN };
  const drop = changes.reduce((a, c) => a + Math.max(0, c.full - c.masked) / c.full, 0);
  const increase = changes.filter((c) => c.masked > c.full).length;
  return { averageDrop: (100 * drop) / n, increase: (100 * increase) / n };
}

/** Σ_Ω L / Σ L for map values at the image's size (row-major H·W) and the region Ω (0 / 1, same layout). */
export function energyInRegion(map: ArrayLike<number>, region: ArrayLike<number>): number {
  if (map.length !== region.length) {
    throw new RangeError(`the map has ${map.length} values, the region ${region.length}`);
  }
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < map.length; i++) {
    lo = Math.min(lo, map[i]);
    hi = Math.max(hi, map[i]);
  }
  let inside = 0;
  let total = 0;
  for (let i = 0; i < map.length; i++) {
    const v = hi > lo ? (map[i] - lo) / (hi - lo) : 1;
    total += v;
    if (region[i]) inside += v;
  }
  return inside / total;
}
