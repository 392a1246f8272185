/**
 * The virtual-identity study (METHODS.md §11.1, supplement Table 1): at each conv layer, the Spearman correlation
 * between NormGrad with the identity trick at the conv's output (‖x_out‖·‖g_out‖) and NormGrad of the real conv
 * (‖unfold(x_in)‖·‖g_out‖), both resized to the input size, as mean ± std over images.
 */
import { type Tensor, tf } from "../runtime/tf.ts";
import type { Network } from "../nets/network.ts";
import type { NetWeights } from "../nets/weights.ts";
import { type MeanStd, meanStd, spearman } from "./correlations.ts";
import { resizeMap } from "./postprocess.ts";
import { computeSaliency } from "./saliency.ts";

export interface IdentityStudyRow extends MeanStd {
  layer: string;
  /** Per-image correlations, in input order. */
  values: number[];
}

/**
 * images: [N, H, W, 3] (normalised); targets: one class per image (one-hot seed). Returns one row per conv layer.
 */
export async function identityTrickStudy(
  net: Network,
  weights: NetWeights,
  images: Tensor,
  targets: readonly number[],
  convLayers: readonly string[],
): Promise<IdentityStudyRow[]> {
  const size: [number, number] = [images.shape[1]!, images.shape[2]!];
  const seed = { kind: "one-hot" as const, targets };
  const virtual = computeSaliency(net, weights, images, { method: "normgrad", layers: convLayers, seed });
  const exact = computeSaliency(net, weights, images, { method: "normgrad-exact", layers: convLayers, seed });
  try {
    const rows: IdentityStudyRow[] = [];
    for (const layer of convLayers) {
      const [a, b] = tf.tidy(
        () => [resizeMap(virtual.maps.get(layer)!, size), resizeMap(exact.maps.get(layer)!, size)],
      );
      const [va, vb] = [await a.data() as Float32Array, await b.data() as Float32Array];
      tf.dispose([a, b]);
      const per = size[0] * size[1];
      const values = targets.map((_, i) =>
        spearman(va.subarray(i * per, (i + 1) * per), vb.subarray(i * per, (i + 1) * per))
      );
      rows.push({ layer, values, ...meanStd(values) });
    }
    return rows;
  } finally {
    virtual.dispose();
    exact.dispose();
  }
}
