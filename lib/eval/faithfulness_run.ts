/**
 * The faithfulness evaluation driver, for the CLI (tools/faithfulness.ts) and the service's evaluation jobs, as an
 * async iterator of the same progress events as the pointing game (start, image, problem, done). For each image
 * of a dataset split, the model's top class is explained by each method at its layer (with the run's method
 * options: lib/models/method_request.ts), the map resized to the
 * model's input (bilinear, PyTorch's align_corners=false), and the asked metrics measured
 * (lib/eval/faithfulness_record.ts): RISE's deletion and insertion curves, Grad-CAM++'s confidence change, ROAD's
 * MoRF / LeRF probabilities; probabilities by the model's head (sigmoid for multi-label models, else softmax).
 * The energy-based pointing game explains every class of the image that the pointing game counts (its seed),
 * each map resized to the image and its energy share in the class's region taken (no smoothing).
 *
 * One JSON line per image in a results file with a header (lib/eval/results_file.ts): a run resumes after its
 * last complete line, refuses a file of another configuration, and runs one shard (a contiguous range of images)
 * when asked; the tallies add across shards. An image that cannot be used is a problem record naming it.
 */
import type { LoadedModel } from "../models/load.ts";
import { headProbability } from "../models/manifest.ts";
import type { Tensor } from "../runtime/tf.ts";
import { decodeImage } from "../image/decode.ts";
import { toInputTensor } from "../image/preprocess.ts";
import { runProbed } from "../nets/probes.ts";
import { computeSaliency, type SaliencyResult } from "../saliency/saliency.ts";
import { repeatForTargets } from "../saliency/seeds.ts";
import { methodByName } from "../saliency/methods.ts";
import { resizeMap } from "../saliency/postprocess.ts";
import type { Seed } from "../saliency/seeds.ts";
import { type MethodOptions, methodRequest, releaseRequest } from "../models/method_request.ts";
import { causalCurve, type CausalMode } from "./causal_metric.ts";
import { confidenceChange, energyInRegion } from "./confidence_metrics.ts";
import { checkRoadOptions, ROAD_DEFAULTS, type RoadOptions, roadScores } from "./road.ts";
import { type DatasetSource, type PointingSample, pointingSamples } from "./pointing_samples.ts";
import { PointingRunError, runKeys } from "./pointing_run.ts";
import { ResultsWriter, type RunConfig, type Shard } from "./results_file.ts";
import {
  addRecord,
  type BriefSummary,
  briefSummary,
  DEFAULT_FAITHFULNESS_METRICS,
  emptyTallies,
  type FaithfulnessImageRecord,
  type FaithfulnessMetric,
  type FaithfulnessRecord,
  type FaithfulnessTallies,
  type LabelMeasures,
  type LabelSummary,
  summariseTallies,
} from "./faithfulness_record.ts";

export const CAUSAL_MODES: readonly CausalMode[] = ["deletion", "insertion"];

/** A method explained at one layer ("" = the input). */
export interface MethodAt {
  method: string;
  layer: string;
}

export const methodAtLabel = (m: MethodAt) => `${m.method}@${m.layer === "" ? "input" : m.layer}`;

export interface FaithfulnessRunOptions {
  model: LoadedModel;
  source: DatasetSource;
  methods: readonly MethodAt[];
  /** Default deletion, insertion, confidence. */
  metrics?: readonly FaithfulnessMetric[];
  /** Only the first `limit` images of the dataset (before sharding). */
  limit?: number;
  shard?: Shard;
  /** The number of images (after `limit`, before sharding) the caller split the run over. */
  expectImages?: number;
  /** Pixels per deletion / insertion step (default: the input's width, RISE's 224 at 224x224). */
  step?: number;
  /** Deletion's and insertion's substrates (default zeros for deletion, RISE's blur for insertion). */
  substrate?: { deletion?: "zero" | "blur"; insertion?: "zero" | "blur" };
  road?: Pick<RoadOptions, "fractions" | "noise" | "seed">;
  /**
   * The methods' options (e.g. RISE with fewer masks than its 8000, integrated gradients' steps, a noise tunnel
   * around every method); each applies to the methods it belongs to.
   */
  methodOptions?: MethodOptions;
  /** What else identifies the run (model, spec, …); stored in the results file's header. */
  describe?: Record<string, unknown>;
  /** JSON-lines results file: created, or resumed when it holds this run already. */
  resultsPath?: string;
  /** Add the running tallies to every image event (the Redis scale-out merges them across hosts). */
  withTallies?: boolean;
  signal?: AbortSignal;
}

export interface FaithfulnessResult {
  kind: "faithfulness";
  config: RunConfig;
  shard: Shard;
  images: number;
  problems: { key: string; message: string }[];
  summary: Record<string, LabelSummary>;
  tallies: FaithfulnessTallies;
}

