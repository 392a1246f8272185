/**
 * Meta-saliency over training (supplement D, METHODS.md §5): for one image and a list of weight sets (training
 * checkpoints, the final weights last), the Spearman ρ between each checkpoint's map with and without
 * meta-saliency, and between each checkpoint's meta map and the final weights' meta map. Maps for the image's
 * (first) true class, one-hot seed, resized to the input size. The supplement's hypothesis: the meta / plain
 * correlation is lower on val images than on train images; meta maps converge to the final ones.
 */
import type { Network } from "../nets/network.ts";
import type { NetWeights } from "../nets/weights.ts";
import type { Tensor } from "../runtime/tf.ts";
import { spearman } from "../saliency/correlations.ts";
import { META_ETA, metaSaliency } from "../saliency/meta.ts";
import { resizeMap } from "../saliency/postprocess.ts";
import { computeSaliency } from "../saliency/saliency.ts";

export interface MetaTrainingRow {
  /** ρ(meta map, plain map) per checkpoint. */
  metaVsPlain: number[];
  /** ρ(meta map, final meta map) per checkpoint (the last entry compares the final with itself: 1). */
  metaVsFinal: number[];
}

async function mapValues(
  net: Network,
  weights: NetWeights,
  input: Tensor,
  method: string,
  layer: string,
  target: number,
  meta: boolean,
  eta: number,
): Promise<Float32Array> {
  const request = { method, layers: [layer], seed: { kind: "one-hot" as const, targets: [target] } };
  const r = meta
    ? metaSaliency(net, weights, input, request, { eta })
    : computeSaliency(net, weights, input, request);
  try {
    const big = resizeMap(r.maps.get(layer)!, [input.shape[1]!, input.shape[2]!]);
    const v = await big.data() as Float32Array;
    big.dispose();
    return v;
  } finally {
    r.dispose();
  }
}

/** One image [1, H, W, 3] through every checkpoint (the final weights last). */
export async function metaOverTraining(
  net: Network,
  checkpoints: readonly NetWeights[],
  input: Tensor,
  target: number,
  method: string,
  layer: string,
  eta: number = META_ETA.analysis,
): Promise<MetaTrainingRow> {
  if (checkpoints.length === 0) throw new RangeError("metaOverTraining needs at least the final weights");
  const metas: Float32Array[] = [];
  const metaVsPlain: number[] = [];
  for (const w of checkpoints) {
    const plain = await mapValues(net, w, input, method, layer, target, false, eta);
    const meta = await mapValues(net, w, input, method, layer, target, true, eta);
    metas.push(meta);
    metaVsPlain.push(spearman(meta, plain));
  }
  const final = metas.at(-1)!;
  return { metaVsPlain, metaVsFinal: metas.map((m) => spearman(m, final)) };
}
