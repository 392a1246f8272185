/**
 * Class sensitivity (METHODS.md §7): per image, the Spearman correlation ρ between the map for the model's most
 * likely class and the map for its least likely class (one-hot seeds, maps resized to the input size); reported as
 * mean ± std of ρ over the images with a finite ρ. Lower = more class-sensitive. With meta-saliency each map
 * takes its own SGD step toward its class (η = 0.0025, METHODS §5 for analyses). Both classes of an image go
 * through one batched pass; every layer of a method comes from that pass.
 */
import type { Network } from "../nets/network.ts";
import { runProbed } from "../nets/probes.ts";
import type { NetWeights } from "../nets/weights.ts";
import { type Tensor, tf } from "../runtime/tf.ts";
import { type MeanStd, meanStd, spearman } from "../saliency/correlations.ts";
import { META_ETA, metaSaliency } from "../saliency/meta.ts";
import { resizeMap } from "../saliency/postprocess.ts";
import { computeSaliency } from "../saliency/saliency.ts";
import { layerLabel } from "./pointers.ts";

export interface SensitivityOptions {
  methods: readonly string[];
  layers: readonly string[];
  /** Also compute every map with meta-saliency (labels get a "+meta" suffix). */
  withMeta?: boolean;
  metaEta?: number;
}

/** Labels in result order: "<method>@<layer>" and, with meta, "<method>@<layer>+meta". */
export function sensitivityLabels(options: SensitivityOptions): string[] {
  const base = options.methods.flatMap((m) => options.layers.map((l) => `${m}@${layerLabel(l)}`));
  return options.withMeta ? [...base, ...base.map((l) => `${l}+meta`)] : base;
}

/** The most and least likely classes of one image [1, H, W, 3] (first on ties, as argmax / argmin). */
export async function extremeClasses(
  net: Network,
  weights: NetWeights,
  input: Tensor,
): Promise<[number, number]> {
  const r = runProbed(net, weights, input);
  try {
    const k = r.output.shape[r.output.rank - 1]!;
    const mean = tf.tidy(() => tf.mean(tf.reshape(r.output, [-1, k]), 0));
    const scores = await mean.data() as Float32Array;
    mean.dispose();
    let hi = 0, lo = 0;
    scores.forEach((v, i) => {
      if (v > scores[hi]) hi = i;
      if (v < scores[lo]) lo = i;
    });
    return [hi, lo];
  } finally {
    r.dispose();
  }
}

/** ρ per label for one image [1, H, W, 3]. */
export async function classSensitivityOfImage(
  net: Network,
  weights: NetWeights,
  input: Tensor,
  options: SensitivityOptions,
): Promise<Map<string, number>> {
  const [hi, lo] = await extremeClasses(net, weights, input);
  const size: [number, number] = [input.shape[1]!, input.shape[2]!];
  const pair = tf.tile(input, [2, 1, 1, 1]);
  const out = new Map<string, number>();
  try {
    for (const meta of options.withMeta ? [false, true] : [false]) {
      for (const method of options.methods) {
        const request = {
          method,
          layers: options.layers,
          seed: { kind: "one-hot" as const, targets: [hi, lo] },
        };
        const r = meta
          ? metaSaliency(net, weights, pair, request, { eta: options.metaEta ?? META_ETA.analysis })
          : computeSaliency(net, weights, pair, request);
        try {
          for (const layer of options.layers) {
            const big = resizeMap(r.maps.get(layer)!, size);
            const v = await big.data() as Float32Array;
            big.dispose();
            const n = size[0] * size[1];
            const rho = hi === lo ? NaN : spearman(v.subarray(0, n), v.subarray(n, 2 * n));
            out.set(`${method}@${layerLabel(layer)}${meta ? "+meta" : ""}`, rho);
          }
        } finally {
          r.dispose();
        }
      }
    }
  } finally {
    pair.dispose();
  }
  return out;
}

/** Accumulates per-image ρ into mean ± std per label. */
export class SensitivityTally {
  readonly values = new Map<string, number[]>();

  add(perLabel: ReadonlyMap<string, number>): void {
    for (const [label, rho] of perLabel) {
      const list = this.values.get(label) ?? [];
      list.push(rho);
      this.values.set(label, list);
    }
  }

  summary(): Record<string, MeanStd> {
    return Object.fromEntries([...this.values].map(([label, v]) => [label, meanStd(v)]));
  }
}
