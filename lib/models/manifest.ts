/**
 * Model manifests (models/<name>/manifest.json, written by tools/train_classifier.py): what a shipped model is
 * (architecture, width, classes, head), how to feed it (input size, normalisation), where to probe it, how it
 * was trained and how well it does. Validated on read; a bad manifest is a ManifestError naming the field.
 */
import type { Normalisation } from "../image/preprocess.ts";
import type { Probability } from "../saliency/seeds.ts";

export interface ModelManifest {
  name: string;
  arch: string;
  width: number;
  numClasses: number;
  classes: string[];
  head: "classifier" | "fully-conv" | "gap";
  multiLabel: boolean;
  inputSize: [number, number];
  preprocess: Normalisation & { resize: string; scale: number };
  probeLayers: string[];
  weights: { file: string; dtype: string };
  /**
   * An imported graph's contrastive-EB layers, when not the graph's own choice (the input of its classifier):
   * the contrast layer and the conv / linear layer whose weights are negated.
   */
  contrast?: { layer: string; classifier: string };
  /** Optional per-layer weights for the combination (lib/saliency/combine.ts), e.g. { accuracy: {layer1: 0.1} }. */
  layerWeights?: Record<string, Record<string, number>>;
  training?: Record<string, unknown>;
  metrics?: Record<string, unknown>;
  checkpoints?: { epoch: number; val_map: number; file: string }[];
  /** The folder the manifest was read from (set by the reader, not in the file): where `weights.file` is. */
  dir?: string;
}

export class ManifestError extends Error {
  override name = "ManifestError";
}

function need(ok: boolean, source: string, what: string): void {
  if (!ok) throw new ManifestError(`${source}: ${what}`);
}

/**
 * Parses and validates a manifest's JSON text; `dir` is the folder it came from. `arch` "onnx" = an imported
 * graph (weights.file is the .onnx file; width is not used).
 */
export function parseManifest(text: string, source = "manifest.json", dir?: string): ModelManifest {
  let m: ModelManifest;
  try {
    m = JSON.parse(text);
  } catch (e) {
    throw new ManifestError(`${source}: not valid JSON (${(e as Error).message})`);
  }
  need(typeof m === "object" && m !== null, source, "must be a JSON object");
  need(typeof m.name === "string" && m.name.length > 0, source, "name must be a non-empty string");
  need(typeof m.arch === "string", source, "arch must be a string");
  need(typeof m.width === "number" && m.width > 0, source, "width must be a positive number");
  need(
    Array.isArray(m.classes) && m.classes.every((c) => typeof c === "string"),
    source,
    "classes must be strings",
  );
  need(m.numClasses === m.classes.length, source, `numClasses (${m.numClasses}) must equal classes.length`);
  need(
    m.head === "classifier" || m.head === "fully-conv" || m.head === "gap",
    source,
    'head must be "classifier", "fully-conv" or "gap"',
  );
  need(
    Array.isArray(m.inputSize) && m.inputSize.length === 2 &&
      m.inputSize.every((s) => Number.isInteger(s) && s > 0),
    source,
    "inputSize must be [height, width]",
  );
  const p = m.preprocess;
  need(
    p && [p.mean, p.std].every((v) => Array.isArray(v) && v.length === 3) && p.std.every((s) => s > 0),
    source,
    "preprocess.mean and preprocess.std must be 3 numbers (std > 0)",
  );
  need(Array.isArray(m.probeLayers), source, "probeLayers must be a list of layer names");
  need(typeof m.weights?.file === "string", source, "weights.file must name the weights file");
  need(
    m.arch !== "onnx" || (/\.onnx$/.test(m.weights.file) && !m.weights.file.includes("..")),
    source,
    'an "onnx" model\'s weights.file must be an .onnx file in its folder',
  );
  need(
    m.contrast === undefined ||
      (m.arch === "onnx" && typeof m.contrast?.layer === "string" &&
        typeof m.contrast?.classifier === "string" && Object.keys(m.contrast).length === 2),
    source,
    'contrast is {"layer": ..., "classifier": ...} (layer names), for an "onnx" model only',
  );
  if (dir !== undefined) m.dir = dir;
  return m;
}

/** How the model's logits become class probabilities: a sigmoid each for multi-label heads, else a softmax. */
export function headProbability(manifest: Pick<ModelManifest, "multiLabel">): Probability {
  return manifest.multiLabel ? "sigmoid" : "softmax";
}
