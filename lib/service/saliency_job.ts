/**
 * One saliency request as the service runs it inside a worker (no HTTP here): admit and decode the image (its
 * declared size and structure are checked before any pixel buffer exists), resolve the targets (indices, class
 * names, the top-k predictions, or every label predicted present: possibly none), run the method at all
 * requested layers for all targets in ONE batched forward/backward pass (with meta-saliency: one step per target),
 * optionally combine the layers, and return raw maps as Float32Arrays (transferable) with the predictions and
 * timings. Bad requests are ServiceInputError (the route answers 4xx with its message); tensors are all freed.
 */
import { type DecodedImage, decodeImage, ImageDecodeError, type Rasterizer } from "../image/decode.ts";
import { toInputTensor } from "../image/preprocess.ts";
import { overlayPng } from "../image/overlay.ts";
import type { ColormapName } from "../image/colormap.ts";
import type { LoadedModel } from "../models/load.ts";
import { methodRequest, releaseRequest, unusedOptions } from "../models/method_request.ts";
import { type Tensor, tf } from "../runtime/tf.ts";
import { readTogether } from "../runtime/read_together.ts";
import { type CombineArch, combineLayers, type CombineMode, type WeightScheme } from "../saliency/combine.ts";
import { metaSaliency, type MetaSign } from "../saliency/meta.ts";
import { runProbed } from "../nets/probes.ts";
import { computeSaliency, type MethodRef, resolveMethod, takesObjectiveSeed } from "../saliency/saliency.ts";
import type { Quadrature } from "../saliency/quadrature.ts";
import type { NoiseTunnelOptions } from "../saliency/noise_tunnel.ts";
import { objectiveFor, repeatForTargets, type Seed, topKObjective } from "../saliency/seeds.ts";
import { SaliencyInputError, UnknownMethodError, UnsupportedRuleError } from "../saliency/errors.ts";
import { UnknownLayerError } from "../nets/errors.ts";
import { resizeMap } from "../saliency/postprocess.ts";
import { readsSynchronously } from "../runtime/backend.ts";

export class ServiceInputError extends Error {
  override name = "ServiceInputError";
  constructor(readonly code: string, message: string) {
    super(message);
  }
}

export type TargetSpec =
  | { kind: "classes"; classes: (number | string)[] }
  | { kind: "top-k"; k: number }
  | { kind: "present"; threshold?: number };

export interface SaliencyJob {
  image: Uint8Array;
  /** A method name or an extraction x aggregation pair (lib/saliency/saliency.ts MethodRef). */
  method: MethodRef;
  /** "" or "input" = the input image. */
  layers: string[];
  targets: TargetSpec;
  seed?: "pointing" | "one-hot";
  meta?: { sign: MetaSign; eta: number };
  combine?: { mode: CombineMode; weights: WeightScheme };
  /** integrated-gradients' options; the baseline named in the model's input space ("black": pixel value 0). */
  integratedGradients?: {
    steps: number;
    quadrature: Quadrature;
    baseline: "zero" | "black";
    batch: number;
  };
  /** rise's options (its probability follows the model: sigmoid for multi-label). */
  rise?: { masks: number; cells: number; p: number; seed: number; batch: number };
  /** occlusion's options. */
  occlusion?: { window: number; stride: number; batch: number };
  /** Any method through a noise tunnel. */
  noise?: NoiseTunnelOptions;
  /** Largest accepted width x height of the decoded image. */
  maxPixels: number;
  /** "image": every map resized (bilinear, align_corners=false) to the image's own size; default raw. */
  resize?: "none" | "image";
  /**
   * Draw maps[map] over the image as a PNG here, in the worker (implies resize "image"); the answer then carries
   * the PNG and no maps. A map index past the maps made is ServiceInputError "bad_overlay".
   */
  overlay?: { alpha: number; map: number; colormap: ColormapName };
}

