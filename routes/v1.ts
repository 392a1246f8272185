/**
 * The /v1 API (issue 7, first routes): GET /v1/models, GET /v1/methods, POST /v1/saliency (JSON with a base64
 * image), validated with zod and described at /openapi.json. Tensor work happens in the worker pool; this file
 * maps requests to jobs and errors to `{error: {code, message}}` with the right status.
 */
import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import { validationHook } from "./validation.ts";
import type { Context } from "hono";
import * as Comlink from "comlink";
import { decodeImage } from "../lib/image/decode.ts";
import { overlayPng } from "../lib/image/overlay.ts";
import type { ModelEntry } from "../lib/models/registry.ts";
import { methodByName, METHODS } from "../lib/saliency/methods.ts";
import { EXTRACTIONS } from "../lib/saliency/extract.ts";
import { AGGREGATIONS } from "../lib/saliency/aggregate.ts";
import { RULE_SETS } from "../lib/saliency/rules.ts";
import { COMBINE_MODES, WEIGHT_SCHEMES } from "../lib/saliency/combine.ts";
import { networkOf } from "../lib/models/load.ts";
import type { MapOut, SaliencyAnswer } from "../lib/service/saliency_job.ts";
import type { CaptionAnswer } from "../lib/service/caption_job.ts";
import {
  PoolClosedError,
  PoolFullError,
  RequestTimeoutError,
  WorkerCrashError,
  type WorkerPool,
} from "../workers/pool.ts";

export interface V1Options {
  models: Map<string, ModelEntry>;
  pool: WorkerPool;
  maxPixels: number;
  timeoutMs: number;
}

const ErrorSchema = z.object({ error: z.object({ code: z.string(), message: z.string() }) }).openapi("Error");

const TargetsSchema = z.union([
  z.object({ classes: z.array(z.union([z.number().int(), z.string()])).min(1).max(64) }),
  z.object({ topK: z.number().int().min(1).max(64) }),
  z.object({ present: z.literal(true), threshold: z.number().min(0).max(1).optional() }),
]).openapi("Targets");

const SaliencyRequestSchema = z.object({
  image: z.string().min(1).describe("the image file (JPEG, PNG, WebP or GIF), base64"),
  model: z.string().describe("a name from GET /v1/models"),
  method: z.union([
    z.string().describe("a name from GET /v1/methods"),
    z.object({
      extract: z.enum(EXTRACTIONS),
      aggregate: z.enum(AGGREGATIONS),
      rules: z.enum(RULE_SETS).default("standard"),
      relu: z.boolean().default(false),
    }).describe("any phase-1 extraction x phase-2 aggregation pair"),
  ]),
  layers: z.array(z.string()).min(1).max(16).describe('layer names; "input" = the image'),
  targets: TargetsSchema.default({ topK: 1 }),
  seed: z.enum(["pointing", "one-hot"]).default("pointing"),
  meta: z.object({
    sign: z.enum(["positive", "negative"]).default("positive"),
    eta: z.number().min(0).max(1).default(1e-4),
  })
    .optional(),
  combine: z.object({ mode: z.enum(COMBINE_MODES), weights: z.enum(WEIGHT_SCHEMES) }).optional(),
  overlay: z.object({
    alpha: z.number().min(0).max(1).default(0.5),
    map: z.number().int().min(0).default(0).describe("which map (index into maps) to draw"),
    colormap: z.enum(["turbo", "viridis", "gray"]).default("turbo"),
  }).default({ alpha: 0.5, map: 0, colormap: "turbo" }).describe(
    "with Accept: image/png, the PNG heatmap overlay drawn",
  ),
}).openapi("SaliencyRequest");

const CaptionRequestSchema = z.object({
  image: z.string().min(1).describe("the image file, base64"),
  model: z.string().describe("a captioner from GET /v1/models"),
  caption: z.string().min(1).max(500).optional().describe("explain this caption instead of generating one"),
  beamSize: z.number().int().min(1).max(10).default(1).describe("1 = greedy"),
  method: z.string().default("selective-normgrad"),
  layers: z.array(z.string()).max(8).default([]).describe("default layer3.0, layer4.0, layer4"),
  words: z.boolean().default(true).describe("also one combined map per word"),
}).openapi("CaptionRequest");
const CaptionOptionsSchema = CaptionRequestSchema.omit({ image: true });
type CaptionOptions = z.infer<typeof CaptionOptionsSchema>;

const OptionsSchema = SaliencyRequestSchema.omit({ image: true });
type SaliencyOptions = z.infer<typeof OptionsSchema>;

