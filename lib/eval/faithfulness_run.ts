/**
 * A faithfulness evaluation: for each image of a dataset split, the model's top class is explained by each
 * method at its layer, the map resized to the model's input (bilinear, PyTorch's align_corners=false), and RISE's
 * deletion and insertion curves run on it (lib/eval/causal_metric.ts; probabilities by the model's head: sigmoid
 * for multi-label models, else softmax), and Grad-CAM++'s Average Drop / Increase in Confidence
 * (lib/eval/confidence_metrics.ts). One JSON line per image in a results file, so a run resumes where it stopped;
 * the summary is each method's mean AUC (with its standard error) and mean curve per mode, and its Average Drop
 * and Increase in Confidence.
 */
import type { LoadedModel } from "../models/load.ts";
import { headProbability } from "../models/manifest.ts";
import type { Tensor } from "../runtime/tf.ts";
import { decodeImage } from "../image/decode.ts";
import { toInputTensor } from "../image/preprocess.ts";
import { runProbed } from "../nets/probes.ts";
import { computeSaliency } from "../saliency/saliency.ts";
import { methodByName } from "../saliency/methods.ts";
import { resizeMap } from "../saliency/postprocess.ts";
import type { RiseOptions } from "../saliency/rise.ts";
import { causalCurve, type CausalMode } from "./causal_metric.ts";
import { averageDropIncrease, confidenceChange } from "./confidence_metrics.ts";
import { datasetKeys, type DatasetSource, pointingSamples } from "./pointing_samples.ts";

export const CAUSAL_MODES: readonly CausalMode[] = ["deletion", "insertion"];

/** A method explained at one layer ("" = the input). */
export interface MethodAt {
  method: string;
  layer: string;
}

export const methodAtLabel = (m: MethodAt) => `${m.method}@${m.layer === "" ? "input" : m.layer}`;

export interface FaithfulnessOptions {
  model: LoadedModel;
  source: DatasetSource;
  methods: readonly MethodAt[];
  /** At most this many images (the split's first ones). */
  limit?: number;
  /** Pixels per curve step (default: the input's width, RISE's 224 at 224x224). */
  step?: number;
  /** RISE's options when a method is rise (e.g. fewer masks than its 8000). */
  rise?: RiseOptions;
  /** The results file (JSON lines, one per image): resumed when it exists. */
  results: string;
}

export interface ImageRecord {
  key: string;
  target: number;
  /** Per method label and mode: the AUC and the curve. */
  curves: Record<string, Record<CausalMode, { auc: number; scores: number[] }>>;
  /** Per method label: the target's probability on the image and on the image times the map. */
  confidence?: Record<string, { full: number; masked: number }>;
}

export type FaithfulnessEvent =
  | { kind: "image"; key: string; done: number; total: number }
  | { kind: "problem"; key: string; problem: string };

async function readDone(path: string): Promise<Map<string, ImageRecord>> {
  const done = new Map<string, ImageRecord>();
  let text = "";
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return done;
    throw e;
  }
  for (const line of text.split("\n")) {
    if (!line.trim()) continue;
    try {
      const r = JSON.parse(line) as ImageRecord;
      done.set(r.key, r);
    } catch {
      break; // a line cut by a kill: everything after it is redone
    }
  }
  return done;
}