export interface MapOut {
  target: number;
  layer: string;
  /** [h, w] */
  shape: [number, number];
  data: Float32Array;
}

export interface SaliencyAnswer {
  image: { width: number; height: number };
  /** integrated-gradients: per target and layer, Σ attributions − (S(x) − S(x')). */
  completeness?: { target: number; layer: string; gap: number }[];
  targets: { index: number; name: string }[];
  predictions: { index: number; name: string; score: number }[];
  maps: MapOut[];
  timings: { decodeMs: number; forwardMs: number; saliencyMs: number };
  /** With job.overlay: the PNG and which map it shows. */
  overlay?: { png: Uint8Array; layer: string; target: number };
}

export function resolveTargets(spec: TargetSpec, classes: readonly string[], scores: Float32Array): number[] {
  if (spec.kind === "classes") {
    if (spec.classes.length === 0) {
      throw new ServiceInputError("bad_target", "give at least one target class");
    }
    return spec.classes.map((c) => {
      const k = typeof c === "number" ? c : classes.indexOf(c);
      if (!Number.isInteger(k) || k < 0 || k >= classes.length) {
        throw new ServiceInputError(
          "unknown_class",
          `unknown class ${JSON.stringify(c)}; valid are 0..${classes.length - 1} or ${classes.join(", ")}`,
        );
      }
      return k;
    });
  }
  const order = [...scores.keys()].sort((a, b) => scores[b] - scores[a] || a - b);
  if (spec.kind === "top-k") {
    if (!Number.isInteger(spec.k) || spec.k < 1 || spec.k > classes.length) {
      throw new ServiceInputError("bad_target", `top-k needs 1 <= k <= ${classes.length}, got ${spec.k}`);
    }
    return order.slice(0, spec.k);
  }
  const threshold = spec.threshold ?? 0.5;
  return order.filter((k) => scores[k] >= threshold); // none present: no targets, no maps
}

/**
 * The API error code (the route's shared vocabulary, routes/errors.ts; lib/ does not import routes/) for an
 * input error raised by lib/saliency or lib/nets while running a request.
 */
export function inputErrorCode(e: SaliencyInputError | UnknownLayerError): string {
  if (e instanceof UnknownLayerError) return "unknown_layer";
  if (e instanceof UnknownMethodError) return "unknown_method";
  if (e instanceof UnsupportedRuleError) return "unsupported_rule";
  return "invalid_request";
}

/** The method `ref` names, or ServiceInputError "unknown_method" listing the valid ones. */
export function checkMethod(ref: MethodRef): void {
  try {
    resolveMethod(ref);
  } catch (e) {
    if (e instanceof SaliencyInputError) throw new ServiceInputError(inputErrorCode(e), e.message);
    throw e;
  }
}

/**
 * One MapOut per entry and batch item (each entry's maps are [N, h, w, 1]; batch item i explains targets[i]),
 * entries in order, all read in one transfer (lib/runtime/read_together.ts: on webgpu a request for L layers
 * waits one round trip, not L). The tensors are left alone.
 */
export async function readMaps(
  entries: readonly (readonly [string, Tensor])[],
  targets: readonly number[],
): Promise<MapOut[]> {
  return mapsOf(entries, await readTogether(entries.map(([, m]) => m)), targets);
}

/** readMaps' MapOuts from values already read (values[k] holds entries[k]'s map). */
export function mapsOf(
  entries: readonly (readonly [string, Tensor])[],
  values: readonly Float32Array[],
  targets: readonly number[],
): MapOut[] {
  return entries.flatMap(([layer, m], k) => {
    const [, h, w] = m.shape as number[];
    return targets.map((target, i) => ({
      target,
      layer,
      shape: [h, w],
      data: values[k].slice(i * h * w, (i + 1) * h * w),
    }));
  });
}

/**
 * Decodes an uploaded image: a header declaring more than `maxPixels` is ServiceInputError "image_too_large"
 * (413) before any pixel buffer exists; unsupported, truncated, corrupt or undecodable bytes are "bad_image".
 * `rasterize` replaces the canvas decoder (tests).
 */