const IMAGE_TYPES = ["image/jpeg", "image/png", "image/webp", "image/gif", "application/octet-stream"];

/** Flat string fields (form fields or query parameters) -> the JSON request's shape (validated afterwards). */
function fieldsToOptions(f: Record<string, string>): Record<string, unknown> {
  const list = (v: string) => v.split(",").map((x) => x.trim()).filter(Boolean);
  const num = (v: string | undefined) => (v === undefined || v === "" ? undefined : Number(v));
  const out: Record<string, unknown> = {
    model: f.model,
    method: f.method,
    layers: f.layers ? list(f.layers) : undefined,
  };
  if (f.classes) out.targets = { classes: list(f.classes).map((c) => (/^\d+$/.test(c) ? Number(c) : c)) };
  else if (f.topK) out.targets = { topK: num(f.topK) };
  else if (f.present) out.targets = { present: true, threshold: num(f.threshold) };
  if (f.seed) out.seed = f.seed;
  if (f.meta) out.meta = { sign: f.meta, eta: num(f.metaEta) };
  if (f.combine) {
    const [mode, weights] = f.combine.split(":");
    out.combine = { mode, weights };
  }
  if (f.alpha || f.map || f.colormap) {
    out.overlay = { alpha: num(f.alpha) ?? 0.5, map: num(f.map) ?? 0, colormap: f.colormap ?? "turbo" };
  }
  return out;
}

const MapSchema = z.object({
  target: z.number(),
  layer: z.string(),
  shape: z.tuple([z.number(), z.number()]),
  data: z.string().describe("little-endian Float32, row-major, base64"),
});

const SaliencyResponseSchema = z.object({
  model: z.string(),
  method: z.any(),
  image: z.object({ width: z.number(), height: z.number() }),
  targets: z.array(z.object({ index: z.number(), name: z.string() })),
  predictions: z.array(z.object({ index: z.number(), name: z.string(), score: z.number() })),
  maps: z.array(MapSchema),
  timings: z.record(z.string(), z.number()),
}).openapi("SaliencyResponse");

const errors = {
  400: { description: "bad request", content: { "application/json": { schema: ErrorSchema } } },
  404: { description: "unknown model", content: { "application/json": { schema: ErrorSchema } } },
  413: { description: "image too large", content: { "application/json": { schema: ErrorSchema } } },
  503: {
    description: "busy; retry after the Retry-After seconds",
    content: { "application/json": { schema: ErrorSchema } },
  },
};

function base64ToBytes(text: string): Uint8Array | null {
  try {
    const bin = atob(text.replace(/^data:[^,]*,/, ""));
    return Uint8Array.from(bin, (c) => c.charCodeAt(0));
  } catch {
    return null;
  }
}

function bytesToBase64(bytes: Uint8Array): string {
  let s = "";
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(s);
}

/** A non-JSON request's image and flat fields (multipart form or raw bytes + query); "json" to pass it on. */
async function readImageRequest(
  c: Context,
): Promise<"json" | Response | { image: Uint8Array; fields: Record<string, string> }> {
  const type = (c.req.header("content-type") ?? "").toLowerCase();
  if (type.startsWith("application/json")) return "json";
  if (type.startsWith("multipart/form-data")) {
    const form = await c.req.formData();
    const file = form.get("image");
    if (!(file instanceof File)) {
      return c.json({
        error: { code: "invalid_request", message: 'multipart requests need an "image" file field' },
      }, 400);
    }
    const fields = Object.fromEntries([...form.entries()].filter(([, v]) => typeof v === "string")) as Record<
      string,
      string
    >;
    return { image: new Uint8Array(await file.arrayBuffer()), fields };
  }
  if (IMAGE_TYPES.some((t) => type.startsWith(t))) {
    return {
      image: new Uint8Array(await c.req.arrayBuffer()),
      fields: Object.fromEntries(new URL(c.req.url).searchParams),
    };
  }
  return c.json({
    error: {
      code: "unsupported_media_type",
      message:
        `content-type ${JSON.stringify(type)} is not accepted; send application/json (base64 image), ` +
        `multipart/form-data (an "image" file) or the image itself as ${IMAGE_TYPES.join(", ")}`,
    },
  }, 415);
}

function mapsJson(maps: MapOut[]) {
  return maps.map((m) => ({
    target: m.target,
    layer: m.layer,
    shape: m.shape,
    data: bytesToBase64(new Uint8Array(m.data.buffer, m.data.byteOffset, m.data.byteLength)),
  }));
}

