/**
 * Where the pointing game points (METHODS.md §8 items 3–4, §6): a Pointer turns one image and its classes into
 * one point per (label, class). Labels name what pointed: "centre" for the centre baseline, "<method>@<layer>"
 * for a saliency map at one layer ("input" for the image itself), "<method>@<mode>/<weights>" for a combination
 * of the method's non-input layers. Methods that map the input only (RISE, occlusion, FullGrad) point there only,
 * whatever the layers. A method's options (integrated gradients' steps, RISE's masks, a noise tunnel, …: lib/
 * models/method_request.ts) reach every map it makes. All classes of an image go through the network as one
 * batch, and every layer and combination of a method comes from that one forward/backward pass.
 *
 * Map handling as §8: the pointing seed (spatial softmax on a score map, one-hot on logits), bilinear resize
 * (align_corners=false) to the original image size, Gaussian smoothing (σ = 0.02·max(H, W)) for input-layer maps
 * only, the first maximum in row-major order. Combinations resize, min-max normalise and combine (lib/saliency/
 * combine.ts) without smoothing. All maps of a method are read back in one transfer.
 */
import { type DecodedImage, decodeImage } from "../image/decode.ts";
import { toInputTensor } from "../image/preprocess.ts";
import type { LoadedModel } from "../models/load.ts";
import { type Tensor, tf } from "../runtime/tf.ts";
import { type CombineArch, combineLayers, type CombineMode, type WeightScheme } from "../saliency/combine.ts";
import { metaSaliency, type MetaSign } from "../saliency/meta.ts";
import { methodByName } from "../saliency/methods.ts";
import { INPUT_ONLY } from "../saliency/extract.ts";
import { type MethodOptions, methodRequest, releaseRequest } from "../models/method_request.ts";
import { firstArgmaxAll, resizeMap, smoothForImage } from "../saliency/postprocess.ts";
import { computeSaliency, type SaliencyResult } from "../saliency/saliency.ts";
import { repeatForTargets } from "../saliency/seeds.ts";
import { centrePoint, type Point } from "./pointing.ts";

export interface PointerSample {
  key: string;
  imagePath: string;
  width: number;
  height: number;
  classes: readonly { classIndex: number }[];
}

export interface Pointer {
  readonly labels: readonly string[];
  /** Per label, one point per entry of sample.classes (same order). Throws when the image cannot be used. */
  points(sample: PointerSample): Promise<Map<string, Point[]>>;
  /**
   * Several images in one pass where the pointer can: one result per sample, in order, each what `points`
   * would give for it alone, or the Error `points` would throw. Without it, callers take the images one by one.
   */
  pointsBatch?(samples: readonly PointerSample[]): Promise<(Map<string, Point[]> | Error)[]>;
}

/** The points of several samples: one pass where the pointer batches, else one sample after the other. */
export async function pointsOfBatch(
  pointer: Pointer,
  samples: readonly PointerSample[],
): Promise<(Map<string, Point[]> | Error)[]> {
  if (pointer.pointsBatch) return await pointer.pointsBatch(samples);
  const out: (Map<string, Point[]> | Error)[] = [];
  for (const s of samples) {
    try {
      out.push(await pointer.points(s));
    } catch (e) {
      out.push(e as Error);
    }
  }
  return out;
}

/** The centre baseline: (floor(W/2), floor(H/2)) for every class. Needs no pixels. */
export function centrePointer(): Pointer {
  return {
    labels: ["centre"],
    points: (s) =>
      Promise.resolve(new Map([["centre", s.classes.map(() => centrePoint(s.width, s.height))]])),
  };
}

export interface Combination {
  mode: CombineMode;
  weights: WeightScheme;
}

export interface SaliencyPointerOptions {
  methods: readonly string[];
  /** Layers ("" = input), shallow → deep; combinations use the non-input ones. */
  layers: readonly string[];
  combinations?: readonly Combination[];
  /** Meta-saliency (one SGD step per image and class before the map), with its step size. */
  meta?: { sign: MetaSign; eta: number };
  /** The methods' options (each applies to the methods it belongs to; a noise tunnel to every method). */
  methodOptions?: MethodOptions;
  /** Image decoder (default lib/image/decode.ts decodeImage). */
  decode?: (bytes: Uint8Array, source: string) => DecodedImage;
}

export const layerLabel = (layer: string): string => (layer === "" ? "input" : layer);
export const combinationLabel = (c: Combination): string => `${c.mode}/${c.weights}`;

/** Whether `method` maps the input only (RISE, occlusion, FullGrad). */
const inputOnly = (method: string) => INPUT_ONLY.has(methodByName(method).extract);

/** The layers `method` is pointed at, and the combinations it makes (none for an input-only method). */
function pointedBy(
  method: string,
  options: Pick<SaliencyPointerOptions, "layers" | "combinations">,
): { layers: readonly string[]; combinations: readonly Combination[] } {
  return inputOnly(method)
    ? { layers: [""], combinations: [] }
    : { layers: options.layers, combinations: options.combinations ?? [] };
}