/** Runs (or resumes) the evaluation, yielding progress; the records are in the results file. */
export async function* runFaithfulness(options: FaithfulnessOptions): AsyncGenerator<FaithfulnessEvent> {
  const { model, methods } = options;
  const { manifest, net, weights } = model;
  for (const m of methods) {
    methodByName(m.method);
    net.assertLayers([m.layer]);
  }
  const keys = await datasetKeys(options.source, manifest.classes);
  const total = Math.min(options.limit ?? keys.length, keys.length);
  const done = await readDone(options.results);
  // rewrite the file with the complete records only (drops a line cut by a kill)
  await Deno.writeTextFile(options.results, [...done.values()].map((r) => JSON.stringify(r) + "\n").join(""));
  const file = await Deno.open(options.results, { append: true });
  const probability = headProbability(manifest);
  const [height, width] = manifest.inputSize;
  const step = options.step ?? width;
  try {
    let index = 0;
    for await (const sample of pointingSamples(options.source, manifest.classes)) {
      if (options.limit !== undefined && index >= options.limit) break;
      index++;
      if ("problem" in sample) {
        yield { kind: "problem", key: sample.key, problem: sample.problem };
        continue;
      }
      if (done.has(sample.key)) {
        yield { kind: "image", key: sample.key, done: index, total };
        continue;
      }
      const image = decodeImage(await Deno.readFile(sample.imagePath), sample.imagePath);
      const input = toInputTensor(image, manifest.inputSize, manifest.preprocess);
      try {
        const forward = runProbed(net, weights, input);
        const logits = await forward.output.data() as Float32Array; // asynchronous: webgpu reads no other way
        forward.dispose();
        const target = logits.slice(0, manifest.numClasses).reduce(
          (best, v, i, a) => (v > a[best] ? i : best),
          0,
        );
        const record: ImageRecord = { key: sample.key, target, curves: {}, confidence: {} };
        for (const m of methods) {
          const r = computeSaliency(net, weights, input, {
            method: m.method,
            layers: [m.layer],
            seed: { kind: "one-hot", targets: [target] },
            rise: { ...options.rise, probability },
          });
          let saliency: Float32Array;
          try {
            const resized: Tensor = resizeMap(r.maps.get(m.layer)!, [height, width]);
            saliency = await resized.data() as Float32Array;
            record.confidence![methodAtLabel(m)] = await confidenceChange(
              net,
              weights,
              input,
              target,
              resized,
              probability,
            );
            resized.dispose();
          } finally {
            r.dispose();
          }
          const curves = {} as Record<CausalMode, { auc: number; scores: number[] }>;
          for (const mode of CAUSAL_MODES) {
            const c = await causalCurve(net, weights, input, target, saliency, mode, { step, probability });
            curves[mode] = { auc: c.auc, scores: Array.from(c.scores) };
          }
          record.curves[methodAtLabel(m)] = curves;
        }
        await file.write(new TextEncoder().encode(JSON.stringify(record) + "\n"));
        done.set(sample.key, record);
        yield { kind: "image", key: sample.key, done: index, total };
      } finally {
        input.dispose();
      }
    }
  } finally {
    file.close();
  }
}

export interface FaithfulnessSummary {
  images: number;
  /** Per method label and mode: mean AUC, its standard error, and the mean curve. */
  methods: Record<string, Record<CausalMode, { auc: number; sem: number; curve: number[] }>>;
  /** Per method label: Average Drop and Increase in Confidence (%), over the records that have them. */
  confidence: Record<string, { averageDrop: number; increase: number; images: number }>;
}

/** Means over the records of a results file. */
export async function summariseFaithfulness(results: string): Promise<FaithfulnessSummary> {
  const records = [...(await readDone(results)).values()];
  const methods: FaithfulnessSummary["methods"] = {};
  const labels = [...new Set(records.flatMap((r) => Object.keys(r.curves)))];
  for (const label of labels) {
    const rows = records.filter((r) => r.curves[label]);
    methods[label] = {} as Record<CausalMode, { auc: number; sem: number; curve: number[] }>;
    for (const mode of CAUSAL_MODES) {
      const aucs = rows.map((r) => r.curves[label][mode].auc);
      const mean = aucs.reduce((a, b) => a + b, 0) / aucs.length;
      const sd = Math.sqrt(aucs.reduce((a, v) => a + (v - mean) ** 2, 0) / Math.max(1, aucs.length - 1));
      const length = rows[0].curves[label][mode].scores.length;
      const curve = Array.from(
        { length },
        (_, i) => rows.reduce((a, r) => a + r.curves[label][mode].scores[i], 0) / rows.length,
      );
      methods[label][mode] = { auc: mean, sem: sd / Math.sqrt(aucs.length), curve };
    }
  }
  const confidence: FaithfulnessSummary["confidence"] = {};
  for (const label of labels) {
    const changes = records.flatMap((r) => (r.confidence?.[label] ? [r.confidence[label]] : []));
    if (changes.length) confidence[label] = { ...averageDropIncrease(changes), images: changes.length };
  }
  return { images: records.length, methods, confidence };
}