/** Pool failures -> HTTP (503 + Retry-After when busy, 504 on timeout, 500 when the worker died). */
function poolFailure(c: Context, e: unknown): Response {
  if (e instanceof PoolFullError || e instanceof PoolClosedError) {
    c.header("Retry-After", "2");
    return c.json({ error: { code: "busy", message: e.message } }, 503);
  }
  if (e instanceof RequestTimeoutError) {
    return c.json({ error: { code: "timeout", message: e.message } }, 504);
  }
  if (e instanceof WorkerCrashError) {
    return c.json({ error: { code: "worker_crashed", message: `${e.message}; retry the request` } }, 500);
  }
  throw e;
}

function workerFailure(c: Context, error: { code: string; message: string }): Response {
  const status = error.code === "image_too_large" ? 413 : error.code === "internal" ? 500 : 400;
  return c.json({ error }, status);
}

async function answerCaption(c: Context, options: V1Options, body: CaptionOptions, image: Uint8Array) {
  const entry = options.models.get(body.model);
  if (!entry || entry.kind !== "captioner") {
    const names = [...options.models.values()].filter((m) => m.kind === "captioner").map((m) => m.name);
    return c.json({
      error: {
        code: "unknown_model",
        message: `no captioner ${JSON.stringify(body.model)}; available: ${names.join(", ") || "none"}`,
      },
    }, 404);
  }
  const job = { image, ...body, maxPixels: options.maxPixels };
  let answer: CaptionAnswer | { error: { code: string; message: string } };
  try {
    answer = await options.pool.run(
      (api) =>
        api.caption(entry.dir, job) as Promise<CaptionAnswer | { error: { code: string; message: string } }>,
      { signal: c.req.raw.signal },
    );
  } catch (e) {
    return poolFailure(c, e);
  }
  if ("error" in answer) return workerFailure(c, answer.error);
  return c.json({
    model: entry.name,
    caption: answer.caption,
    words: answer.caption.split(" "),
    tokens: answer.tokens,
    stepLogProbs: answer.stepLogProbs,
    logProb: answer.logProb,
    maps: mapsJson(answer.maps),
    timings: answer.timings,
  }, 200);
}

async function answerSaliency(c: Context, options: V1Options, body: SaliencyOptions, image: Uint8Array) {
  const entry = options.models.get(body.model);
  if (!entry || entry.kind !== "classifier") {
    const names = [...options.models.values()].filter((m) => m.kind === "classifier").map((m) => m.name);
    return c.json({
      error: {
        code: "unknown_model",
        message: `no classifier ${JSON.stringify(body.model)}; available: ${names.join(", ")}`,
      },
    }, 404);
  }
  if (typeof body.method === "string") {
    try {
      methodByName(body.method); // SaliencyInputError naming every valid method
    } catch (e) {
      return c.json({ error: { code: "unknown_method", message: (e as Error).message } }, 400);
    }
  }
  const t = body.targets;
  const targets = "classes" in t
    ? { kind: "classes" as const, classes: t.classes }
    : "topK" in t
    ? { kind: "top-k" as const, k: t.topK }
    : { kind: "present" as const, threshold: t.threshold };
  const png = (c.req.header("accept") ?? "").includes("image/png");
  const job = {
    image: png ? image.slice() : image, // transferred to the worker; the overlay needs its own copy
    resize: png ? "image" as const : "none" as const,
    method: body.method,
    layers: body.layers,
    targets,
    seed: body.seed,
    meta: body.meta,
    combine: body.combine,
    maxPixels: options.maxPixels,
  };
  let answer: SaliencyAnswer | { error: { code: string; message: string } };
  try {
    answer = await options.pool.run(
      (api) =>
        api.saliency(entry.dir, Comlink.transfer(job, [job.image.buffer as ArrayBuffer])) as Promise<
          SaliencyAnswer | { error: { code: string; message: string } }
        >,
      { signal: c.req.raw.signal },
    );
  } catch (e) {
    return poolFailure(c, e);
  }
  if ("error" in answer) return workerFailure(c, answer.error);
  if (png) {
    const m = answer.maps[body.overlay.map];
    if (!m) {
      return c.json({
        error: {
          code: "bad_overlay",
          message: `overlay.map ${body.overlay.map} but only ${answer.maps.length} maps were made`,
        },
      }, 400);
    }
    const bytes = overlayPng(decodeImage(image), m.data, body.overlay.alpha, body.overlay.colormap);
    return c.body(bytes as Uint8Array<ArrayBuffer>, 200, {
      "content-type": "image/png",
      "x-retrace-map": `${m.layer} target=${m.target}`,
    });
  }
  return c.json({
    model: entry.name,
    method: body.method,
    image: answer.image,
    targets: answer.targets,
    predictions: answer.predictions,
    maps: mapsJson(answer.maps),
    timings: answer.timings,
  }, 200);
}

