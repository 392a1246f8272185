/**
 * The /v1 API: GET /v1/models, GET /v1/methods, POST /v1/saliency and POST /v1/caption
 * (JSON with a base64 image, a multipart form, or raw image bytes with options in the query), validated with
 * zod (routes/v1_schemas.ts, routes/v1_fields.ts) and described at /openapi.json with the table of error
 * codes. Tensor work happens in the worker pool; this file maps requests to jobs and every failure to
 * `{error: {code, message}}` with a code from routes/errors.ts.
 */
import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import { describeIssues, validationHook } from "./validation.ts";
import type { Context } from "hono";
import type { ModelEntry } from "../lib/models/registry.ts";
import { METHODS } from "../lib/saliency/methods.ts";
import { COMBINE_MODES, WEIGHT_SCHEMES } from "../lib/saliency/combine.ts";
import { networkOf } from "../lib/models/load.ts";
import { layerTorchShape } from "../lib/nets/shape_ops.ts";
import type { MapOut, SaliencyAnswer } from "../lib/service/saliency_job.ts";
import type { CaptionAnswer } from "../lib/service/caption_job.ts";
import {
  PoolClosedError,
  PoolFullError,
  RequestTimeoutError,
  WorkerCrashError,
  type WorkerPool,
} from "../workers/pool.ts";
import { SaliencyBatcher } from "../workers/batcher.ts";
import { apiError, clip, echo, ERROR_CODES, type ErrorCode, errorResponses } from "./errors.ts";
import {
  type CaptionOptions,
  CaptionOptionsSchema,
  CaptionRequestSchema,
  type SaliencyOptions,
  SaliencyOptionsSchema,
  SaliencyRequestSchema,
  SaliencyResponseSchema,
} from "./v1_schemas.ts";
import { type FlatKind, flatName, flatOptions, type FlatSource } from "./v1_fields.ts";
import { isJsonType } from "./middleware.ts";

export interface V1Options {
  models: Map<string, ModelEntry>;
  pool: WorkerPool;
  /** Runs saliency requests, batching compatible ones (default: each on its own through the pool). */
  batcher?: SaliencyBatcher;
  maxPixels: number;
  timeoutMs: number;
}

const IMAGE_TYPES = ["image/jpeg", "image/png", "image/webp", "image/gif", "application/octet-stream"];

const errors = errorResponses(400, 404, 413, 415, 500, 503, 504);

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

/** A non-JSON request's image and flat options; "json" to pass a JSON request on to its validated route. */
interface ImageRequest {
  image: Uint8Array;
  entries: [string, string | File][];
  source: FlatSource;
}

/**
 * Reads a request that is not JSON (multipart form or raw image bytes + query), or checks that a JSON one
 * carries no query parameters (they would be ignored; its body was parsed by routes/middleware.ts); a
 * Response refuses it.
 */
async function readImageRequest(c: Context): Promise<"json" | Response | ImageRequest> {
  const type = (c.req.header("content-type") ?? "").toLowerCase();
  const query = [...new URL(c.req.url).searchParams.keys()];
  if (isJsonType(type)) {
    if (query.length) {
      return apiError(
        c,
        "unknown_field",
        `query parameter ${echo(query[0], 40)} is not read with a JSON body; put the options in the body` +
          (query.length > 1 ? ` (${query.length} query parameters were sent)` : ""),
      );
    }
    return "json";
  }
  if (type.startsWith("multipart/form-data")) {
    let form: FormData;
    try {
      form = await c.req.formData();
    } catch (e) {
      return apiError(
        c,
        "invalid_request",
        `the multipart/form-data body does not parse (${clip(String((e as Error).message), 120)})`,
      );
    }
    const images = form.getAll("image");
    if (images.length !== 1 || !(images[0] instanceof File)) {
      return apiError(
        c,
        "invalid_request",
        images.length > 1
          ? 'form field image is given twice; send one "image" file'
          : 'multipart requests need an "image" file field',
      );
    }
    const entries = [...form.entries()].filter(([k]) => k !== "image");
    return { image: new Uint8Array(await (images[0] as File).arrayBuffer()), entries, source: "form field" };
  }
  if (IMAGE_TYPES.some((t) => type.startsWith(t))) {
    return {
      image: new Uint8Array(await c.req.arrayBuffer()),
      entries: [...new URL(c.req.url).searchParams],
      source: "query parameter",
    };
  }
  return apiError(
    c,
    "unsupported_media_type",
    `content-type ${echo(type, 100)} is not accepted; send application/json (base64 image), ` +
      `multipart/form-data (an "image" file) or the image itself as ${IMAGE_TYPES.join(", ")}`,
  );
}

/** The options of a non-JSON request, checked like a JSON body; a Response refuses them. */
function readFlatOptions<T extends typeof SaliencyOptionsSchema | typeof CaptionOptionsSchema>(
  c: Context,
  kind: FlatKind,
  schema: T,
  read: ImageRequest,
): z.infer<T> | Response {
  const flat = flatOptions(kind, read.entries, read.source);
  if ("refusal" in flat) return apiError(c, flat.refusal.code, flat.refusal.message);
  const parsed = schema.safeParse(flat.options);
  if (parsed.success) return parsed.data as z.infer<T>;
  const { code, message } = describeIssues(parsed.error.issues as never, flat.options, flatName);
  return apiError(c, code, message);
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
    return apiError(c, "busy", e.message, { "Retry-After": "2" });
  }
  if (e instanceof RequestTimeoutError) return apiError(c, "timeout", e.message);
  if (e instanceof WorkerCrashError) return apiError(c, "worker_crashed", `${e.message}; retry the request`);
  throw e;
}

