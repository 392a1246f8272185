/**
 * What an evaluation job runs (POST /v1/evaluations): the pointing game (kind "pointing", the default) or the
 * faithfulness metrics (kind "faithfulness": lib/eval/faithfulness_run.ts), and how dataset NAMES resolve to folders: "synthetic" is
 * the generated world under the data directory (its VOC test split and EBP flags); every other name must be
 * configured at start in RETRACE_DATA_ROOTS ("voc07=/data/VOCdevkit/VOC2007,coco14=/data/coco"), so a request
 * can never point the server at an arbitrary path.
 */
import type { CombineMode, WeightScheme } from "../saliency/combine.ts";
import type { MetaSign } from "../saliency/meta.ts";
import type { FaithfulnessMetric } from "../eval/faithfulness_record.ts";
import type { MethodOptions } from "../models/method_request.ts";

export type EvaluationKind = "pointing" | "faithfulness";

/** A faithfulness job's options (every field has the CLI's default). */
export interface FaithfulnessSpec {
  metrics: FaithfulnessMetric[];
  /** Pixels per deletion / insertion step (default: the input's width). */
  step?: number;
  road?: { fractions?: number[]; noise?: number; seed?: number };
  /** RISE's masks when a method is rise (default 8000); the spec's `rise` says more (not both). */
  riseMasks?: number;
}

/**
 * A job: the methods with their options (integratedGradients, rise, occlusion: for that method; noise: a noise
 * tunnel around every method), at which layers, on which dataset.
 */
export interface EvaluationSpec extends MethodOptions {
  /** Absent in jobs stored before faithfulness jobs existed: the pointing game. */
  kind?: EvaluationKind;
  model: string;
  dataset: string;
  /** VOC: an ImageSets list (default test); COCO: e.g. val2014. */
  split?: string;
  methods: string[];
  layers: "paper" | string[];
  combinations: { mode: CombineMode; weights: WeightScheme }[];
  meta?: { sign: MetaSign; eta: number };
  centre: boolean;
  limit?: number;
  faithfulness?: FaithfulnessSpec;
}

/** The methods at their layers of a faithfulness job: input-only methods (RISE, occlusion, FullGrad) at the input. */
export function faithfulnessPairs(
  methods: readonly string[],
  layers: readonly string[],
  inputOnly: (method: string) => boolean,
): { method: string; layer: string }[] {
  return methods.flatMap((method) =>
    inputOnly(method) ? [{ method, layer: "" }] : layers.map((layer) => ({ method, layer }))
  );
}

export interface DataRoot {
  name: string;
  format: "voc" | "coco";
  root: string;
}

export class DataRootsError extends Error {
  override name = "DataRootsError";
}

/** Parses RETRACE_DATA_ROOTS: comma-separated name=path; the format is COCO when the folder has annotations/. */
export function parseDataRoots(text: string | undefined): { name: string; root: string }[] {
  if (!text) return [];
  return text.split(",").map((s) => s.trim()).filter(Boolean).map((item) => {
    const at = item.indexOf("=");
    if (at <= 0 || at === item.length - 1) {
      throw new DataRootsError(`RETRACE_DATA_ROOTS entries are name=path, got ${JSON.stringify(item)}`);
    }
    const name = item.slice(0, at);
    if (!/^[a-z0-9_-]+$/i.test(name) || name === "synthetic") {
      throw new DataRootsError(
        `dataset name ${JSON.stringify(name)} must be [a-z0-9_-]+ and not "synthetic"`,
      );
    }
    return { name, root: item.slice(at + 1) };
  });
}