export function v1Routes(options: V1Options): OpenAPIHono {
  const app = new OpenAPIHono({ defaultHook: validationHook });

  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/models",
      responses: {
        200: {
          description: "the models this instance serves",
          content: { "application/json": { schema: z.any() } },
        },
      },
    }),
    (c) =>
      c.json({
        models: [...options.models.values()].map((m) => ({
          name: m.name,
          kind: m.kind,
          arch: m.manifest.arch,
          width: m.manifest.width,
          classes: m.manifest.classes,
          inputSize: m.manifest.inputSize,
          probeLayers: m.manifest.probeLayers,
          layers: networkOf(m.manifest).layerNames.map((l) => (l === "" ? "input" : l)),
          metrics: m.manifest.metrics ?? null,
        })),
      }),
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/methods",
      responses: {
        200: { description: "the saliency methods", content: { "application/json": { schema: z.any() } } },
      },
    }),
    (c) =>
      c.json({
        methods: METHODS.map((m) => ({
          name: m.name,
          description: m.description,
          rules: m.rules,
          extract: m.extract,
          aggregate: m.aggregate,
          layers: m.extract === "conv-exact" ? "conv modules only" : 'any layer, "input" included',
        })),
        combine: { modes: COMBINE_MODES, weights: WEIGHT_SCHEMES },
      }),
  );

  // multipart/form-data (an "image" file plus fields) and raw image bytes (options in the query string)
  app.post("/v1/saliency", async (c, next) => {
    const read = await readImageRequest(c);
    if (read === "json") return next();
    if (read instanceof Response) return read;
    const { image, fields } = read;
    const parsed = OptionsSchema.safeParse(fieldsToOptions(fields));
    if (!parsed.success) {
      const issues = parsed.error.issues.map((i) => `${i.path.join(".") || "options"}: ${i.message}`).join(
        "; ",
      );
      return c.json({ error: { code: "invalid_request", message: issues } }, 400);
    }
    return answerSaliency(c, options, parsed.data, image);
  });

  app.openapi(
    createRoute({
      method: "post",
      path: "/v1/saliency",
      request: {
        body: { content: { "application/json": { schema: SaliencyRequestSchema } }, required: true },
      },
      responses: {
        200: {
          description: "maps per target and layer",
          content: { "application/json": { schema: SaliencyResponseSchema } },
        },
        ...errors,
      },
    }),
    (c) => {
      const body = c.req.valid("json");
      const image = base64ToBytes(body.image);
      if (!image) return c.json({ error: { code: "bad_image", message: "image is not valid base64" } }, 400);
      return answerSaliency(c, options, body, image) as never;
    },
  );

  app.post("/v1/caption", async (c, next) => {
    const read = await readImageRequest(c);
    if (read === "json") return next();
    if (read instanceof Response) return read;
    const f = read.fields;
    const parsed = CaptionOptionsSchema.safeParse({
      model: f.model,
      caption: f.caption,
      beamSize: f.beamSize ? Number(f.beamSize) : undefined,
      method: f.method,
      layers: f.layers ? f.layers.split(",").filter(Boolean) : undefined,
      words: f.words === undefined ? undefined : f.words !== "false",
    });
    if (!parsed.success) {
      const issues = parsed.error.issues.map((i) => `${i.path.join(".") || "options"}: ${i.message}`).join(
        "; ",
      );
      return c.json({ error: { code: "invalid_request", message: issues } }, 400);
    }
    return answerCaption(c, options, parsed.data, read.image);
  });

  app.openapi(
    createRoute({
      method: "post",
      path: "/v1/caption",
      request: {
        body: { content: { "application/json": { schema: CaptionRequestSchema } }, required: true },
      },
      responses: {
        200: {
          description: "the caption, its per-step log-probabilities, per-layer, combined and per-word maps " +
            "(target -1 = the whole caption, otherwise the word position)",
          content: { "application/json": { schema: z.any() } },
        },
        ...errors,
      },
    }),
    (c) => {
      const { image: text, ...body } = c.req.valid("json");
      const image = base64ToBytes(text);
      if (!image) return c.json({ error: { code: "bad_image", message: "image is not valid base64" } }, 400);
      return answerCaption(c, options, body, image) as never;
    },
  );

  app.doc("/openapi.json", { openapi: "3.0.0", info: { title: "retrace", version: "0.1.0" } });
  return app;
}