export type FaithfulnessEvent =
  | { type: "start"; total: number; done: number; labels: readonly string[] }
  | {
    type: "image";
    key: string;
    done: number;
    total: number;
    problems: number;
    imagesPerSecond: number;
    etaSeconds: number;
    summary: Record<string, BriefSummary>;
    tallies?: FaithfulnessTallies;
  }
  | { type: "problem"; key: string; message: string; done: number; total: number }
  | { type: "done"; result: FaithfulnessResult };

/** Checks the options before any image is read; a PointingRunError / RoadError names the wrong one. */
function checkOptions(options: FaithfulnessRunOptions): void {
  const { model, methods } = options;
  if (methods.length === 0) throw new PointingRunError("a faithfulness run needs at least one method");
  for (const m of methods) {
    methodByName(m.method);
    model.net.assertLayers([m.layer]);
  }
  const labels = methods.map(methodAtLabel);
  const twice = labels.find((l, i) => labels.indexOf(l) !== i);
  if (twice) throw new PointingRunError(`${twice} is listed twice`);
  const metrics = options.metrics ?? DEFAULT_FAITHFULNESS_METRICS;
  if (metrics.length === 0) throw new PointingRunError("a faithfulness run needs at least one metric");
  if (options.step !== undefined && !(Number.isInteger(options.step) && options.step >= 1)) {
    throw new PointingRunError(`step must be a positive integer, got ${options.step}`);
  }
  if (options.road) checkRoadOptions(options.road);
}

export async function* runFaithfulness(options: FaithfulnessRunOptions): AsyncGenerator<FaithfulnessEvent> {
  checkOptions(options);
  const { model, source, methods } = options;
  const { manifest } = model;
  const metrics = options.metrics ?? DEFAULT_FAITHFULNESS_METRICS;
  const shard = options.shard ?? { index: 0, count: 1 };
  const keys = await runKeys(source, manifest.classes, { ...options, shard });
  const [height, width] = manifest.inputSize;
  const step = options.step ?? width;
  const road = {
    fractions: options.road?.fractions ?? ROAD_DEFAULTS.fractions,
    noise: options.road?.noise ?? ROAD_DEFAULTS.noise,
    seed: options.road?.seed ?? ROAD_DEFAULTS.seed,
  };
  const labels = methods.map(methodAtLabel);
  const config: RunConfig = {
    ...(options.describe ?? {}),
    kind: "faithfulness",
    dataset: { format: source.format, split: source.split },
    limit: options.limit ?? null,
    labels,
    classes: [...manifest.classes],
    metrics: [...metrics],
    step,
    substrate: { deletion: "zero", insertion: "blur", ...options.substrate },
    ...(metrics.includes("road")
      ? { road: { fractions: road.fractions, noise: road.noise, seed: road.seed } }
      : {}),
    // each option under its own key (a file written before the other options existed still resumes)
    ...Object.fromEntries(Object.entries(options.methodOptions ?? {}).filter(([, v]) => v !== undefined)),
  };
  const tallies = emptyTallies(labels, metrics, {
    curvePoints: Math.ceil((height * width) / step) + 1,
    fractions: road.fractions.length,
    classes: manifest.classes.length,
  });
  const done = new Set<string>();
  const problems: { key: string; message: string }[] = [];
  let images = 0;
  const add = (r: FaithfulnessRecord) => {
    if (done.has(r.key)) return;
    done.add(r.key);
    if (r.type === "problem") problems.push({ key: r.key, message: r.message });
    else {
      addRecord(tallies, r);
      images++;
    }
  };
  let writer: ResultsWriter<FaithfulnessRecord> | null = null;
  if (options.resultsPath) {
    const opened = await ResultsWriter.open<FaithfulnessRecord>(options.resultsPath, config, shard);
    writer = opened.writer;
    opened.existing.forEach(add);
  }
  const probability = headProbability(manifest);
  const record = async (r: FaithfulnessRecord) => {
    add(r);
    await writer?.write(r);
  };
  try {
    const total = keys.length;
    const resumed = keys.filter((k) => done.has(k)).length;
    yield { type: "start", total, done: resumed, labels };
    const todo = new Set(keys.filter((k) => !done.has(k)));
    const started = performance.now();
    let fresh = 0;
    for await (const sample of pointingSamples(source, manifest.classes, todo)) {
      options.signal?.throwIfAborted();
      let r: FaithfulnessRecord;
      if ("problem" in sample) r = { type: "problem", key: sample.key, message: sample.problem };
      else {
        try {
          r = await measureImage(sample, options, { metrics, step, road, probability, height, width });
        } catch (e) {
          if (e instanceof DOMException && e.name === "AbortError") throw e;
          r = { type: "problem", key: sample.key, message: (e as Error).message };
        }
      }
      await record(r);
      fresh++;
      const n = resumed + fresh;
      if (r.type === "problem") {
        yield { type: "problem", key: r.key, message: r.message, done: n, total };
        continue;
      }
      const rate = fresh / Math.max((performance.now() - started) / 1000, 1e-9);
      yield {
        type: "image",
        key: r.key,
        done: n,
        total,
        problems: problems.length,
        imagesPerSecond: rate,
        etaSeconds: (total - n) / Math.max(rate, 1e-9),
        summary: briefSummary(summariseTallies(tallies)),
        ...(options.withTallies ? { tallies: structuredClone(tallies) } : {}),
      };
    }
    for (const key of keys.filter((k) => !done.has(k))) {
      await record({ type: "problem", key, message: "listed in the split but not found in the annotations" });
    }
    yield {
      type: "done",
      result: {
        kind: "faithfulness",
        config,
        shard,
        images,
        problems,
        summary: summariseTallies(tallies, road.fractions),
        tallies,
      },
    };
  } finally {
    writer?.close();
  }
}

