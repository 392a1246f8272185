/**
 * Occlusion (Zeiler & Fergus, "Visualizing and Understanding Convolutional Networks", ECCV 2014, §4.2), as
 * Captum's Occlusion computes it: a window × window patch of every channel slides over the input by `stride`
 * (positions 0, s, 2s, … while the patch fits), is set to the baseline (0 in the model's input space), and each
 * pixel's attribution is the mean, over the patches covering it, of S(x) − S(x occluded) with S the target's
 * score (the logit for a one-hot seed). Pixels no patch covers (when the side minus the window is not a multiple
 * of the stride) get 0, where Captum divides 0 by 0. Defaults from Captum's vision tutorial: window 15, stride 8.
 * Black box, forwards only; `batch` patches per pass. The map is at the input's resolution.
 */
import { type Tensor, tf } from "../runtime/tf.ts";
import type { Network } from "../nets/network.ts";
import type { NetWeights } from "../nets/weights.ts";
import { runProbed } from "../nets/probes.ts";
import { SaliencyInputError } from "./errors.ts";
import { type Seed, targetScores, targetSeed } from "./seeds.ts";

export interface OcclusionOptions {
  window?: number;
  stride?: number;
  batch?: number;
}

export const OCCLUSION_DEFAULTS = { window: 15, stride: 8, batch: 32 } as const;

/** Patch corners along one side: 0, s, 2s, … while the window fits. */
export function patchStarts(side: number, window: number, stride: number): number[] {
  const out: number[] = [];
  for (let at = 0; at + window <= side; at += stride) out.push(at);
  return out;
}

/** Occlusion maps [N, H, W, 1] for `input` [N, H, W, 3]. */
export function occlusion(
  net: Network,
  weights: NetWeights,
  input: Tensor,
  seed: Seed,
  options: OcclusionOptions = {},
): Tensor {
  const o = { ...OCCLUSION_DEFAULTS, ...options };
  const n = input.shape[0]!;
  const target = targetSeed(seed, n, "occlusion scores forward passes by a target class");
  const [height, width] = [input.shape[1]!, input.shape[2]!];
  for (const [key, v] of [["window", o.window], ["stride", o.stride], ["batch", o.batch]] as const) {
    if (!Number.isInteger(v) || v < 1) {
      throw new SaliencyInputError(`occlusion.${key} must be a positive integer, got ${v}`);
    }
  }
  if (o.window > Math.min(height, width)) {
    throw new SaliencyInputError(`occlusion.window (${o.window}) must fit the input (${height}x${width})`);
  }
  const patches = patchStarts(height, o.window, o.stride).flatMap((y) =>
    patchStarts(width, o.window, o.stride).map((x) => [y, x] as const)
  );
  /** 1 inside each patch: [count, H, W, 1] for patches from..from+count. */
  const windows = (from: number, count: number) => {
    const data = new Float32Array(count * height * width);
    for (let k = 0; k < count; k++) {
      const [y0, x0] = patches[from + k];
      for (let y = y0; y < y0 + o.window; y++) {
        data.fill(1, k * height * width + y * width + x0, k * height * width + y * width + x0 + o.window);
      }
    }
    return tf.tensor4d(data, [count, height, width, 1]);
  };
  return tf.tidy(() => {
    const maps = target.targets.map((t, i) => {
      const image = tf.slice(input, [i, 0, 0, 0], [1, -1, -1, -1]);
      const base = targetScores(target.kind, t, runProbed(net, weights, image).output);
      let sum = tf.zeros([1, height, width, 1]);
      let count = tf.zeros([1, height, width, 1]);
      for (let from = 0; from < patches.length; from += o.batch) {
        const size = Math.min(o.batch, patches.length - from);
        const [s, c] = tf.tidy(() => {
          const inside = windows(from, size);
          const r = runProbed(net, weights, tf.mul(image, tf.sub(1, inside)));
          const drop = tf.reshape(tf.sub(base, targetScores(target.kind, t, r.output)), [size, 1, 1, 1]);
          r.dispose();
          return [tf.add(sum, tf.sum(tf.mul(drop, inside), 0, true)), tf.add(count, tf.sum(inside, 0, true))];
        });
        tf.dispose([sum, count]);
        [sum, count] = [s, c];
      }
      return tf.where(tf.greater(count, 0), tf.div(sum, tf.maximum(count, 1)), tf.zerosLike(sum));
    });
    return tf.concat(maps);
  });
}
