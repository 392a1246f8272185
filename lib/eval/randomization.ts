/**
 * Cascading randomization (METHODS.md §10, Adebayo et al.'s sanity check): from the logits down to a stop layer
 * ("blob"), every parametrised module's weights are replaced by those of a freshly initialised network; the map
 * of the randomized model (for ITS argmax class, as TorchRay does) is compared with the original map by Spearman ρ
 * (maps resized to the input size). TorchRay appends the p-value by mistake; ρ is reported here.
 *
 * Which modules: those inside the stop layer or after it in forward order ("" = every one). Randomizing "to
 * features.3" therefore leaves features.0 and features.2 intact. TorchRay randomizes modules having both a weight
 * and a bias; ResNet convs have no bias, so here every module with a weight is randomized (biases with it), else a
 * ResNet cascade would only reset batch norms. Batch-norm running statistics are kept. The fresh network is
 * lib/nets/weights.ts randomWeights (He-normal, zero bias, identity batch norm), not torchvision's default init.
 */
import { isVgg } from "../nets/config.ts";
import type { Network } from "../nets/network.ts";
import type { NetWeights } from "../nets/weights.ts";
import { type Tensor, tf } from "../runtime/tf.ts";
import { spearman } from "../saliency/correlations.ts";
import { type MetaOptions, metaSaliency } from "../saliency/meta.ts";
import { resizeMap } from "../saliency/postprocess.ts";
import { computeSaliency } from "../saliency/saliency.ts";
import { extremeClasses } from "./class_sensitivity.ts";

/** The cascade's stop layers, top down (the paper's "short" list for VGG16; stage names for ResNets). */
export function cascadeStages(net: Network): string[] {
  return isVgg(net.config.arch)
    ? [
      "classifier.6",
      "classifier.4",
      "classifier.2",
      "features.29",
      "features.22",
      "features.15",
      "features.8",
      "features.3",
      "",
    ]
    : ["fc", "layer4", "layer3", "layer2", "layer1", ""];
}

/** Trainable parameter names randomized when cascading down to `blob`. */
export function randomizedParams(net: Network, blob: string): string[] {
  if (blob !== "") net.assertLayers([blob]);
  const order = new Map(net.layerNames.map((n, i) => [n, i]));
  const stop = blob === "" ? -1 : order.get(blob)!;
  return net.params.filter((p) =>
    !p.optional && !p.name.includes("running_") && !p.name.endsWith("num_batches_tracked")
  )
    .map((p) => p.name)
    .filter((name) => {
      const module = name.slice(0, name.lastIndexOf("."));
      if (blob === "" || module === blob || module.startsWith(`${blob}.`)) return true;
      const at = order.get(module);
      if (at === undefined) throw new Error(`internal: module ${module} of ${name} is not a layer`);
      return at > stop;
    });
}

/** Weights with every parameter of the cascade down to `blob` taken from `fresh`. The caller disposes both. */
export function randomizeTo(net: Network, weights: NetWeights, fresh: NetWeights, blob: string): NetWeights {
  return weights.withOverrides(new Map(randomizedParams(net, blob).map((n) => [n, tf.clone(fresh.get(n))])));
}

export interface RandomizationOptions {
  methods: readonly string[];
  layer: string;
  stages?: readonly string[];
  meta?: MetaOptions;
}

export interface RandomizationImage {
  /** Per method (and "+meta" when meta is set): ρ to the original map per stage, in stage order. */
  rho: Map<string, number[]>;
  /** Per label, [original, ...one map per stage] at the input size, each [1, H, W, 1]; the caller disposes them. */
  maps: Map<string, Tensor[]>;
}

async function mapFor(
  net: Network,
  weights: NetWeights,
  input: Tensor,
  method: string,
  layer: string,
  meta: MetaOptions | undefined,
): Promise<Tensor> {
  const [target] = await extremeClasses(net, weights, input);
  const request = { method, layers: [layer], seed: { kind: "one-hot" as const, targets: [target] } };
  const r = meta
    ? metaSaliency(net, weights, input, request, meta)
    : computeSaliency(net, weights, input, request);
  try {
    return resizeMap(r.maps.get(layer)!, [input.shape[1]!, input.shape[2]!]);
  } finally {
    r.dispose();
  }
}

/** The cascade for one image [1, H, W, 3]. */
export async function cascadeImage(
  net: Network,
  weights: NetWeights,
  fresh: NetWeights,
  input: Tensor,
  options: RandomizationOptions,
): Promise<RandomizationImage> {
  const stages = options.stages ?? cascadeStages(net);
  const variants: { suffix: string; meta?: MetaOptions }[] = [{ suffix: "" }];
  if (options.meta) variants.push({ suffix: "+meta", meta: options.meta });
  const rho = new Map<string, number[]>();
  const maps = new Map<string, Tensor[]>();
  for (const { suffix, meta } of variants) {
    for (const method of options.methods) {
      const label = `${method}${suffix}`;
      const original = await mapFor(net, weights, input, method, options.layer, meta);
      const list = [original];
      maps.set(label, list);
      const base = await original.data() as Float32Array;
      const values: number[] = [];
      for (const stage of stages) {
        const randomized = randomizeTo(net, weights, fresh, stage);
        try {
          const m = await mapFor(net, randomized, input, method, options.layer, meta);
          list.push(m);
          values.push(spearman(base, await m.data() as Float32Array));
        } finally {
          randomized.dispose();
        }
      }
      rho.set(label, values);
    }
  }
  return { rho, maps };
}
