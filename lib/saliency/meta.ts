/**
 * Meta-saliency (METHODS.md §5): one plain SGD step on ALL trainable weights (conv, linear, batch-norm weight
 * and bias; not the running statistics) on the cross-entropy of the target class — mean over locations for
 * score maps — then any saliency method recomputed from scratch with the stepped weights.
 *   positive: θ' = θ − η ∇θ L (toward the class);  negative: θ' = θ + η ∇θ L.
 * Each image takes its own step (toward its own target), so a batch gives the same maps as single images.
 * The step is functional: the shared weights are never mutated; the stepped copy is freed before returning.
 */
import { type Tensor, tf } from "../runtime/tf.ts";
import type { Network } from "../nets/network.ts";
import { runProbed } from "../nets/probes.ts";
import type { NetWeights } from "../nets/weights.ts";
import { SaliencyInputError } from "./errors.ts";
import { computeSaliency, type SaliencyRequest, type SaliencyResult } from "./saliency.ts";
import type { Seed } from "./seeds.ts";

export type MetaSign = "positive" | "negative";

export interface MetaOptions {
  /** Step size η (default 1e-4, TorchRay's pointing-game default; 0.0025 for ImageNet-style analyses). */
  eta?: number;
  sign?: MetaSign;
}

export const DEFAULT_META_ETA = 1e-4;
/** METHODS.md §5: η = 1e-4 for the pointing game (TorchRay's default), 0.0025 for the ImageNet-style analyses. */
export const META_ETA = { pointing: 1e-4, analysis: 0.0025 } as const;

/** Cross-entropy of class `target` for one image's output ([1, K] or [1, h, w, K]: mean over locations). */
function crossEntropy(output: Tensor, target: number): Tensor {
  const k = output.shape[output.rank - 1]!;
  const logits = tf.reshape(output, [-1, k]);
  return tf.neg(tf.mean(tf.slice(tf.logSoftmax(logits), [0, target], [-1, 1])));
}

/** The trainable parameters (BN running statistics excluded). */
export function trainableParams(net: Network): string[] {
  return net.params.filter((p) => !p.optional && !p.name.includes("running_")).map((p) => p.name);
}

/**
 * θ' for one image [1, H, W, 3] and its target. The caller disposes the returned weights (which share every
 * untouched tensor with `weights`, and own the stepped ones).
 */
export function metaStep(
  net: Network,
  weights: NetWeights,
  image: Tensor,
  target: number,
  options: MetaOptions = {},
): NetWeights {
  const eta = options.eta ?? DEFAULT_META_ETA;
  if (!(eta >= 0) || !Number.isFinite(eta)) {
    throw new SaliencyInputError(`eta must be a finite number >= 0, got ${eta}`);
  }
  const sign = options.sign ?? "positive";
  if (sign !== "positive" && sign !== "negative") {
    throw new SaliencyInputError(
      `meta-saliency sign must be "positive" or "negative", got ${JSON.stringify(sign)}`,
    );
  }
  const params = trainableParams(net);
  const r = runProbed(net, weights, image, {
    weightGradients: params,
    objective: (out) => crossEntropy(out, target),
  });
  try {
    const step = sign === "positive" ? -eta : eta;
    const stepped = new Map<string, Tensor>();
    for (const name of params) {
      stepped.set(name, tf.tidy(() => tf.add(weights.get(name), tf.mul(r.weightGradients.get(name)!, step))));
    }
    return weights.withOverrides(stepped);
  } finally {
    r.dispose();
  }
}

function seedForImage(seed: Seed, b: number): { seed: Seed; target: number } {
  if (seed.kind === "gradient" || seed.kind === "objective") {
    throw new SaliencyInputError(
      `meta-saliency needs target classes (one-hot or pointing seed), not ${
        seed.kind === "gradient" ? "an output gradient" : "an objective function"
      }`,
    );
  }
  return { seed: { kind: seed.kind, targets: [seed.targets[b]] }, target: seed.targets[b] };
}

/** The request's maps computed with meta-saliency, image by image. The caller disposes the result. */
export function metaSaliency(
  net: Network,
  weights: NetWeights,
  input: Tensor,
  request: SaliencyRequest,
  options: MetaOptions = {},
): SaliencyResult {
  const n = input.shape[0]!;
  if ("targets" in request.seed && request.seed.targets.length !== n) {
    throw new SaliencyInputError(
      `${request.seed.targets.length} target(s) for a batch of ${n}: give one target per image`,
    );
  }
  const parts: SaliencyResult[] = [];
  try {
    for (let b = 0; b < n; b++) {
      const { seed, target } = seedForImage(request.seed, b);
      const image = tf.slice(input, [b, 0, 0, 0], [1, -1, -1, -1]);
      const stepped = metaStep(net, weights, image, target, options);
      try {
        parts.push(computeSaliency(net, stepped, image, { ...request, seed }));
      } finally {
        stepped.dispose();
        image.dispose();
      }
    }
    const maps = new Map<string, Tensor>();
    for (const layer of parts[0].maps.keys()) {
      maps.set(
        layer,
        tf.concat(parts.map((p) => p.maps.get(layer)!), 0),
      );
    }
    const output = tf.concat(parts.map((p) => p.output), 0);
    return { maps, output, dispose: () => tf.dispose([output, ...maps.values()]) };
  } finally {
    parts.forEach((p) => p.dispose());
  }
}