interface MeasureContext {
  metrics: readonly FaithfulnessMetric[];
  step: number;
  road: Required<Pick<RoadOptions, "fractions" | "noise" | "seed">>;
  probability: "softmax" | "sigmoid";
  height: number;
  width: number;
}

/** Every asked metric of every label on one image. */
async function measureImage(
  sample: Exclude<PointingSample, { problem: string }>,
  options: FaithfulnessRunOptions,
  context: MeasureContext,
): Promise<FaithfulnessImageRecord> {
  const { model, methods } = options;
  const { manifest, net, weights } = model;
  const { metrics, step, road, probability, height, width } = context;
  const image = decodeImage(await Deno.readFile(sample.imagePath), sample.imagePath);
  if (image.width !== sample.width || image.height !== sample.height) {
    throw new PointingRunError(
      `${sample.imagePath} is ${image.width}x${image.height} but its annotation says ${sample.width}x${sample.height}`,
    );
  }
  const input = toInputTensor(image, manifest.inputSize, manifest.preprocess);
  try {
    const forward = runProbed(net, weights, input);
    const logits = await forward.output.data() as Float32Array; // asynchronous: webgpu reads no other way
    forward.dispose();
    const target = logits.slice(0, manifest.numClasses).reduce(
      (best, v, i, a) => (v > a[best] ? i : best),
      0,
    );
    const record: FaithfulnessImageRecord = { type: "image", key: sample.key, target, measures: {} };
    const topClass = metrics.some((m) => m !== "energy");
    const counted = sample.classes.filter((c) => !c.skipAll);
    for (const m of methods) {
      const measures: LabelMeasures = {};
      if (topClass) {
        const r = explain(options, input, m, { kind: "one-hot", targets: [target] });
        let saliency: Float32Array;
        try {
          const resized: Tensor = resizeMap(r.maps.get(m.layer)!, [height, width]);
          try {
            saliency = await resized.data() as Float32Array;
            if (metrics.includes("confidence")) {
              measures.confidence = await confidenceChange(net, weights, input, target, resized, probability);
            }
          } finally {
            resized.dispose();
          }
        } finally {
          r.dispose();
        }
        for (const mode of CAUSAL_MODES) {
          if (!metrics.includes(mode)) continue;
          const c = await causalCurve(net, weights, input, target, saliency, mode, {
            step,
            probability,
            substrate: options.substrate?.[mode],
          });
          measures[mode] = { auc: c.auc, scores: Array.from(c.scores) };
        }
        if (metrics.includes("road")) {
          measures.road = await roadScores(net, weights, input, target, saliency, { ...road, probability });
        }
      }
      if (metrics.includes("energy")) {
        measures.energy = counted.length ? await energyShares(options, m, input, sample, counted) : [];
      }
      record.measures[methodAtLabel(m)] = measures;
    }
    return record;
  } finally {
    input.dispose();
  }
}

/** The maps of method `m` at its layer for `input`, with the run's method options. */
function explain(options: FaithfulnessRunOptions, input: Tensor, m: MethodAt, seed: Seed): SaliencyResult {
  const { net, weights, manifest } = options.model;
  const request = methodRequest({ method: m.method, ...options.methodOptions }, manifest, [m.layer], seed);
  try {
    return computeSaliency(net, weights, input, request);
  } finally {
    releaseRequest(request);
  }
}

/** The energy share of each counted class's map (the pointing game's seed) inside the class's region. */
async function energyShares(
  options: FaithfulnessRunOptions,
  m: MethodAt,
  input: Tensor,
  sample: Exclude<PointingSample, { problem: string }>,
  counted: Exclude<PointingSample, { problem: string }>["classes"],
): Promise<[number, number][]> {
  const targets = counted.map((c) => c.classIndex);
  const rows = repeatForTargets(input, targets);
  let r: SaliencyResult;
  try {
    r = explain(options, rows, m, { kind: "pointing", targets });
  } finally {
    if (rows !== input) rows.dispose();
  }
  try {
    const resized = resizeMap(r.maps.get(m.layer)!, [sample.height, sample.width]);
    const values = await resized.data() as Float32Array;
    resized.dispose();
    const pixels = sample.height * sample.width;
    return counted.map((
      c,
      i,
    ) => [c.classIndex, energyInRegion(values.subarray(i * pixels, (i + 1) * pixels), c.region)]);
  } finally {
    r.dispose();
  }
}
