/**
 * Combining per-layer saliency maps into one (METHODS §6): each layer's map is resized to a common size,
 * min-max normalised per image, and the maps are merged by a weighted sum Σ ŵ_l m̃_l or a weighted product
 * Π m̃_l^ŵ_l, with the raw weights normalised to sum to 1. The weighting schemes are uniform, linear in depth,
 * the authors' hard-coded "accuracy" and "spread" tables (exported as LAYER_WEIGHTS so a model manifest can
 * supply its own), or custom numbers.
 *
 * Ownership: combineLayers leaves its input maps alone (the caller disposes them) and returns a new tensor
 * the caller disposes; intermediates are freed with tf.tidy. Bad input throws SaliencyInputError.
 */
import { type Tensor, tf } from "../runtime/tf.ts";
import { SaliencyInputError } from "./errors.ts";
import { assertSaliencyMap, assertSize, minMaxNormalise, resizeMap } from "./postprocess.ts";

export const COMBINE_MODES = ["sum", "product"] as const;
/** "sum": M = Σ ŵ_l m̃_l. "product": M = Π m̃_l^ŵ_l. */
export type CombineMode = typeof COMBINE_MODES[number];

export const WEIGHT_SCHEMES = ["uniform", "linear", "accuracy", "spread"] as const;
export type WeightScheme = typeof WEIGHT_SCHEMES[number];

/** The schemes whose weights come from a per-layer table. */
export type TableScheme = "accuracy" | "spread";

export const COMBINE_ARCHS = ["vgg16", "resnet50"] as const;
export type CombineArch = typeof COMBINE_ARCHS[number];

/** Raw per-layer weights of one network, by layer name, for each table scheme. */
export type LayerWeightTable = Readonly<Record<TableScheme, Readonly<Record<string, number>>>>;

/**
 * The authors' hard-coded weights, copied exactly from METHODS §6 (the last values the benchmark used).
 * "spread" is what the code calls `activation`. Each set sums to 1; only ratios matter since weights are
 * renormalised. Frozen: to override (e.g. from a model manifest) pass `table` to combineLayers.
 */
export const LAYER_WEIGHTS: Readonly<Record<CombineArch, LayerWeightTable>> = Object.freeze({
  vgg16: Object.freeze({
    accuracy: Object.freeze({
      "features.3": 0.0326937514514653,
      "features.8": 0.1252633500153707,
      "features.15": 0.2119629074318453,
      "features.22": 0.3040917640919230,
      "features.29": 0.3259882270093957,
    }),
    spread: Object.freeze({
      "features.3": 0.2119383764047884,
      "features.8": 0.3225606074029479,
      "features.15": 0.3907056723433652,
      "features.22": 0.0674916783223005,
      "features.29": 0.0073036655265981,
    }),
  }),
  resnet50: Object.freeze({
    accuracy: Object.freeze({
      layer1: 0.0777636622102207,
      layer2: 0.1120188314949383,
      layer3: 0.1960376762879433,
      layer4: 0.6141798300068978,
    }),
    spread: Object.freeze({
      layer1: 0.1698746686351632,
      layer2: 0.1950209363640008,
      layer3: 0.1930607604361503,
      layer4: 0.4420436345646859,
    }),
  }),
});

/** Where layer weights come from: a scheme name or one custom non-negative number per map. */
export type LayerWeighting = readonly number[] | WeightScheme;

export interface WeightContext {
  /** Network whose LAYER_WEIGHTS entry the "accuracy" / "spread" schemes use (unless `table` is given). */
  arch?: CombineArch;
  /** Layer name of each map, shallow → deep; needed by "accuracy" / "spread". */
  layers?: readonly string[];
  /** Overrides LAYER_WEIGHTS[arch] for the table schemes (e.g. a model manifest's own table). */
  table?: Partial<Record<TableScheme, Readonly<Record<string, number>>>>;
}

export interface CombineOptions extends WeightContext {
  mode: CombineMode;
  weights: LayerWeighting;
  /** Common output size [H, W] every map is resized to (the image size in the pointing game). */
  size: readonly [number, number];
}

function checkRaw(raw: readonly number[], source: string): void {
  const bad = raw.findIndex((w) => typeof w !== "number" || !Number.isFinite(w) || w < 0);
  if (bad >= 0) {
    throw new SaliencyInputError(
      `${source}: weight ${bad} is ${
        raw[bad]
      }; weights must be finite non-negative numbers with a positive sum`,
    );
  }
  if (!(raw.reduce((s, w) => s + w, 0) > 0)) {
    throw new SaliencyInputError(
      `${source}: weights [${raw.join(", ")}] sum to 0; weights must be non-negative with a positive sum`,
    );
  }
}

/**
 * The normalised weights ŵ_l (summing to 1) for `count` maps ordered shallow → deep.
 * - "uniform": w_l = 1. "linear": w_l = l / L for l = 1..L.
 * - "accuracy" / "spread": looked up by `layers` in `table[scheme]` if given, else LAYER_WEIGHTS[arch];
 *   a layer without an entry is a SaliencyInputError listing the layers that have one.
 * - number[]: one finite non-negative weight per map with a positive sum.
 */
