/**
 * Backward seeds (METHODS.md §2.6): what is backpropagated from the network output. A seed becomes the
 * objective S of the probe context, with the seed treated as a constant (like TorchRay's output.backward(G)).
 *   one-hot   S = Σ_b y[b, t_b]; on a score map [N, h, w, K], summed over every position of channel t_b.
 *   pointing  G = spatial softmax of channel t_b of the score map (max subtracted), zero elsewhere; S = Σ y·G.
 *             With a 1x1 score map or a [N, K] output it reduces to one-hot.
 *   gradient  a caller-given output gradient G, shaped like the output; S = Σ y·G.
 *   objective a caller-given scalar function S of one layer's activation (e.g. a captioner's log-probability of
 *             its caption from the pooled feature, lib/caption); the network output is not used.
 * One target per batch item: several classes of one image are explained in one pass by repeating the image
 * (`repeatForTargets`).
 */
import { stopGradient, withBackward } from "../runtime/custom_grad.ts";
import { type Tensor, tf } from "../runtime/tf.ts";
import { SaliencyInputError } from "./errors.ts";

export type Seed =
  | { kind: "one-hot"; targets: readonly number[] }
  | { kind: "pointing"; targets: readonly number[] }
  | { kind: "gradient"; gradient: Tensor }
  | { kind: "objective"; layer: string; objective: (activation: Tensor) => Tensor };

export const SEED_KINDS = ["one-hot", "pointing", "gradient", "objective"] as const;

/** Output shape -> number of classes (last axis) and batch size, checking the seed fits. */
function checkSeed(seed: Exclude<Seed, { kind: "objective" }>, output: Tensor): void {
  const n = output.shape[0]!;
  const k = output.shape[output.rank - 1]!;
  if (seed.kind === "gradient") {
    if (seed.gradient.shape.join() !== output.shape.join()) {
      throw new SaliencyInputError(
        `the output gradient has shape [${seed.gradient.shape}] but the network output is [${output.shape}]`,
      );
    }
    return;
  }
  if (seed.targets.length !== n) {
    throw new SaliencyInputError(
      `${seed.targets.length} target(s) for a batch of ${n}: give one target per image`,
    );
  }
  const bad = seed.targets.filter((t) => !Number.isInteger(t) || t < 0 || t >= k);
  if (bad.length) {
    throw new SaliencyInputError(`target class(es) ${bad.join(", ")} out of range: valid are 0..${k - 1}`);
  }
}

/** [N, K] one-hot rows (tf.oneHot refuses K = 1). */
function oneHot(targets: readonly number[], k: number): Tensor {
  const data = new Float32Array(targets.length * k);
  targets.forEach((t, i) => (data[i * k + t] = 1));
  return tf.tensor2d(data, [targets.length, k]);
}

/**
 * The seed G as a tensor shaped like `output` (constant; the caller disposes it).
 * output: [N, K] logits or [N, h, w, K] score map.
 */
export function seedTensor(seed: Seed, output: Tensor): Tensor {
  if (seed.kind === "objective") {
    throw new SaliencyInputError(
      "an objective seed has no output-gradient tensor; it is a function of a layer",
    );
  }
  checkSeed(seed, output);
  if (seed.kind === "gradient") return tf.clone(seed.gradient);
  return tf.tidy(() => seedFromRows(seed.kind, oneHot(seed.targets, output.shape[output.rank - 1]!), output));
}

/** A seed that names one target class per image. */
export type TargetSeed = Extract<Seed, { kind: "one-hot" | "pointing" }>;

/**
 * The seed of a method that scores or integrates a target class (one-hot or pointing, one target for each of the
 * n images); SaliencyInputError saying why (`why`) otherwise.
 */
export function targetSeed(seed: Seed, n: number, why: string): TargetSeed {
  if (seed.kind !== "one-hot" && seed.kind !== "pointing") {
    throw new SaliencyInputError(`${why}: give one-hot or pointing targets`);
  }
  if (seed.targets.length !== n) {
    throw new SaliencyInputError(
      `${seed.targets.length} target(s) for a batch of ${n}: give one target per image`,
    );
  }
  return seed;
}

/** How logits become class probabilities: softmax over the classes, or a sigmoid each (multi-label heads). */
export type Probability = "softmax" | "sigmoid";

