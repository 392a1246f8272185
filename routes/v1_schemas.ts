/**
 * The request and response schemas of POST /v1/saliency and POST /v1/caption (zod, described at
 * /openapi.json). Every object is strict: a key it does not take is refused, and the keys clients often put
 * in the wrong object are answered with where they belong. Every field's message states its rule
 * (routes/field_rules.ts).
 */
import { z } from "@hono/zod-openapi";
import { EXTRACTIONS } from "../lib/saliency/extract.ts";
import { AGGREGATIONS } from "../lib/saliency/aggregate.ts";
import { RULE_SETS } from "../lib/saliency/rules.ts";
import { COMBINE_MODES, WEIGHT_SCHEMES } from "../lib/saliency/combine.ts";
import { QUADRATURES } from "../lib/saliency/quadrature.ts";
import { NOISE_KINDS } from "../lib/saliency/noise_tunnel.ts";
import {
  alternatives,
  flag,
  integer,
  list,
  number,
  oneOf,
  ruled,
  strictObject,
  text,
} from "./field_rules.ts";

/** Longest model, method or layer name taken (longer ones are refused before any lookup echoes them). */
export const MAX_NAME = 128;

const TARGETS_FORMS = 'one of {"classes": [...]}, {"topK": n}, {"present": true, "threshold"?: t}';
const METHOD_FORMS = 'a method name (GET /v1/methods) or {"extract", "aggregate", "rules"?, "relu"?}';

const belongs = (object: string, example: string) => `it belongs in ${object}: {"${object}": ${example}}`;

/** Where a key sent at the top level of a saliency request belongs. */
export const SALIENCY_HINTS: Record<string, string> = {
  classes: belongs("targets", '{"classes": [...]}'),
  topK: belongs("targets", '{"topK": n}'),
  present: belongs("targets", '{"present": true, "threshold": t}'),
  threshold: belongs("targets", '{"present": true, "threshold": t}'),
  alpha: belongs("overlay", '{"alpha": a, "map": i, "colormap": c}'),
  colormap: belongs("overlay", '{"alpha": a, "map": i, "colormap": c}'),
  map: belongs("overlay", '{"alpha": a, "map": i, "colormap": c}'),
  mode: belongs("combine", '{"mode": m, "weights": w}'),
  weights: belongs("combine", '{"mode": m, "weights": w}'),
  sign: belongs("meta", '{"sign": s, "eta": e}'),
  eta: belongs("meta", '{"sign": s, "eta": e}'),
  extract: belongs("method", '{"extract": e, "aggregate": a}'),
  aggregate: belongs("method", '{"extract": e, "aggregate": a}'),
  rules: belongs("method", '{"extract": e, "aggregate": a, "rules": r}'),
  relu: belongs("method", '{"extract": e, "aggregate": a, "relu": true}'),
  caption: "it is a POST /v1/caption field",
  beamSize: "it is a POST /v1/caption field",
  words: "it is a POST /v1/caption field",
};

const SALIENCY_ONLY = "it is a POST /v1/saliency field; a caption request explains its caption's words";

/** Where a key sent with a caption request belongs. */
export const CAPTION_HINTS: Record<string, string> = Object.fromEntries(
  [
    "targets",
    "seed",
    "meta",
    "combine",
    "overlay",
    "classes",
    "topK",
    "present",
    "threshold",
    "alpha",
    "colormap",
    "map",
    "sign",
    "eta",
  ].map((k) => [k, SALIENCY_ONLY]),
);

const name = (what: string) => text(what, 1, MAX_NAME);

function classIndex() {
  const error = ruled("a class index (an integer)");
  return z.number({ error }).int({ error });
}

const className = alternatives(
  [classIndex(), name("a class name")],
  "a class index (an integer) or a class name (GET /v1/models)",
);

export const TargetsSchema = alternatives([
  strictObject({ classes: list(className, "class indices or names", 1, 64) }),
  strictObject({ topK: integer(1, 64) }),
  strictObject({
    present: z.literal(true, { error: ruled("true") }),
    threshold: number(0, 1).optional(),
  }),
], TARGETS_FORMS).openapi("Targets");

const MethodPairSchema = strictObject({
  extract: oneOf(EXTRACTIONS),
  aggregate: oneOf(AGGREGATIONS),
  rules: oneOf(RULE_SETS).default("standard"),
  relu: flag().default(false),
}).describe("any phase-1 extraction x phase-2 aggregation pair");

/** The method options, the same in a saliency request and an evaluation job. */
export const IntegratedGradientsSchema = strictObject({
  steps: integer(1, 1024).default(50),
  quadrature: oneOf(QUADRATURES).default("gauss-legendre"),
  baseline: oneOf(["zero", "black"]).default("zero"),
  batch: integer(1, 256).default(16),
}).describe("for method integrated-gradients (defaults: Captum's)");