/** Every label a saliency pointer with these options produces, in order. */
export function saliencyLabels(options: SaliencyPointerOptions): string[] {
  return options.methods.flatMap((m) => {
    const { layers, combinations } = pointedBy(m, options);
    return [
      ...layers.map((l) => `${m}@${layerLabel(l)}`),
      ...combinations.map((c) => `${m}@${combinationLabel(c)}`),
    ];
  });
}

/** Maps of the shipped model for its image and classes, pointed at per §8. */
export function saliencyPointer(model: LoadedModel, options: SaliencyPointerOptions): Pointer {
  options.methods.forEach((m) => methodByName(m));
  model.net.assertLayers(options.layers);
  const combined = options.layers.filter((l) => l !== "");
  if ((options.combinations ?? []).length > 0 && combined.length === 0) {
    throw new RangeError("a combination needs at least one non-input layer");
  }
  const labels = saliencyLabels(options);
  const { manifest, net, weights } = model;
  const arch = (["vgg16", "resnet50"] as const).find((a) => a === manifest.arch) as CombineArch | undefined;

  /** One image's input, repeated once per target class; null (with the error recorded) when it cannot be used. */
  const load = async (sample: PointerSample): Promise<Tensor> => {
    const image = (options.decode ?? decodeImage)(await Deno.readFile(sample.imagePath), sample.imagePath);
    if (image.width !== sample.width || image.height !== sample.height) {
      throw new Error(
        `${sample.imagePath} is ${image.width}x${image.height} but its annotation says ${sample.width}x${sample.height}`,
      );
    }
    const one = toInputTensor(image, manifest.inputSize, manifest.preprocess);
    try {
      return repeatForTargets(one, sample.classes.map((c) => c.classIndex));
    } finally {
      one.dispose();
    }
  };

  const pointsBatch = async (samples: readonly PointerSample[]) => {
    const results: (Map<string, Point[]> | Error)[] = samples.map(() => new Map<string, Point[]>());
    // Every usable image's rows go through the network together: each row is one (image, class) pair, and every
    // method treats rows independently (meta-saliency steps each row on its own), so a row's map is the one it
    // gets alone.
    const rows: { sample: PointerSample; index: number; start: number }[] = [];
    const inputs: Tensor[] = [];
    let start = 0;
    for (const [index, sample] of samples.entries()) {
      try {
        inputs.push(await load(sample));
        rows.push({ sample, index, start });
        start += sample.classes.length;
      } catch (e) {
        results[index] = e as Error;
      }
    }
    if (inputs.length === 0) return results;
    const batch = inputs.length === 1 ? inputs[0] : tf.concat(inputs);
    if (inputs.length > 1) tf.dispose(inputs);
    const targets = rows.flatMap(({ sample }) => sample.classes.map((c) => c.classIndex));
    try {
      for (const method of options.methods) {
        const { layers, combinations } = pointedBy(method, options);
        const request = methodRequest({ method, ...options.methodOptions }, manifest, layers, {
          kind: "pointing",
          targets,
        });
        let result: SaliencyResult;
        try {
          result = options.meta
            ? metaSaliency(net, weights, batch, request, options.meta)
            : computeSaliency(net, weights, batch, request);
        } finally {
          releaseRequest(request);
        }
        // Every map of the method for every image, at that image's size, then all their points from one read.
        const maps: { index: number; label: string; map: Tensor }[] = [];
        try {
          for (const { sample, index, start } of rows) {
            const size: [number, number] = [sample.height, sample.width];
            const n = sample.classes.length;
            const own = new Map(
              layers.map((l) => {
                const m = result.maps.get(l)!;
                return [l, rows.length === 1 ? m : tf.slice(m, [start, 0, 0, 0], [n, -1, -1, -1])];
              }),
            );
            try {
              for (const layer of layers) {
                const resized = resizeMap(own.get(layer)!, size);
                const map = layer === "" ? smoothForImage(resized, size) : resized;
                if (map !== resized) resized.dispose();
                maps.push({ index, label: `${method}@${layerLabel(layer)}`, map });
              }
              for (const c of combinations) {
                const map = combineLayers(combined.map((l) => own.get(l)!), {
                  mode: c.mode,
                  weights: c.weights,
                  size,
                  arch,
                  layers: combined,
                  table: manifest.layerWeights,
                });
                maps.push({ index, label: `${method}@${combinationLabel(c)}`, map });
              }
            } finally {
              if (rows.length > 1) tf.dispose([...own.values()]);
            }
          }
          const points = await firstArgmaxAll(maps.map((m) => m.map));
          maps.forEach(({ index, label }, k) =>
            (results[index] as Map<string, Point[]>).set(label, points[k])
          );
        } finally {
          maps.forEach(({ map }) => map.dispose());
          result.dispose();
        }
      }
    } finally {
      batch.dispose();
    }
    return results;
  };

  return {
    labels,
    pointsBatch,
    async points(sample) {
      const [r] = await pointsBatch([sample]);
      if (r instanceof Error) throw r;
      return r;
    },
  };
}