/** Per row of logits [N, K], the probability of class t: [N]. */
export function targetProbabilities(output: Tensor, t: number, probability: Probability = "softmax"): Tensor {
  return tf.tidy(() => {
    const p = probability === "sigmoid" ? tf.sigmoid(output) : tf.softmax(output);
    return tf.reshape(tf.slice(p, [0, t], [-1, 1]), [-1]);
  });
}

/**
 * Per batch row, the score S of target t: Σ y·G with the one-hot or pointing seed for t computed from that row's
 * own output (the target logit for one-hot seeds on logits). [N].
 */
export function targetScores(kind: "one-hot" | "pointing", t: number, output: Tensor): Tensor {
  return tf.tidy(() => {
    const g = seedTensor({ kind, targets: new Array(output.shape[0]!).fill(t) }, output);
    return tf.sum(tf.mul(output, g), output.shape.slice(1).map((_, i) => i + 1));
  });
}

/** A one-hot or pointing seed shaped like `output` from its [N, K] one-hot target rows. */
function seedFromRows(kind: "one-hot" | "pointing", hot: Tensor, output: Tensor): Tensor {
  if (output.rank === 2) return hot;
  const [n, h, w, k] = output.shape as number[];
  const mask = tf.reshape(hot, [n, 1, 1, k]);
  if (kind === "one-hot") return tf.mul(tf.onesLike(output), mask);
  // pointing: softmax over the h*w positions of each channel, kept only for the target channel.
  const flat = tf.reshape(tf.transpose(output, [0, 3, 1, 2]), [n, k, h * w]);
  const soft = tf.transpose(tf.reshape(tf.softmax(flat), [n, k, h, w]), [0, 2, 3, 1]);
  return tf.mul(soft, mask);
}

/**
 * An objective whose targets are chosen on the device from the logits it seeds ([N, K]; the N items are one image
 * repeated): item i explains the i-th highest class of item 0 (tf.topk; equal logits in the backend's order).
 * `kept` receives the chosen class indices as an int32 tensor [N] (the caller reads it with the maps in one
 * transfer, then disposes it), so a backend that reads only asynchronously needs no read before the backward.
 * With one item and one class it is that class; a [N, h, w, K] score map is refused (its targets need the host).
 */
export function topKObjective(kept: (indices: Tensor) => void): (output: Tensor) => Tensor {
  return (output) => {
    if (output.rank !== 2) {
      throw new SaliencyInputError("targets chosen on the device need [N, K] logits, not a score map");
    }
    const [n, k] = output.shape as [number, number];
    if (n > k) throw new SaliencyInputError(`${n} targets of ${k} classes`);
    // chosen inside a custom op with a zero gradient: its ops are not taped (TopK has no gradient, and the
    // choice needs none), and the seed it gives is a constant of the backward
    const seed = withBackward(
      1,
      (logits) => {
        const indices = tf.topk(tf.reshape(tf.slice(logits, [0, 0], [1, k]), [k]), n, true).indices;
        kept(tf.keep(indices));
        // one-hot rows (the pointing seed of [N, K] logits is one-hot too); tf.oneHot refuses depth 1, and its
        // float32 output on wasm holds the int32 bit patterns (1 reads as 1.4e-45): made as int32, then cast
        return tf.cast(tf.slice(tf.oneHot(indices, Math.max(k, 2)), [0, 0], [n, k]), "float32");
      },
      (_dy, [logits]) => [tf.zerosLike(logits)],
      "inputs",
    )(output);
    return tf.sum(tf.mul(output, seed));
  };
}

/**
 * The objective S(output) = Σ output · stopGradient(G(output)) for the probe context. The seed is computed
 * from the same forward and receives no gradient.
 */
export function objectiveFor(seed: Seed): (output: Tensor) => Tensor {
  if (seed.kind === "objective") return seed.objective;
  return (output) => tf.sum(tf.mul(output, stopGradient(seedTensor(seed, output))));
}

/** Repeats a one-image input [1, H, W, 3] once per target, for one batched pass over several classes. */
export function repeatForTargets(input: Tensor, targets: readonly number[]): Tensor {
  if (input.shape[0] !== 1) {
    throw new SaliencyInputError(`repeatForTargets takes one image, got a batch of ${input.shape[0]}`);
  }
  if (targets.length === 0) throw new SaliencyInputError("no target classes given");
  return tf.tile(input, [targets.length, 1, 1, 1]);
}