export const RiseSchema = strictObject({
  masks: integer(1, 100_000).default(8000),
  cells: integer(1, 64).default(7),
  p: number(0, 1).default(0.5),
  seed: integer(0, 2 ** 31 - 1).default(0),
  batch: integer(1, 256).default(32),
}).describe("for method rise (defaults: TorchRay's)");

export const OcclusionSchema = strictObject({
  window: integer(1, 4096).default(15),
  stride: integer(1, 4096).default(8),
  batch: integer(1, 256).default(32),
}).describe("for method occlusion (defaults: Captum's vision tutorial)");

export const NoiseSchema = strictObject({
  kind: oneOf(NOISE_KINDS),
  samples: integer(1, 10_000).default(50),
  sigma: number(0, 10).default(0.15),
  seed: integer(0, 2 ** 31 - 1).default(0),
  batch: integer(1, 256).default(16),
}).describe("any method through a noise tunnel (defaults: SmoothGrad's)");

/** The method options alone (the command-line tools' --method-options). */
export const MethodOptionsSchema = strictObject({
  integratedGradients: IntegratedGradientsSchema.optional(),
  rise: RiseSchema.optional(),
  occlusion: OcclusionSchema.optional(),
  noise: NoiseSchema.optional(),
});

export const SaliencyRequestSchema = strictObject({
  image: text("the image file (JPEG, PNG, WebP or GIF), base64", 1)
    .describe("the image file (JPEG, PNG, WebP or GIF), base64"),
  model: name("a model name from GET /v1/models").describe("a name from GET /v1/models"),
  method: alternatives(
    [name("a method name").describe("a name from GET /v1/methods"), MethodPairSchema],
    METHOD_FORMS,
  ),
  layers: list(name("a layer name"), 'layer names ("input" = the image)', 1, 16)
    .describe('layer names; "input" = the image'),
  targets: TargetsSchema.default({ topK: 1 }),
  seed: oneOf(["pointing", "one-hot"]).default("pointing"),
  meta: strictObject({
    sign: oneOf(["positive", "negative"]).default("positive"),
    eta: number(0, 1).default(1e-4),
  }).optional(),
  combine: strictObject({ mode: oneOf(COMBINE_MODES), weights: oneOf(WEIGHT_SCHEMES) }).optional(),
  integratedGradients: IntegratedGradientsSchema.optional(),
  rise: RiseSchema.optional(),
  occlusion: OcclusionSchema.optional(),
  noise: NoiseSchema.optional(),
  overlay: strictObject({
    alpha: number(0, 1).default(0.5),
    map: integer(0, Infinity, "a map index").default(0).describe("which map (index into maps) to draw"),
    colormap: oneOf(["turbo", "viridis", "gray"]).default("turbo"),
  }).default({ alpha: 0.5, map: 0, colormap: "turbo" }).describe(
    "with Accept: image/png, the PNG heatmap overlay drawn",
  ),
}, SALIENCY_HINTS).openapi("SaliencyRequest");

export const CaptionRequestSchema = strictObject({
  image: text("the image file, base64", 1).describe("the image file, base64"),
  model: name("a captioner name from GET /v1/models").describe("a captioner from GET /v1/models"),
  caption: text("a caption", 1, 500).optional().describe("explain this caption instead of generating one"),
  beamSize: integer(1, 10).default(1).describe("1 = greedy"),
  method: name("a method name from GET /v1/methods").default("selective-normgrad"),
  layers: list(name("a layer name"), "layer names", 0, 8).default([])
    .describe("default layer3.0, layer4.0, layer4"),
  words: flag().default(true).describe("also one combined map per word"),
}, CAPTION_HINTS).openapi("CaptionRequest");

export const SaliencyOptionsSchema = SaliencyRequestSchema.omit({ image: true });
export type SaliencyOptions = z.infer<typeof SaliencyOptionsSchema>;
export const CaptionOptionsSchema = CaptionRequestSchema.omit({ image: true });
export type CaptionOptions = z.infer<typeof CaptionOptionsSchema>;

const MapSchema = z.object({
  target: z.number(),
  layer: z.string(),
  shape: z.tuple([z.number(), z.number()]),
  data: z.string().describe("little-endian Float32, row-major, base64"),
});

export const SaliencyResponseSchema = z.object({
  model: z.string(),
  method: z.any(),
  image: z.object({ width: z.number(), height: z.number() }),
  targets: z.array(z.object({ index: z.number(), name: z.string() })),
  predictions: z.array(z.object({ index: z.number(), name: z.string(), score: z.number() })),
  maps: z.array(MapSchema),
  completeness: z.array(z.object({ target: z.number(), layer: z.string(), gap: z.number() })).optional()
    .describe("integrated-gradients: Σ attributions − (S(x) − S(x')) per target and layer"),
  timings: z.record(z.string(), z.number()),
}).openapi("SaliencyResponse");
