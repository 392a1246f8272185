/**
 * Checks an evaluation spec against the model it names before a job is queued: the methods exist, every layer
 * is one of the model's (conv modules for normgrad-exact), no list names an entry twice, and every combination
 * can be computed (a non-input layer to combine, per-layer weights for "accuracy"/"spread", a method with layers),
 * and each method option belongs to a listed method (a noise tunnel to all, not with meta-saliency). The same checks the
 * evaluation worker would otherwise fail on after the job was accepted. Throws an EvaluationCheckError naming
 * the field and the rule.
 */
import type { ModelManifest } from "../models/manifest.ts";
import { networkOf } from "../models/load.ts";
import { resolveLayers } from "../nets/paper_layers.ts";
import { type CombineArch, layerWeights } from "../saliency/combine.ts";
import { METHODS } from "../saliency/methods.ts";
import { INPUT_ONLY } from "../saliency/extract.ts";
import { type EvaluationSpec, faithfulnessPairs } from "./evaluation_spec.ts";
import { OPTION_OWNERS, unusedOptions } from "../models/method_request.ts";

/** Whether a method maps the input only (RISE, occlusion, FullGrad): an evaluation explains it there only. */
export const inputOnlyMethod = (name: string) =>
  INPUT_ONLY.has(METHODS.find((m) => m.name === name)!.extract);

/** The error codes an evaluation spec can be refused with (a subset of routes/errors.ts ERROR_CODES). */
export type EvaluationErrorCode = "unknown_model" | "unknown_method" | "unknown_layer" | "bad_evaluation";

export type EvaluationField =
  | "model"
  | "dataset"
  | "split"
  | "methods"
  | "layers"
  | "combinations"
  | "meta"
  | "centre"
  | "faithfulness"
  | "integratedGradients"
  | "rise"
  | "occlusion"
  | "noise";

/** A spec that cannot run here: `field` says which part, `code` the API error code. */
export class EvaluationCheckError extends Error {
  override name = "EvaluationCheckError";
  constructor(
    readonly field: EvaluationField,
    message: string,
    readonly code: EvaluationErrorCode = "bad_evaluation",
  ) {
    super(message);
  }
}

const shown = (layer: string) => (layer === "" ? "input" : layer);
const quoted = (names: readonly string[]) => names.map((n) => JSON.stringify(shown(n))).join(", ");

function firstDuplicate<T>(items: readonly T[], key: (t: T) => string): string | undefined {
  const seen = new Set<string>();
  for (const item of items) {
    const k = key(item);
    if (seen.has(k)) return k;
    seen.add(k);
  }
  return undefined;
}

