/**
 * Resolves an evaluation spec's names to folders and checks it can run before a job is queued: the model among
 * the served classifiers, the spec against that model (lib/service/check_evaluation.ts), the dataset as
 * "synthetic" (the generated world under the data directory; its test split is generated on first use) or a
 * name from RETRACE_DATA_ROOTS (VOC layout, or COCO when the folder has annotations/), and the split among the
 * dataset's. Throws an EvaluationResolveError the client can act on; messages never name server paths.
 */
import type { ModelEntry } from "../models/registry.ts";
import type { EvaluationSpec } from "./evaluation_spec.ts";
import { checkEvaluationSpec, EvaluationCheckError } from "./check_evaluation.ts";

/**
 * A spec that does not resolve or cannot run here: `field` says which part (a dataset or split may still exist
 * on other hosts), `code` the API error code.
 */
export { EvaluationCheckError as EvaluationResolveError } from "./check_evaluation.ts";

export interface ResolvedEvaluation {
  modelDir: string;
  dataset: {
    source: { format: "voc" | "coco"; root: string; split: string };
    flagsPath?: string;
    generateSyntheticAt?: string;
  };
}

const isFile = (path: string) => {
  try {
    return Deno.statSync(path).isFile;
  } catch {
    return false;
  }
};

const isDirectory = (path: string) => {
  try {
    return Deno.statSync(path).isDirectory;
  } catch {
    return false;
  }
};

/** The names in `dir` matching `pattern` (its first group), sorted; [] when the folder cannot be read. */
function namesIn(dir: string, pattern: RegExp): string[] {
  try {
    return [...Deno.readDirSync(dir)].map((e) => pattern.exec(e.name)?.[1]).filter((n): n is string => !!n)
      .sort();
  } catch {
    return [];
  }
}

function noSplit(dataset: string, split: string, available: string[]): EvaluationCheckError {
  return new EvaluationCheckError(
    "split",
    `split: dataset ${JSON.stringify(dataset)} has no split ${JSON.stringify(split)}; available: ${
      available.join(", ") || "none"
    }`,
  );
}

const VOC_SPLIT = /^([A-Za-z0-9]+)\.txt$/; // ImageSets/Main/<split>.txt (per-class lists have an underscore)
const COCO_SPLIT = /^instances_([A-Za-z0-9_]+)\.json$/;

export function resolveEvaluation(
  spec: EvaluationSpec,
  models: Map<string, ModelEntry>,
  config: { dataDir: string; dataRoots: { name: string; root: string }[] },
): ResolvedEvaluation {
  const model = models.get(spec.model);
  if (!model || model.kind !== "classifier") {
    const names = [...models.values()].filter((m) => m.kind === "classifier").map((m) => m.name);
    throw new EvaluationCheckError(
      "model",
      `model: no classifier ${JSON.stringify(spec.model)}; available: ${names.join(", ")}`,
      "unknown_model",
    );
  }
  checkEvaluationSpec(spec, model.manifest);
  if (spec.dataset === "synthetic") {
    const world = `${config.dataDir}/synthetic`;
    const split = spec.split ?? "test";
    const root = `${world}/VOCdevkit/VOC2007`;
    const flagsPath = `${world}/ebp_difficult/voc07_${split}.txt`;
    if (isFile(`${world}/manifest.json`)) {
      if (!isFile(`${root}/ImageSets/Main/${split}.txt`) || !isFile(flagsPath)) {
        const flagged = namesIn(`${world}/ebp_difficult`, /^voc07_([A-Za-z0-9]+)\.txt$/);
        throw noSplit(
          "synthetic",
          split,
          namesIn(`${root}/ImageSets/Main`, VOC_SPLIT).filter((s) => flagged.includes(s)),
        );
      }
    } else if (split !== "test") {
      // generated on first use, with its test split only
      throw noSplit("synthetic", split, ["test"]);
    }
    return {
      modelDir: model.dir,
      dataset: {
        source: { format: "voc", root, split },
        flagsPath,
        generateSyntheticAt: world,
      },
    };
  }
  const root = config.dataRoots.find((r) => r.name === spec.dataset);
  if (!root) {
    const names = ["synthetic", ...config.dataRoots.map((r) => r.name)];
    throw new EvaluationCheckError(
      "dataset", // no "dataset: " prefix: the shard hosts quote it after their name ("a: unknown dataset …")
      `unknown dataset ${JSON.stringify(spec.dataset)}; this server has: ${names.join(", ")}`,
    );
  }
  if (!isDirectory(root.root)) {
    throw new EvaluationCheckError(
      "dataset",
      `dataset: ${JSON.stringify(spec.dataset)} is configured but its folder is missing on this host`,
    );
  }
  const coco = isDirectory(`${root.root}/annotations`);
  const split = spec.split ?? (coco ? "val2014" : "test");
  if (
    coco
      ? !isFile(`${root.root}/annotations/instances_${split}.json`)
      : !isFile(`${root.root}/ImageSets/Main/${split}.txt`)
  ) {
    throw noSplit(
      spec.dataset,
      split,
      coco
        ? namesIn(`${root.root}/annotations`, COCO_SPLIT)
        : namesIn(`${root.root}/ImageSets/Main`, VOC_SPLIT),
    );
  }
  return {
    modelDir: model.dir,
    dataset: { source: { format: coco ? "coco" : "voc", root: root.root, split } },
  };
}