export function decodeUpload(bytes: Uint8Array, maxPixels: number, rasterize?: Rasterizer): DecodedImage {
  let image: DecodedImage;
  try {
    image = decodeImage(bytes, "the uploaded image", { maxPixels, rasterize });
  } catch (e) {
    if (!(e instanceof ImageDecodeError)) throw e;
    throw new ServiceInputError(e.reason === "too_large" ? "image_too_large" : "bad_image", e.message);
  }
  if (image.width * image.height > maxPixels) { // the decoder disagreeing with the header
    throw new ServiceInputError(
      "image_too_large",
      `the image is ${image.width}x${image.height} = ${
        image.width * image.height
      } pixels; the limit is ${maxPixels}`,
    );
  }
  return image;
}

/** The PNG of maps[overlay.map] (at the image's size) over the image. */
export function drawOverlay(
  image: DecodedImage,
  maps: MapOut[],
  overlay: NonNullable<SaliencyJob["overlay"]>,
): NonNullable<SaliencyAnswer["overlay"]> {
  const m = maps[overlay.map];
  if (!m) {
    throw new ServiceInputError(
      "bad_overlay",
      `overlay.map is ${overlay.map} but the request made ${maps.length} map(s), indexed from 0` +
        (maps.length === 0 ? " (no target: no class was predicted present over the threshold)" : ""),
    );
  }
  return {
    png: overlayPng(image, m.data, overlay.alpha, overlay.colormap),
    layer: m.layer,
    target: m.target,
  };
}

/**
 * The job's layers as the network names them ("input" -> ""), after checking the method, the layers and the
 * combination (ServiceInputError naming what is wrong).
 */
export function checkJob(model: LoadedModel, job: SaliencyJob): string[] {
  const layers = job.layers.map((l) => (l === "input" ? "" : l));
  if (layers.length === 0) {
    throw new ServiceInputError("bad_layer", 'give at least one layer ("input" = the image)');
  }
  checkMethod(job.method);
  try {
    model.net.assertLayers(layers);
    if (resolveMethod(job.method).extract === "conv-exact") model.net.assertConvs(layers);
  } catch (e) {
    throw new ServiceInputError("unknown_layer", (e as UnknownLayerError).message);
  }
  if (job.combine && layers.every((l) => l === "")) {
    throw new ServiceInputError("bad_layer", "a combination needs at least one non-input layer");
  }
  for (const { field, method } of unusedOptions(job, [resolveMethod(job.method).extract])) {
    throw new ServiceInputError("invalid_request", `${field}: applies to method ${method} only`);
  }
  if (job.noise && job.meta) {
    throw new ServiceInputError(
      "invalid_request",
      "noise: a noise tunnel does not combine with meta-saliency",
    );
  }
  return layers;
}

/** Class scores (sigmoid for multi-label heads, else softmax) from the first K values of `logits`. */
export function classScores(manifest: LoadedModel["manifest"], logits: Float32Array): Float32Array {
  const k = manifest.numClasses;
  const scores = Float32Array.from(
    logits.subarray(0, k),
    (z) => manifest.multiLabel ? 1 / (1 + Math.exp(-z)) : z,
  );
  if (!manifest.multiLabel) {
    const m = Math.max(...scores);
    const e = scores.map((z) => Math.exp(z - m));
    const s = e.reduce((a, b) => a + b, 0);
    scores.forEach((_, i) => (scores[i] = e[i] / s));
  }
  return scores;
}

/** The five best predictions. */
export function topPredictions(
  manifest: LoadedModel["manifest"],
  scores: Float32Array,
): SaliencyAnswer["predictions"] {
  return [...scores.keys()].sort((a, b) => scores[b] - scores[a]).slice(0, 5).map((i) => ({
    index: i,
    name: manifest.classes[i],
    score: scores[i],
  }));
}

