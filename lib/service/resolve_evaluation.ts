/**
 * Resolves an evaluation spec's names to folders: the model among the served classifiers, the dataset as
 * "synthetic" (the generated world under the data directory; its test split is generated on first use) or a
 * name from RETRACE_DATA_ROOTS (VOC layout, or COCO when the folder has annotations/). Throws a message the
 * client can act on.
 */
import type { ModelEntry } from "../models/registry.ts";
import type { EvaluationSpec } from "./evaluation_spec.ts";

/** A spec name that does not resolve here: `field` says which (a dataset may still exist on other hosts). */
export class EvaluationResolveError extends Error {
  override name = "EvaluationResolveError";
  constructor(readonly field: "model" | "dataset", message: string) {
    super(message);
  }
}

export interface ResolvedEvaluation {
  modelDir: string;
  dataset: {
    source: { format: "voc" | "coco"; root: string; split: string };
    flagsPath?: string;
    generateSyntheticAt?: string;
  };
}

export function resolveEvaluation(
  spec: EvaluationSpec,
  models: Map<string, ModelEntry>,
  config: { dataDir: string; dataRoots: { name: string; root: string }[] },
): ResolvedEvaluation {
  const model = models.get(spec.model);
  if (!model || model.kind !== "classifier") {
    const names = [...models.values()].filter((m) => m.kind === "classifier").map((m) => m.name);
    throw new EvaluationResolveError(
      "model",
      `no classifier ${JSON.stringify(spec.model)}; available: ${names.join(", ")}`,
    );
  }
  if (spec.dataset === "synthetic") {
    const world = `${config.dataDir}/synthetic`;
    const split = spec.split ?? "test";
    return {
      modelDir: model.dir,
      dataset: {
        source: { format: "voc", root: `${world}/VOCdevkit/VOC2007`, split },
        flagsPath: `${world}/ebp_difficult/voc07_${split}.txt`,
        generateSyntheticAt: world,
      },
    };
  }
  const root = config.dataRoots.find((r) => r.name === spec.dataset);
  if (!root) {
    const names = ["synthetic", ...config.dataRoots.map((r) => r.name)];
    throw new EvaluationResolveError(
      "dataset",
      `unknown dataset ${JSON.stringify(spec.dataset)}; this server has: ${names.join(", ")}`,
    );
  }
  let coco = false;
  try {
    coco = Deno.statSync(`${root.root}/annotations`).isDirectory;
  } catch { /* VOC layout */ }
  return {
    modelDir: model.dir,
    dataset: {
      source: {
        format: coco ? "coco" : "voc",
        root: root.root,
        split: spec.split ?? (coco ? "val2014" : "test"),
      },
    },
  };
}
