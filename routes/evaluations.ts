/**
 * Pointing-game evaluations over HTTP (issue 7): POST /v1/evaluations -> 202 {id}; GET /v1/evaluations;
 * GET /v1/evaluations/{id} (status, progress, result); GET /v1/evaluations/{id}/events (Server-Sent Events:
 * status, start, progress with running per-label accuracy, problem, and a final done / failed / cancelled event;
 * reconnecting with Last-Event-ID replays what was missed); DELETE /v1/evaluations/{id} cancels. The same routes
 * serve in-process jobs and jobs spread over hosts through Redis (workers/evaluations_api.ts); a back end that
 * cannot take jobs now (Redis unreachable) throws EvaluationsUnavailable, which routes/app.ts answers with 503.
 */
import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import { validationHook } from "./validation.ts";
import { streamSSE } from "hono/streaming";
import { METHODS } from "../lib/saliency/methods.ts";
import { COMBINE_MODES, WEIGHT_SCHEMES } from "../lib/saliency/combine.ts";
import { EvaluationRejected, type Evaluations } from "../workers/evaluations_api.ts";

const EvaluationRequestSchema = z.object({
  model: z.string(),
  dataset: z.string().default("synthetic").describe('"synthetic" or a name configured in RETRACE_DATA_ROOTS'),
  split: z.string().regex(/^[A-Za-z0-9_]+$/).optional(),
  methods: z.array(z.string()).min(1).max(METHODS.length).default(["grad-cam"]),
  layers: z.union([z.literal("paper"), z.array(z.string()).min(1).max(16)]).default("paper"),
  combinations: z.array(z.object({ mode: z.enum(COMBINE_MODES), weights: z.enum(WEIGHT_SCHEMES) })).max(8)
    .default([]),
  meta: z.object({ sign: z.enum(["positive", "negative"]), eta: z.number().min(0).max(1).default(1e-4) })
    .optional(),
  centre: z.boolean().default(false).describe("the centre baseline instead of saliency maps"),
  limit: z.number().int().min(1).optional().describe("only the first N images"),
}).openapi("EvaluationRequest");

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
        400: { description: "bad request", content: { "application/json": { schema: z.any() } } },
        503: {
          description: "the job queue is unreachable (Redis down)",
          content: { "application/json": { schema: z.any() } },
        },
      },
    }),
    async (c) => {
      const spec = c.req.valid("json");
      const unknown = spec.methods.filter((m) => !METHODS.some((x) => x.name === m));
      if (unknown.length) {
        return c.json({
          error: {
            code: "unknown_method",
            message: `unknown method(s) ${unknown.join(", ")}; valid: ${
              METHODS.map((m) => m.name).join(", ")
            }`,
          },
        }, 400);
      }
      try {
        const job = await jobs.create(spec);
        return c.json({ id: job.id, status: job.status, events: `/v1/evaluations/${job.id}/events` }, 202);
      } catch (e) {
        if (e instanceof EvaluationRejected) {
          return c.json({ error: { code: "bad_evaluation", message: e.message } }, 400);
        }
        throw e;
      }
    },
  );

  app.get("/v1/evaluations", async (c) =>
    c.json({
      evaluations: (await jobs.list()).map(({ id, status, spec, progress, createdAt }) => ({
        id,
        status,
        spec,
        progress,
        createdAt,
      })),
    }));

  const notFound = (id: string) => ({
    error: { code: "not_found", message: `no evaluation ${JSON.stringify(id)}` },
  });

  app.get("/v1/evaluations/:id", async (c) => {
    const job = await jobs.get(c.req.param("id"));
    return job ? c.json(job) : c.json(notFound(c.req.param("id")), 404);
  });

  app.delete("/v1/evaluations/:id", async (c) => {
    const job = await jobs.cancel(c.req.param("id"));
    return job ? c.json({ id: job.id, status: job.status }) : c.json(notFound(c.req.param("id")), 404);
  });

  app.get("/v1/evaluations/:id/events", async (c) => {
    const id = c.req.param("id");
    if (!(await jobs.get(id))) return c.json(notFound(id), 404);
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