/** The layer names answers use for a job's maps: its layers ("" as "input"), then its combination's. */
export function answerLayers(layers: readonly string[], combine: SaliencyJob["combine"]): string[] {
  return [
    ...layers.map((l) => (l === "" ? "input" : l)),
    ...(combine ? [`${combine.mode}/${combine.weights}`] : []),
  ];
}

/** The combination of a job's non-input maps ([N, h, w, 1] each), at the model's input size. */
export function combineJobMaps(
  manifest: LoadedModel["manifest"],
  layers: readonly string[],
  mapOf: (layer: string) => Tensor,
  combine: NonNullable<SaliencyJob["combine"]>,
): Tensor {
  const deep = layers.filter((l) => l !== ""); // not empty: checkJob
  const arch = (["vgg16", "resnet50"] as const).find((a) => a === manifest.arch) as CombineArch | undefined;
  return combineLayers(deep.map(mapOf), {
    ...combine,
    size: manifest.inputSize,
    arch,
    layers: deep,
    table: manifest.layerWeights,
  });
}

/** The completeness gaps [targets] per layer, read, one entry per target and layer ("" answered as "input"). */
export async function completenessOf(
  gaps: ReadonlyMap<string, Tensor>,
  targets: readonly number[],
): Promise<{ target: number; layer: string; gap: number }[]> {
  const out: { target: number; layer: string; gap: number }[] = [];
  for (const [layer, t] of gaps) {
    const values = await t.data();
    targets.forEach((target, i) => out.push({ target, layer: layer || "input", gap: values[i] }));
  }
  return out;
}

