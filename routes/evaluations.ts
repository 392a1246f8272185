/**
 * Evaluations over HTTP, the pointing game or the faithfulness metrics (`kind`): POST /v1/evaluations -> 202 {id}; GET /v1/evaluations;
 * GET /v1/evaluations/{id} (status, progress, result); GET /v1/evaluations/{id}/events (Server-Sent Events:
 * status, start, progress with running per-label accuracy or faithfulness numbers, problem, and a final done / failed / cancelled event;
 * reconnecting with Last-Event-ID replays what was missed); DELETE /v1/evaluations/{id} cancels a queued or
 * running job and removes a finished one with its files. A spec is checked in full (model, methods, layers,
 * combinations, dataset, split, the method options: the saliency request's integratedGradients, rise, occlusion and
 * noise, each for a listed method, noise for all) before 202; beyond RETRACE_MAX_JOBS queued + running jobs POST answers 429 with
 * Retry-After. The same routes serve in-process jobs and jobs spread over hosts through Redis
 * (workers/evaluations_api.ts); a back end that cannot take jobs now (Redis unreachable) throws
 * EvaluationsUnavailable, which routes/app.ts answers with 503.
 */
import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import { validationHook } from "./validation.ts";
import { streamSSE } from "hono/streaming";
import type { Context } from "hono";
import { METHODS } from "../lib/saliency/methods.ts";
import { COMBINE_MODES, WEIGHT_SCHEMES } from "../lib/saliency/combine.ts";
import { DEFAULT_FAITHFULNESS_METRICS, FAITHFULNESS_METRICS } from "../lib/eval/faithfulness_record.ts";
import { EvaluationRejected, type Evaluations, JOB_ID, TooManyJobs } from "../workers/evaluations_api.ts";
import { apiError, echo, type ErrorCode } from "./errors.ts";
import { IntegratedGradientsSchema, NoiseSchema, OcclusionSchema, RiseSchema } from "./v1_schemas.ts";
import type { EvaluationErrorCode } from "../lib/service/check_evaluation.ts";

/** Every code an evaluation spec is refused with is one of the API's (a compile-time check). */
const SPEC_CODE: (code: EvaluationErrorCode) => ErrorCode = (code) => code;

const name = (what: string) => z.string().min(1).max(128).describe(what);

const FaithfulnessSchema = z.strictObject({
  metrics: z.array(z.enum(FAITHFULNESS_METRICS)).min(1).max(FAITHFULNESS_METRICS.length)
    .default([...DEFAULT_FAITHFULNESS_METRICS])
    .describe(
      "deletion, insertion (RISE), confidence (Average Drop / Increase), road (ROAD), energy (pointing)",
    ),
  step: z.number().int().min(1).max(1 << 20).optional()
    .describe("pixels per deletion / insertion step (default: the input's width)"),
  road: z.strictObject({
    fractions: z.array(z.number().gt(0).lt(1)).min(1).max(19).optional()
      .describe("fractions of the pixels removed (default 0.1 … 0.9)"),
    noise: z.number().min(0).max(10).optional().describe("imputation noise σ in input units (default 0.01)"),
    seed: z.number().int().min(0).max(2 ** 31 - 1).optional(),
  }).optional(),
  riseMasks: z.number().int().min(1).max(8000).optional().describe(
    "RISE's masks when a method is rise (8000); the same as rise.masks, which takes RISE's other options too",
  ),
}).describe('options of kind "faithfulness"');

const EvaluationRequestSchema = z.strictObject({
  kind: z.enum(["pointing", "faithfulness"]).default("pointing")
    .describe(
      '"pointing": the pointing game; "faithfulness": deletion / insertion, Average Drop, ROAD, energy',
    ),
  model: name("a classifier served here (GET /v1/models)"),
  dataset: name('"synthetic" or a name configured in RETRACE_DATA_ROOTS').default("synthetic"),
  split: z.string().max(64).regex(/^[A-Za-z0-9_]+$/).optional()
    .describe("VOC: an ImageSets/Main list (default test); COCO: e.g. val2014"),
  methods: z.array(name("a saliency method")).min(1).max(METHODS.length).default(["grad-cam"]),
  layers: z.union([z.literal("paper"), z.array(z.string().max(128)).min(1).max(16)]).default("paper")
    .describe('"paper" or layer names of the model ("input" = the image)'),
  combinations: z.array(z.strictObject({ mode: z.enum(COMBINE_MODES), weights: z.enum(WEIGHT_SCHEMES) }))
    .max(8).default([]).describe("combinations of the non-input layers"),
  meta: z.strictObject({
    sign: z.enum(["positive", "negative"]),
    eta: z.number().min(0).max(1).default(1e-4),
  }).optional(),
  centre: z.boolean().default(false).describe("the centre baseline instead of saliency maps"),
  limit: z.number().int().min(1).max(10_000_000).optional().describe("only the first N images"),
  faithfulness: FaithfulnessSchema.optional()
    .describe('kind "faithfulness": each method at each layer (input-only methods at the input), top class'),
  integratedGradients: IntegratedGradientsSchema.optional(),
  rise: RiseSchema.optional(),
  occlusion: OcclusionSchema.optional(),
  noise: NoiseSchema.optional().describe(
    "every method of the job through a noise tunnel (defaults: SmoothGrad's); not with meta",
  ),
}).openapi("EvaluationRequest");

