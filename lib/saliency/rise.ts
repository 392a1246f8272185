/**
 * RISE (Petsiuk, Das & Saenko, "RISE: Randomized Input Sampling for Explanation of Black-box Models", BMVC 2018):
 * the map is the masks' average weighted by the target's probability on the masked image,
 *   S = Σ_i P(target | I ⊙ M_i) · M_i / (N · p),
 * with N masks made as in the paper: a cells x cells grid of Bernoulli(p) ones, bilinearly upsampled to
 * (cells + 1) cell sizes and cropped to the input at a random shift of under one cell. The upsampling follows
 * TorchRay's rise (torchray/attribution/rise.py: reflection padding of one cell, bilinear without aligned
 * corners, so the grid's edges behave like skimage's reflect mode in the paper's code). Defaults are TorchRay's:
 * 8000 masks, 7 cells, p = 0.5, 32 masks to a forward pass, seed 0. The probability is the softmax of the
 * logits (the paper's), or their sigmoid for multi-label models (TorchRay's choice for every model). Black box:
 * forwards only, of [N, K] logits. Grids and shifts come from a seeded generator on the host: reproducible from
 * the seed on every backend (not PyTorch's draws; tests pin the mask construction with given grids and shifts).
 */
import { type Tensor, tf } from "../runtime/tf.ts";
import type { Network } from "../nets/network.ts";
import type { NetWeights } from "../nets/weights.ts";
import { runProbed } from "../nets/probes.ts";
import { SaliencyInputError } from "./errors.ts";
import { type Probability, type Seed, targetProbabilities, targetSeed } from "./seeds.ts";
import { seededUniforms } from "../runtime/seeded_random.ts";

export interface RiseOptions {
  masks?: number;
  cells?: number;
  /** Probability of a cell being 1 (kept). */
  p?: number;
  /** Masks per forward pass. */
  batch?: number;
  seed?: number;
  probability?: Probability;
}

export const RISE_DEFAULTS = {
  masks: 8000,
  cells: 7,
  p: 0.5,
  batch: 32,
  seed: 0,
  probability: "softmax",
} as const;

/** Masks [n, H, W, 1] from binary grids [n, cells, cells] and per-mask shifts (rows, cols) under one cell. */
export function riseMasks(
  grids: Tensor,
  shifts: readonly [number, number][],
  height: number,
  width: number,
): Tensor {
  return tf.tidy(() => {
    const [n, cells] = [grids.shape[0]!, grids.shape[1]!];
    const cell = [Math.ceil(height / cells), Math.ceil(width / cells)];
    const padded = tf.mirrorPad(tf.reshape(grids, [n, cells, cells, 1]) as tf.Tensor4D, [[0, 0], [1, 1], [
      1,
      1,
    ], [0, 0]], "reflect");
    const up = tf.image.resizeBilinear(padded, [cell[0] * (cells + 2), cell[1] * (cells + 2)], false, true);
    return tf.concat(
      shifts.map(([dy, dx], i) => tf.slice(up, [i, cell[0] + dy, cell[1] + dx, 0], [1, height, width, 1])),
    );
  });
}

/** Draws n masks: grids and shifts from the seeded generator (chunk k of a run from seed·65537 + k). */
function drawMasks(n: number, cells: number, p: number, seed: number, height: number, width: number): Tensor {
  const next = seededUniforms(seed);
  const grid = Float32Array.from({ length: n * cells * cells }, () => (next() < p ? 1 : 0));
  const cell = [Math.ceil(height / cells), Math.ceil(width / cells)];
  const shifts = Array.from(
    { length: n },
    () => [Math.floor(next() * cell[0]), Math.floor(next() * cell[1])] as [number, number],
  );
  const grids = tf.tensor3d(grid, [n, cells, cells]);
  try {
    return riseMasks(grids, shifts, height, width);
  } finally {
    grids.dispose();
  }
}

/** RISE maps [N, H, W, 1] for `input` [N, H, W, 3]; `masks` given (tests) or drawn. */
export function rise(
  net: Network,
  weights: NetWeights,
  input: Tensor,
  seed: Seed,
  options: RiseOptions = {},
  given?: Tensor,
): Tensor {
  const o = { ...RISE_DEFAULTS, ...options };
  const n = input.shape[0]!;
  const target = targetSeed(seed, n, "RISE weighs masks by a target's probability");
  for (const [key, v, lo] of [["masks", o.masks, 1], ["cells", o.cells, 1], ["batch", o.batch, 1]] as const) {
    if (!Number.isInteger(v) || v < lo) {
      throw new SaliencyInputError(`rise.${key} must be an integer >= ${lo}, got ${v}`);
    }
  }
  if (!(o.p > 0 && o.p <= 1)) throw new SaliencyInputError(`rise.p must be in (0, 1], got ${o.p}`);
  const [height, width] = [input.shape[1]!, input.shape[2]!];
  if (o.cells > Math.min(height, width)) {
    throw new SaliencyInputError(
      `rise.cells (${o.cells}) must not exceed the input's side (${Math.min(height, width)})`,
    );
  }
  const total = given ? given.shape[0]! : o.masks;
  let sums = tf.zeros([n, height, width, 1]);
  try {
    for (let from = 0, chunk = 0; from < total; from += o.batch, chunk++) {
      const size = Math.min(o.batch, total - from);
      const next = tf.tidy(() => {
        const masks = given
          ? tf.slice(given, from, size)
          : drawMasks(size, o.cells, o.p, o.seed * 65537 + chunk, height, width);
        const perImage = target.targets.map((t, i) => {
          const image = tf.slice(input, [i, 0, 0, 0], [1, -1, -1, -1]);
          const r = runProbed(net, weights, tf.mul(image, masks));
          try {
            if (r.output.rank !== 2) {
              throw new SaliencyInputError(
                `RISE needs a classifier's [N, K] output; this network gives [${r.output.shape}]`,
              );
            }
            const w = tf.reshape(targetProbabilities(r.output, t, o.probability), [size, 1, 1, 1]);
            return tf.sum(tf.mul(w, masks), 0, true); // [1, H, W, 1]
          } finally {
            r.dispose();
          }
        });
        return tf.add(sums, tf.concat(perImage));
      });
      sums.dispose();
      sums = next;
    }
    return tf.div(sums, total * o.p);
  } finally {
    sums.dispose();
  }
}
