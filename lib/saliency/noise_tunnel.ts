/**
 * A noise tunnel around any method, as Captum's NoiseTunnel wraps any attribution: the method's maps over
 * `samples` copies of each image with Gaussian noise added, reduced per location by
 *   smoothgrad     the mean (Smilkov et al., "SmoothGrad: removing noise by adding noise", 2017)
 *   smoothgrad-sq  the mean of the squares (Captum's smoothgrad_sq)
 *   vargrad        the variance, E[m²] − E[m]² clamped at 0 against rounding (Adebayo et al., "Local Explanation Methods for Deep Neural
 *                  Networks Lack Sensitivity to Parameter Values", 2018; Captum's vargrad)
 * σ is a fraction of each image's value range (max − min over its pixels and channels, in the model's input
 * space), the paper's parameterisation; defaults are the paper's (50 samples, σ = 0.15). Captum reduces the
 * attributions before any channel aggregation; here the statistics are of the method's maps (after its
 * aggregation and ReLU), which is what makes the tunnel wrap every method, multi-layer requests included.
 * Noise is drawn on the host from a seeded generator (Box-Muller over mulberry32): reproducible from the seed on
 * every backend. Samples are run `batch` to a pass.
 */
import { type Tensor, tf } from "../runtime/tf.ts";
import { SaliencyInputError } from "./errors.ts";
import { type Seed, targetSeed } from "./seeds.ts";
import { normals } from "../runtime/seeded_random.ts";

export const NOISE_KINDS = ["smoothgrad", "smoothgrad-sq", "vargrad"] as const;
export type NoiseKind = typeof NOISE_KINDS[number];

export interface NoiseTunnelOptions {
  kind: NoiseKind;
  samples?: number;
  /** Noise standard deviation as a fraction of each image's value range. */
  sigma?: number;
  seed?: number;
  /** Noisy samples per pass. */
  batch?: number;
}

export const NOISE_DEFAULTS = { samples: 50, sigma: 0.15, seed: 0, batch: 16 } as const;

/**
 * Noisy copies [count, H, W, C] of one image [1, H, W, C]: samples from..from+count−1 (one generator per (seed,
 * sample), the same for every image of a request: an image's maps do not depend on what it is batched with, in a
 * request or in the service's batches). `range` is the image's
 * max − min, a scalar tensor (read nowhere: webgpu under Deno has no synchronous read).
 */
export function noisySamples(
  image: Tensor,
  range: Tensor,
  options: { sigma: number; seed: number },
  from: number,
  count: number,
): Tensor {
  const size = image.size;
  const noise = new Float32Array(count * size);
  for (let s = 0; s < count; s++) {
    noise.set(normals(options.seed * 1000003 + from + s, size), s * size);
  }
  return tf.tidy(() =>
    tf.add(image, tf.mul(tf.tensor(noise, [count, ...image.shape.slice(1)]), tf.mul(range, options.sigma)))
  );
}

/** Checks the options, filling defaults. */
export function noiseOptions(o: NoiseTunnelOptions): Required<NoiseTunnelOptions> {
  const full = { ...NOISE_DEFAULTS, ...o };
  if (!NOISE_KINDS.includes(full.kind)) {
    throw new SaliencyInputError(`noise.kind must be one of ${NOISE_KINDS.join(", ")}, got ${full.kind}`);
  }
  for (const [key, v] of [["samples", full.samples], ["batch", full.batch]] as const) {
    if (!Number.isInteger(v) || v < 1) {
      throw new SaliencyInputError(`noise.${key} must be a positive integer, got ${v}`);
    }
  }
  if (!(full.sigma >= 0 && Number.isFinite(full.sigma))) {
    throw new SaliencyInputError(
      `noise.sigma must be >= 0 (a fraction of the image's range), got ${full.sigma}`,
    );
  }
  if (!Number.isInteger(full.seed)) {
    throw new SaliencyInputError(`noise.seed must be an integer, got ${full.seed}`);
  }
  return full;
}

/**
 * The tunnel's maps per layer [N, h, w, 1] for `input` [N, H, W, 3]: `mapsOf` gives a method's maps for a batch
 * of noisy copies of one image and their seed (its target repeated).
 */
export function noiseTunnel(
  input: Tensor,
  seed: Seed,
  options: NoiseTunnelOptions,
  layers: readonly string[],
  mapsOf: (batch: Tensor, seed: Seed) => Map<string, Tensor>,
): Map<string, Tensor> {
  const o = noiseOptions(options);
  const target = targetSeed(
    seed,
    input.shape[0]!,
    "the noise tunnel repeats each image's target over its samples",
  );
  const out = new Map<string, Tensor[]>(layers.map((l) => [l, []]));
  try {
    target.targets.forEach((t, i) => {
      const image = tf.slice(input, [i, 0, 0, 0], [1, -1, -1, -1]);
      const range = tf.tidy(() => tf.sub(tf.max(image), tf.min(image)));
      // sums of (m − K) and (m − K)² with K the first sample's map: the variance without cancellation
      let sums: Map<string, [Tensor, Tensor, Tensor]> | null = null;
      try {
        for (let from = 0; from < o.samples; from += o.batch) {
          const count = Math.min(o.batch, o.samples - from);
          const noisy = noisySamples(image, range, o, from, count);
          const maps = (() => {
            try {
              return mapsOf(noisy, { kind: target.kind, targets: new Array(count).fill(t) });
            } finally {
              noisy.dispose();
            }
          })();
          const next = new Map(layers.map((l) => {
            const m = maps.get(l)!;
            const prev = sums?.get(l);
            const shift = prev ? prev[2] : tf.slice(m, 0, 1);
            const [s1, s2] = tf.tidy(() => {
              const d = tf.sub(m, shift);
              const [a, b] = [tf.sum(d, 0, true), tf.sum(tf.square(d), 0, true)];
              return prev ? [tf.add(prev[0], a), tf.add(prev[1], b)] : [a, b];
            });
            if (prev) tf.dispose([prev[0], prev[1]]);
            return [l, [s1, s2, shift] as [Tensor, Tensor, Tensor]];
          }));
          tf.dispose([...maps.values()]);
          sums = next;
        }
        for (const l of layers) {
          const [s1, s2, shift] = sums!.get(l)!;
          out.get(l)!.push(tf.tidy(() => {
            const meanD = tf.div(s1, o.samples);
            const variance = tf.relu(tf.sub(tf.div(s2, o.samples), tf.square(meanD)));
            const mean = tf.add(shift, meanD);
            if (o.kind === "smoothgrad") return mean;
            return o.kind === "smoothgrad-sq" ? tf.add(variance, tf.square(mean)) : variance;
          }));
        }
      } finally {
        tf.dispose([image, range]);
        if (sums) tf.dispose([...sums.values()].flat());
      }
    });
    return new Map(layers.map((l) => {
      const parts = out.get(l)!;
      const joined = parts.length === 1 ? parts[0] : tf.concat(parts);
      if (parts.length > 1) tf.dispose(parts);
      return [l, joined];
    }));
  } catch (e) {
    tf.dispose([...out.values()].flat());
    throw e;
  }
}