/** Throws an EvaluationCheckError unless `spec` can run on the model `manifest` describes. */
export function checkEvaluationSpec(spec: EvaluationSpec, manifest: ModelManifest): void {
  const unknownMethods = spec.methods.filter((m) => !METHODS.some((x) => x.name === m));
  if (unknownMethods.length) {
    throw new EvaluationCheckError(
      "methods",
      `methods: unknown method(s) ${unknownMethods.map((m) => JSON.stringify(m)).join(", ")}; valid: ${
        METHODS.map((m) => m.name).join(", ")
      }`,
      "unknown_method",
    );
  }
  const twiceMethod = firstDuplicate(spec.methods, (m) => m);
  if (twiceMethod !== undefined) {
    throw new EvaluationCheckError("methods", `methods: ${JSON.stringify(twiceMethod)} is listed twice`);
  }

  const net = networkOf(manifest);
  const layers = resolveLayers(spec.layers, manifest.arch, manifest.probeLayers);
  const twiceLayer = firstDuplicate(layers, (l) => l);
  if (twiceLayer !== undefined) {
    throw new EvaluationCheckError(
      "layers",
      `layers: ${JSON.stringify(shown(twiceLayer))} is listed twice ("input" and "" are the same layer)`,
    );
  }
  const known = new Set(net.layerNames);
  const unknown = layers.filter((l) => !known.has(l));
  if (unknown.length) {
    throw new EvaluationCheckError(
      "layers",
      `layers: unknown layer(s) ${quoted(unknown)} in model ${
        JSON.stringify(manifest.name)
      }; valid: "paper", ${net.layerNames.map(shown).join(", ")}`,
      "unknown_layer",
    );
  }
  checkMethodOptions(spec);
  const faithfulness = spec.kind === "faithfulness";
  if (faithfulness) checkFaithfulness(spec, manifest);
  else if (spec.faithfulness) {
    throw new EvaluationCheckError(
      "faithfulness",
      'faithfulness: these options are for kind "faithfulness"; this job is a pointing game',
    );
  }
  const exact = spec.methods.filter((m) => METHODS.find((x) => x.name === m)!.extract === "conv-exact");
  const explained = faithfulness
    ? faithfulnessPairs(exact, layers, inputOnlyMethod).map((p) => p.layer)
    : exact.length
    ? layers
    : [];
  const notConvs = explained.filter((l) => !net.convs.has(l));
  if (notConvs.length) {
    throw new EvaluationCheckError(
      "layers",
      `layers: ${exact.join(", ")} explain(s) at conv modules only; ${quoted(notConvs)} ${
        notConvs.length > 1 ? "are not conv modules" : "is not a conv module"
      }; conv modules of ${JSON.stringify(manifest.name)}: ${[...net.convs.keys()].join(", ")}`,
      "unknown_layer",
    );
  }

  if (spec.combinations.length === 0) return;
  const twiceCombination = firstDuplicate(spec.combinations, (c) => `${c.mode}/${c.weights}`);
  if (twiceCombination !== undefined) {
    throw new EvaluationCheckError("combinations", `combinations: ${twiceCombination} is listed twice`);
  }
  const deep = layers.filter((l) => l !== "");
  if (deep.length === 0) {
    throw new EvaluationCheckError(
      "combinations",
      "combinations: a combination needs at least one non-input layer in layers; only the input was given",
    );
  }
  if (spec.methods.every(inputOnlyMethod)) {
    throw new EvaluationCheckError(
      "combinations",
      `combinations: ${
        spec.methods.join(", ")
      } explain(s) the input only; no method here has layers to combine`,
    );
  }
  const arch = (["vgg16", "resnet50"] as const).find((a) => a === manifest.arch) as CombineArch | undefined;
  spec.combinations.forEach((c, i) => {
    try {
      layerWeights(c.weights, deep.length, { arch, layers: deep, table: manifest.layerWeights });
    } catch (e) {
      throw new EvaluationCheckError(
        "combinations",
        `combinations[${i}] (${c.mode}/${c.weights}) cannot combine layers ${deep.join(", ")}: ${
          (e as Error).message
        }`,
      );
    }
  });
}

const OPTION_FIELDS = [...Object.keys(OPTION_OWNERS), "noise"] as const as readonly (
  | keyof typeof OPTION_OWNERS
  | "noise"
)[];

/** Method options: for a method the job lists, a noise tunnel not with meta-saliency, none for the centre. */
function checkMethodOptions(spec: EvaluationSpec): void {
  const given = OPTION_FIELDS.filter((f) => spec[f] !== undefined);
  if (given.length === 0) return;
  if (spec.centre) {
    throw new EvaluationCheckError(
      given[0],
      `${given[0]}: the centre baseline computes no maps; method options are for saliency methods`,
    );
  }
  const extracts = spec.methods.map((m) => METHODS.find((x) => x.name === m)!.extract);
  for (const { field, method } of unusedOptions(spec, extracts)) {
    throw new EvaluationCheckError(
      field,
      `${field}: applies to method ${method}, which methods does not list`,
    );
  }
  if (spec.noise && spec.meta) {
    throw new EvaluationCheckError("noise", "noise: a noise tunnel does not combine with meta-saliency");
  }
  if (spec.rise && spec.faithfulness?.riseMasks !== undefined) {
    throw new EvaluationCheckError(
      "faithfulness",
      "faithfulness.riseMasks: RISE's masks are also given in rise.masks; give them once, in rise",
    );
  }
}

/** What a faithfulness job cannot have: combinations, meta-saliency, the centre baseline, a score-map model. */
function checkFaithfulness(spec: EvaluationSpec, manifest: ModelManifest): void {
  const refuse = (field: EvaluationField, what: string) => {
    throw new EvaluationCheckError(
      field,
      `${field}: ${what} in a pointing-game job only, not in kind "faithfulness"`,
    );
  };
  if (spec.combinations.length) refuse("combinations", "layer combinations are");
  if (spec.meta) refuse("meta", "meta-saliency is");
  if (spec.centre) refuse("centre", "the centre baseline is");
  if (manifest.head === "fully-conv") {
    throw new EvaluationCheckError(
      "model",
      `model: ${
        JSON.stringify(manifest.name)
      } gives score maps (head "fully-conv"); the faithfulness metrics need ` +
        "a classifier's class probabilities",
    );
  }
}
