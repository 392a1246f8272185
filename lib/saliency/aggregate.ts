/**
 * Phase 2 of Extract & Aggregate (METHODS.md §3.3): reduce each location's contribution c_u to a scalar.
 *   sum  Σ_e c_u[e]      max  max_e c_u[e] (signed)      max-abs  max_e |c_u[e]|
 *   norm  ‖c_u‖₂          positive-norm ("F + N")  ‖relu(c_u)‖₂
 * Two forms: `aggregateChannels` for contributions held as a tensor (bias, scaling: c_u ∈ R^C), and
 * `aggregateOuter` for outer-product contributions c_u = a_u b_uᵀ (virtual identity convs, a real conv's weight
 * gradient), computed exactly from per-location statistics of a and b without materialising the C×C' matrix:
 *   Σ ab = (Σa)(Σb); max = max of the four products of extremes; max|ab| = max|a|·max|b|; ‖ab‖ = ‖a‖‖b‖;
 *   ‖relu(ab)‖² = ‖a⁺‖²‖b⁺‖² + ‖a⁻‖²‖b⁻‖² (a positive entry needs both factors of the same sign).
 * Maps are [N, H, W, 1]. Inputs are not disposed; outputs belong to the caller.
 */
import { type Tensor, tf } from "../runtime/tf.ts";

export const AGGREGATIONS = ["sum", "max", "max-abs", "norm", "positive-norm"] as const;
export type Aggregation = typeof AGGREGATIONS[number];

/** Reduces c [N, H, W, C] over channels. */
export function aggregateChannels(kind: Aggregation, c: Tensor): Tensor {
  return tf.tidy(() => {
    switch (kind) {
      case "sum":
        return tf.sum(c, -1, true);
      case "max":
        return tf.max(c, -1, true);
      case "max-abs":
        return tf.max(tf.abs(c), -1, true);
      case "norm":
        return tf.sqrt(tf.sum(tf.square(c), -1, true));
      case "positive-norm":
        return tf.sqrt(tf.sum(tf.square(tf.relu(c)), -1, true));
    }
  });
}

/** Per-location statistics of a vector field, each [N, H, W, 1]. */
export interface VectorStats {
  sum: Tensor;
  sumSq: Tensor;
  /** Σ relu(v)² */
  posSq: Tensor;
  /** Σ min(v, 0)² */
  negSq: Tensor;
  max: Tensor;
  min: Tensor;
}

/**
 * Statistics computed on first use, each once: an aggregation reads one or two of them (NormGrad only the sums of
 * squares), and each is a full pass over a [N, H, W, C] field. Read inside the tf.tidy that made them.
 */
export function lazyStats(make: { [K in keyof VectorStats]: () => Tensor }): VectorStats {
  const made: Partial<VectorStats> = {};
  const out = {} as VectorStats;
  for (const k of Object.keys(make) as (keyof VectorStats)[]) {
    Object.defineProperty(out, k, { get: () => (made[k] ??= make[k]()), enumerable: true });
  }
  return out;
}

/** Statistics over the channels of v [N, H, W, C]. Call inside tf.tidy. */
export function channelStats(v: Tensor): VectorStats {
  return lazyStats({
    sum: () => tf.sum(v, -1, true),
    sumSq: () => tf.sum(tf.square(v), -1, true),
    posSq: () => tf.sum(tf.square(tf.relu(v)), -1, true),
    negSq: () => tf.sum(tf.square(tf.minimum(v, 0)), -1, true),
    max: () => tf.max(v, -1, true),
    min: () => tf.min(v, -1, true),
  });
}

/** Aggregates c_u = a_u b_uᵀ from the statistics of a and b. Call inside tf.tidy. */
export function aggregateOuter(kind: Aggregation, a: VectorStats, b: VectorStats): Tensor {
  switch (kind) {
    case "sum":
      return tf.mul(a.sum, b.sum);
    case "max":
      return [tf.mul(a.max, b.min), tf.mul(a.min, b.max), tf.mul(a.min, b.min)].reduce(
        (m, t) => tf.maximum(m, t),
        tf.mul(a.max, b.max),
      );
    case "max-abs":
      return tf.mul(tf.maximum(tf.abs(a.max), tf.abs(a.min)), tf.maximum(tf.abs(b.max), tf.abs(b.min)));
    case "norm":
      return tf.sqrt(tf.mul(a.sumSq, b.sumSq));
    case "positive-norm":
      return tf.sqrt(tf.add(tf.mul(a.posSq, b.posSq), tf.mul(a.negSq, b.negSq)));
  }
}