/** Runs one job on a loaded classifier. `rasterize` replaces the canvas decoder (tests). */
export async function runSaliencyJob(
  model: LoadedModel,
  job: SaliencyJob,
  rasterize?: Rasterizer,
): Promise<SaliencyAnswer> {
  const { manifest, net, weights } = model;
  const t0 = performance.now();
  const image = decodeUpload(job.image, job.maxPixels, rasterize);
  const layers = checkJob(model, job);
  const t1 = performance.now();
  const input = toInputTensor(image, manifest.inputSize, manifest.preprocess);
  const k = manifest.numClasses;
  const scoresOf = (logits: Float32Array) => classScores(manifest, logits);
  // One pass when the number of targets is known before the forward (classes, top-k) and the method can take an
  // objective seed: the targets are then chosen from the saliency pass's own logits, inside the objective, on
  // the host where the backend reads synchronously (wasm, cpu), else on the device (tf.topk; webgpu), whose
  // choice, scores and maps then come back in one read. Otherwise (labels predicted present, meta-saliency,
  // contrastive excitation, score-map heads on webgpu) a forward picks them first.
  const count = job.targets.kind === "classes"
    ? job.targets.classes.length
    : job.targets.kind === "top-k"
    ? job.targets.k
    : null;
  // (the method is known: checkMethod above)
  // (a gradient-free method, e.g. Eigen-CAM or Score-CAM, or integrated gradients: their targets come first)
  const seedable = count !== null && !job.meta && !job.noise && takesObjectiveSeed(resolveMethod(job.method));
  const onePass = seedable && readsSynchronously();
  const onDevice = seedable && !onePass && manifest.head !== "fully-conv";
  let chosen: Tensor | null = null; // the device's target choice (int32 [N]), read with the maps
  const outputLayer = net.layerNames.at(-1)!;
  try {
    let scores: Float32Array = new Float32Array(k);
    let targets: number[] = [];
    let seed: Seed;
    if (onDevice) {
      targets = resolveTargets(job.targets, manifest.classes, scores); // validates the spec before the pass
      seed = job.targets.kind === "classes"
        ? { kind: job.seed ?? "pointing", targets }
        : { kind: "objective", layer: outputLayer, objective: topKObjective((t) => (chosen = t)) };
    } else if (onePass) {
      targets = resolveTargets(job.targets, manifest.classes, scores); // validates the spec before the pass
      const kind = job.seed ?? "pointing";
      seed = {
        kind: "objective",
        layer: outputLayer,
        objective: (output: Tensor) => {
          scores = scoresOf(output.dataSync() as Float32Array);
          targets = resolveTargets(job.targets, manifest.classes, scores);
          return objectiveFor({ kind, targets })(output);
        },
      };
    } else {
      const probed = runProbed(net, weights, input);
      scores = scoresOf(await probed.output.data() as Float32Array);
      probed.dispose();
      targets = resolveTargets(job.targets, manifest.classes, scores);
      seed = { kind: job.seed ?? "pointing", targets };
    }
    const t2 = performance.now();
    const predictions = () => topPredictions(manifest, scores);
    if (targets.length === 0) { // nothing predicted present: nothing to explain
      if (job.overlay) drawOverlay(image, [], job.overlay); // bad_overlay: nothing to draw
      return {
        image: { width: image.width, height: image.height },
        targets: [],
        predictions: predictions(),
        maps: [],
        timings: { decodeMs: t1 - t0, forwardMs: t2 - t1, saliencyMs: 0 },
      };
    }
    const batch = repeatForTargets(input, onePass || onDevice ? new Array(count!).fill(0) : targets);
    const request = methodRequest(job, manifest, layers, seed);
    let result;
    try {
      result = job.meta
        ? metaSaliency(net, weights, batch, request, job.meta)
        : computeSaliency(net, weights, batch, request);
    } catch (e) {
      if (e instanceof SaliencyInputError || e instanceof UnknownLayerError) {
        throw new ServiceInputError(inputErrorCode(e), e.message);
      }
      throw e;
    } finally {
      batch.dispose();
      releaseRequest(request);
    }
    const owned: Tensor[] = []; // resized maps and the combination, freed with the result
    try {
      const entries: [string, Tensor][] = [];
      const emit = (layer: string, raw: Tensor) => {
        const m = job.resize === "image" || job.overlay ? resizeMap(raw, [image.height, image.width]) : raw;
        if (m !== raw) owned.push(m);
        entries.push([layer, m]);
      };
      const names = answerLayers(layers, job.combine);
      layers.forEach((layer, i) => emit(names[i], result.maps.get(layer)!));
      if (job.combine) {
        const combined = combineJobMaps(manifest, layers, (l) => result.maps.get(l)!, job.combine);
        owned.push(combined);
        emit(names.at(-1)!, combined);
      }
      let maps: MapOut[];
      if (onDevice) {
        // the maps, the logits of the image and the device's target choice: one read
        const logits = tf.slice(result.output, [0, 0], [1, k]);
        owned.push(logits);
        const values = await readTogether([
          ...entries.map(([, m]) => m),
          logits,
          ...(chosen ? [chosen] : []),
        ]);
        scores = scoresOf(values[entries.length]);
        if (chosen) targets = Array.from(values[entries.length + 1]);
        maps = mapsOf(entries, values, targets);
      } else {
        maps = await readMaps(entries, targets);
      }
      const completeness = result.completenessGap
        ? await completenessOf(result.completenessGap, targets)
        : undefined;
      const t3 = performance.now();
      return {
        image: { width: image.width, height: image.height },
        targets: targets.map((t) => ({ index: t, name: manifest.classes[t] })),
        predictions: predictions(),
        ...(job.overlay ? { maps: [], overlay: drawOverlay(image, maps, job.overlay) } : { maps }),
        ...(completeness ? { completeness } : {}),
        timings: { decodeMs: t1 - t0, forwardMs: t2 - t1, saliencyMs: t3 - t2 },
      };
    } finally {
      tf.dispose(owned);
      result.dispose();
    }
  } finally {
    input.dispose();
    if (chosen) (chosen as Tensor).dispose();
  }
}
