/**
 * What a saliency job asks of its model apart from its image and targets (method and its options, layers, seed,
 * meta-saliency, combination): jobs with one key can share a pass (lib/service/saliency_batch.ts). Output form (raw maps, maps
 * at the image's size, an overlay) and limits stay per job.
 */
import type { SaliencyJob } from "./saliency_job.ts";

export function batchKey(
  job: Pick<
    SaliencyJob,
    "method" | "layers" | "seed" | "meta" | "combine" | "integratedGradients" | "rise" | "occlusion" | "noise"
  >,
): string {
  const layers = job.layers.map((l) => (l === "input" ? "" : l));
  return JSON.stringify([
    job.method,
    layers,
    job.seed ?? "pointing",
    job.meta ?? null,
    job.combine ?? null,
    job.integratedGradients ?? null,
    job.rise ?? null,
    job.occlusion ?? null,
    job.noise ?? null,
  ]);
}