const JobError = z.object({ error: z.object({ code: z.string(), message: z.string() }) });

export function evaluationRoutes(jobs: Evaluations): OpenAPIHono {
  const app = new OpenAPIHono({ defaultHook: validationHook });

  app.openapi(
    createRoute({
      method: "post",
      path: "/v1/evaluations",
      request: {
        body: { content: { "application/json": { schema: EvaluationRequestSchema } }, required: true },
      },
      responses: {
        202: { description: "the job was queued", content: { "application/json": { schema: z.any() } } },
        400: {
          description: "invalid_request, unknown_field, unknown_method, unknown_layer or bad_evaluation " +
            "(dataset, split, combinations): checked before the job exists",
          content: { "application/json": { schema: JobError } },
        },
        404: { description: "unknown_model", content: { "application/json": { schema: JobError } } },
        429: {
          description: "too_many_jobs: RETRACE_MAX_JOBS evaluations are queued or running (see Retry-After)",
          content: { "application/json": { schema: JobError } },
        },
        503: {
          description: "the job queue is unreachable (Redis down)",
          content: { "application/json": { schema: JobError } },
        },
      },
    }),
    async (c) => {
      const body = c.req.valid("json");
      // a faithfulness job always carries its options (their defaults when none were given)
      const spec = body.kind === "faithfulness"
        ? { ...body, faithfulness: body.faithfulness ?? FaithfulnessSchema.parse({}) }
        : body;
      try {
        const job = await jobs.create(spec);
        return c.json({ id: job.id, status: job.status, events: `/v1/evaluations/${job.id}/events` }, 202);
      } catch (e) {
        // apiError's untyped Response stands for the declared 400/404/429 bodies
        if (e instanceof EvaluationRejected) return apiError(c, SPEC_CODE(e.code), e.message) as never;
        if (e instanceof TooManyJobs) {
          const retry = { "Retry-After": String(e.retryAfterSeconds) };
          return apiError(c, "too_many_jobs", e.message, retry) as never;
        }
        throw e;
      }
    },
  );

  app.get("/v1/evaluations", async (c) =>
    c.json({
      evaluations: (await jobs.list()).map(({ id, status, spec, progress, createdAt, ...rest }) => ({
        id,
        status,
        spec,
        progress,
        createdAt,
        // while the queue is unreachable: the last state this instance saw
        ...("stale" in rest
          ? { stale: rest.stale, staleSince: (rest as { staleSince?: string }).staleSince }
          : {}),
      })),
    }));

  // An id that is not a UUID names no job: 404 before any back end (or path) sees it.
  const notFound = (c: Context, id: string) => apiError(c, "not_found", `no evaluation ${echo(id)}`);

  app.get("/v1/evaluations/:id", async (c) => {
    const id = c.req.param("id");
    const job = JOB_ID.test(id) ? await jobs.get(id) : undefined;
    return job ? c.json(job) : notFound(c, id);
  });

  // A queued or running job is cancelled ({id, status: "cancelled", deleted: false}; DELETE it again once it is
  // final to remove it); a done, failed or cancelled job is removed with its files ({id, status, deleted: true}).
  app.delete("/v1/evaluations/:id", async (c) => {
    const id = c.req.param("id");
    const outcome = JOB_ID.test(id) ? await jobs.delete(id) : undefined;
    return outcome ? c.json(outcome) : notFound(c, id);
  });

  app.get("/v1/evaluations/:id/events", async (c) => {
    const id = c.req.param("id");
    if (!JOB_ID.test(id) || !(await jobs.get(id))) return notFound(c, id);
    const after = c.req.header("last-event-id") || undefined;
    return streamSSE(c, async (stream) => {
      const abort = new AbortController();
      stream.onAbort(() => abort.abort());
      for await (const e of jobs.events(id, after, abort.signal)) {
        await stream.writeSSE({ id: e.id, event: e.type, data: JSON.stringify(e.data) });
      }
    });
  });

  return app;
}