export function layerWeights(
  weighting: LayerWeighting,
  count: number,
  context: WeightContext = {},
): number[] {
  if (!Number.isInteger(count) || count < 1) {
    throw new SaliencyInputError(`the number of layers must be a positive integer; got ${count}`);
  }
  const { layers } = context;
  if (layers !== undefined && layers.length !== count) {
    throw new SaliencyInputError(`got ${layers.length} layer names for ${count} maps; give one name per map`);
  }
  let raw: number[];
  if (Array.isArray(weighting)) {
    if (weighting.length !== count) {
      throw new SaliencyInputError(
        `got ${weighting.length} custom weights for ${count} maps; give one per map`,
      );
    }
    raw = [...weighting];
    checkRaw(raw, "custom weights");
  } else if (weighting === "uniform") {
    raw = Array.from({ length: count }, () => 1);
  } else if (weighting === "linear") {
    raw = Array.from({ length: count }, (_, l) => (l + 1) / count);
  } else if (weighting === "accuracy" || weighting === "spread") {
    raw = tableWeights(weighting, count, context);
  } else {
    throw new SaliencyInputError(
      `unknown weights ${JSON.stringify(weighting)}; valid are ${
        WEIGHT_SCHEMES.map((s) => `"${s}"`).join(", ")
      } or an array of one non-negative number per map`,
    );
  }
  const total = raw.reduce((s, w) => s + w, 0);
  return raw.map((w) => w / total);
}

function tableWeights(scheme: TableScheme, count: number, context: WeightContext): number[] {
  const { arch, layers } = context;
  const override = context.table?.[scheme];
  let entries: Readonly<Record<string, number>>;
  let source: string;
  if (override !== undefined) {
    entries = override;
    source = `the given ${scheme} table`;
  } else {
    if (arch === undefined || !(COMBINE_ARCHS as readonly string[]).includes(arch)) {
      throw new SaliencyInputError(
        `weights "${scheme}" need arch (one of ${COMBINE_ARCHS.join(", ")}) or a table; got arch ${
          JSON.stringify(arch)
        }`,
      );
    }
    entries = LAYER_WEIGHTS[arch][scheme];
    source = `the ${arch} ${scheme} table`;
  }
  if (layers === undefined) {
    throw new SaliencyInputError(
      `weights "${scheme}" need layers: the layer name of each of the ${count} maps`,
    );
  }
  const missing = layers.filter((name) => !Object.hasOwn(entries, name));
  if (missing.length > 0) {
    throw new SaliencyInputError(
      `no ${scheme} weight for layer${missing.length > 1 ? "s" : ""} ${
        missing.map((n) => JSON.stringify(n)).join(", ")
      } in ${source}; layers with ${scheme} weights: ${Object.keys(entries).join(", ")}`,
    );
  }
  const raw = layers.map((name) => entries[name]);
  checkRaw(raw, `${source} for layers ${layers.join(", ")}`);
  return raw;
}

/**
 * Combines per-layer maps (METHODS §6).
 *
 * @param maps one map per layer, shallow → deep, each [N, h_l, w_l, 1] float32 with the same N (sizes may
 *   differ). Not disposed: the caller still owns them.
 * @returns a new [N, H, W, 1] float32 tensor, H, W = options.size, which the caller disposes.
 *
 * Steps: resize each map to `size` (resizeMap: bilinear, align_corners=false); min-max normalise each image
 * (minMaxNormalise: a constant map becomes all ones); normalise the weights to ŵ summing to 1 (layerWeights);
 * then "sum": M = Σ ŵ_l m̃_l, or "product": M = Π m̃_l^ŵ_l with 0^ŵ = 0 for ŵ > 0 and m̃^0 = 1 for every m̃,
 * including 0^0 = 1: a layer of weight 0 drops out of the product instead of zeroing it.
 */
export function combineLayers(maps: readonly Tensor[], options: CombineOptions): Tensor {
  if (!Array.isArray(maps) || maps.length === 0) {
    throw new SaliencyInputError("combineLayers needs at least one map ([N, h, w, 1] per layer)");
  }
  const { mode, weights, size } = options;
  if (!(COMBINE_MODES as readonly string[]).includes(mode)) {
    throw new SaliencyInputError(
      `unknown mode ${JSON.stringify(mode)}; valid are ${COMBINE_MODES.map((m) => `"${m}"`).join(", ")}`,
    );
  }
  assertSize(size);
  maps.forEach((m, l) => assertSaliencyMap(m, `map ${l}`));
  const n = maps[0].shape[0];
  const other = maps.findIndex((m) => m.shape[0] !== n);
  if (other >= 0) {
    throw new SaliencyInputError(
      `all maps must have the same batch size; map 0 has N = ${n}, map ${other} has N = ${
        maps[other].shape[0]
      }`,
    );
  }
  const w = layerWeights(weights, maps.length, options);
  return tf.tidy(() => {
    let acc: Tensor | null = null;
    for (let l = 0; l < maps.length; l++) {
      if (mode === "product" && w[l] === 0) continue; // m̃^0 = 1 (also 0^0 = 1): a factor of one
      const m = minMaxNormalise(resizeMap(maps[l], size));
      let term: Tensor;
      if (mode === "sum") {
        term = tf.mul(m, w[l]);
      } else if (w[l] === 1) {
        term = m;
      } else {
        // 0^ŵ = 0 explicitly, so the result does not hang on a backend's pow(0, ŵ); NaN still propagates.
        term = tf.where(tf.equal(m, 0), tf.zerosLike(m), tf.pow(m, w[l]));
      }
      acc = acc === null ? term : mode === "sum" ? tf.add(acc, term) : tf.mul(acc, term);
    }
    return acc!;
  });
}
