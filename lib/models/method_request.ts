/**
 * A method's options as users give them (POST /v1/saliency and POST /v1/evaluations: integrated gradients,
 * RISE, occlusion, a noise tunnel) turned into the lib's SaliencyRequest for one model: RISE's probability
 * follows the model's head (sigmoid for multi-label), IG's "black" baseline is pixel value 0 preprocessed as the
 * model's inputs are. Also which of the options apply to none of the methods asked (a request is refused then,
 * rather than an option silently ignored).
 */
import { type Tensor, tf } from "../runtime/tf.ts";
import type { MethodRef, SaliencyRequest } from "../saliency/saliency.ts";
import type { Extraction } from "../saliency/extract.ts";
import type { IntegratedGradientsOptions } from "../saliency/integrated_gradients.ts";
import type { RiseOptions } from "../saliency/rise.ts";
import type { OcclusionOptions } from "../saliency/occlusion.ts";
import type { NoiseTunnelOptions } from "../saliency/noise_tunnel.ts";
import type { Seed } from "../saliency/seeds.ts";
import { headProbability, type ModelManifest } from "./manifest.ts";

/** The options of the methods that take some; a field left out keeps the method's default. */
export interface MethodOptions {
  /** integrated-gradients; the baseline named in the model's input space ("black": pixel value 0). */
  integratedGradients?: Omit<IntegratedGradientsOptions, "baseline"> & { baseline?: "zero" | "black" };
  /** rise (its probability follows the model). */
  rise?: Omit<RiseOptions, "probability">;
  occlusion?: OcclusionOptions;
  /** Any method through a noise tunnel. */
  noise?: NoiseTunnelOptions;
}

/** The option fields that belong to one extraction each (a noise tunnel takes any method). */
export const OPTION_OWNERS = {
  integratedGradients: { extract: "path-integral", method: "integrated-gradients" },
  rise: { extract: "random-masks", method: "rise" },
  occlusion: { extract: "occlusion", method: "occlusion" },
} as const satisfies Record<string, { extract: Extraction; method: string }>;

/** The option fields given for a method none of `extracts` is: each with the method it belongs to. */
export function unusedOptions(
  options: MethodOptions,
  extracts: readonly Extraction[],
): { field: keyof typeof OPTION_OWNERS; method: string }[] {
  return (Object.keys(OPTION_OWNERS) as (keyof typeof OPTION_OWNERS)[])
    .filter((field) => options[field] !== undefined && !extracts.includes(OPTION_OWNERS[field].extract))
    .map((field) => ({ field, method: OPTION_OWNERS[field].method }));
}

/**
 * The lib request of `method` with `options` on the model `manifest` describes. Release it with releaseRequest
 * (IG's black baseline is a tensor it owns).
 */
export function methodRequest(
  job: { method: MethodRef } & MethodOptions,
  manifest: Pick<ModelManifest, "preprocess" | "inputSize" | "multiLabel">,
  layers: readonly string[],
  seed: Seed,
): SaliencyRequest {
  const ig = job.integratedGradients;
  let baseline: Tensor | undefined;
  if (ig?.baseline === "black") {
    // pixel value 0 in every channel, preprocessed as the model's inputs are: (0 · scale − mean) / std
    const { mean, std } = manifest.preprocess;
    const [h, w] = manifest.inputSize;
    baseline = tf.tidy(() =>
      tf.tile(tf.tensor4d(mean.map((m, c) => -m / std[c]), [1, 1, 1, 3]), [1, h, w, 1])
    );
  }
  return {
    method: job.method,
    layers,
    seed,
    rise: { ...job.rise, probability: headProbability(manifest) },
    ...(ig
      ? { integratedGradients: { steps: ig.steps, quadrature: ig.quadrature, batch: ig.batch, baseline } }
      : {}),
    ...(job.occlusion ? { occlusion: job.occlusion } : {}),
    ...(job.noise ? { noise: job.noise } : {}),
  };
}

/** Frees what methodRequest made (IG's baseline); the request is not used after. */
export function releaseRequest(request: SaliencyRequest): void {
  request.integratedGradients?.baseline?.dispose();
}