/**
 * A worker's refusal -> HTTP with its code's status. A bug in the worker is logged and answered without its
 * message (which may name server paths); a code outside the vocabulary is answered as invalid_request.
 */
function workerFailure(c: Context, error: { code: string; message: string }): Response {
  if (error.code === "internal") {
    console.error(JSON.stringify({ level: "error", requestId: c.get("requestId"), message: error.message }));
    return apiError(c, "internal", "internal error in the worker; see the server log");
  }
  const code = (error.code in ERROR_CODES ? error.code : "invalid_request") as ErrorCode;
  return apiError(c, code, error.message);
}

/** unknown_model naming the models of this kind, or undefined when `name` is one. */
function unknownModel(c: Context, options: V1Options, name: string, kind: "classifier" | "captioner") {
  const entry = options.models.get(name);
  if (entry && entry.kind === kind) return undefined;
  const names = [...options.models.values()].filter((m) => m.kind === kind).map((m) => m.name);
  return apiError(c, "unknown_model", `no ${kind} ${echo(name)}; available: ${names.join(", ") || "none"}`);
}

/** unknown_method naming every method, or undefined when `name` is one (the same for saliency and captions). */
function unknownMethod(c: Context, name: string) {
  if (METHODS.some((m) => m.name === name)) return undefined;
  return apiError(
    c,
    "unknown_method",
    `unknown method ${echo(name)}; valid: ${METHODS.map((m) => m.name).join(", ")}`,
  );
}

async function answerCaption(c: Context, options: V1Options, body: CaptionOptions, image: Uint8Array) {
  const refused = unknownModel(c, options, body.model, "captioner") ?? unknownMethod(c, body.method);
  if (refused) return refused;
  const entry = options.models.get(body.model)!;
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
  const refused = unknownModel(c, options, body.model, "classifier") ??
    (typeof body.method === "string" ? unknownMethod(c, body.method) : undefined);
  if (refused) return refused;
  const entry = options.models.get(body.model)!;
  const t = body.targets;
  const targets = "classes" in t
    ? { kind: "classes" as const, classes: t.classes }
    : "topK" in t
    ? { kind: "top-k" as const, k: t.topK }
    : { kind: "present" as const, threshold: t.threshold };
  const png = (c.req.header("accept") ?? "").includes("image/png");
  const job = {
    image, // transferred to the worker
    resize: png ? "image" as const : "none" as const,
    method: body.method,
    layers: body.layers,
    targets,
    seed: body.seed,
    meta: body.meta,
    combine: body.combine,
    ...(body.integratedGradients ? { integratedGradients: body.integratedGradients } : {}),
    ...(body.rise ? { rise: body.rise } : {}),
    ...(body.occlusion ? { occlusion: body.occlusion } : {}),
    ...(body.noise ? { noise: body.noise } : {}),
    maxPixels: options.maxPixels,
    ...(png ? { overlay: body.overlay } : {}),
  };
  let answer: SaliencyAnswer | { error: { code: string; message: string } };
  try {
    const batcher = options.batcher ?? new SaliencyBatcher(options.pool, { windowMs: 0, maxBatch: 1 });
    answer = await batcher.submit(entry.dir, job, c.req.raw.signal);
  } catch (e) {
    return poolFailure(c, e);
  }
  if ("error" in answer) return workerFailure(c, answer.error);
  if (png) {
    // the worker draws the overlay when asked (and refuses a map index past the maps with bad_overlay)
    const overlay = answer.overlay;
    if (!overlay) throw new Error("the worker answered an overlay request without the overlay");
    return c.body(overlay.png as Uint8Array<ArrayBuffer>, 200, {
      "content-type": "image/png",
      "x-retrace-map": `${overlay.layer} target=${overlay.target}`,
    });
  }
  return c.json({
    model: entry.name,
    method: body.method,
    image: answer.image,
    targets: answer.targets,
    predictions: answer.predictions,
    maps: mapsJson(answer.maps),
    ...(answer.completeness ? { completeness: answer.completeness } : {}),
    timings: answer.timings,
  }, 200);
}

const shapesOf = new WeakMap<ModelEntry, Record<string, number[]>>();

/** Each layer's output shape for one image at the model's input size, NCHW as PyTorch lists it (cached). */
function layerShapes(m: ModelEntry): Record<string, number[]> {
  let shapes = shapesOf.get(m);
  if (!shapes) {
    shapes = Object.fromEntries(
      networkOf(m.manifest).layers().map((l) => [l.name || "input", layerTorchShape(l)]),
    );
    shapesOf.set(m, shapes);
  }
  return shapes;
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
          layerShapes: layerShapes(m),
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
          reference: m.reference,
          passes: m.passes,
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
    const body = readFlatOptions(c, "saliency", SaliencyOptionsSchema, read);
    if (body instanceof Response) return body;
    return answerSaliency(c, options, body as SaliencyOptions, read.image);
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
      const { image: text, ...body } = c.req.valid("json");
      const image = base64ToBytes(text);
      if (!image) return apiError(c, "bad_image", "image is not valid base64") as never;
      return answerSaliency(c, options, body, image) as never;
    },
  );

  app.post("/v1/caption", async (c, next) => {
    const read = await readImageRequest(c);
    if (read === "json") return next();
    if (read instanceof Response) return read;
    const body = readFlatOptions(c, "caption", CaptionOptionsSchema, read);
    if (body instanceof Response) return body;
    return answerCaption(c, options, body as CaptionOptions, read.image);
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
      if (!image) return apiError(c, "bad_image", "image is not valid base64") as never;
      return answerCaption(c, options, body, image) as never;
    },
  );

  return app;
}
