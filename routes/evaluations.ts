/**
 * Pointing-game evaluations over HTTP (issue 7): POST /v1/evaluations -> 202 {id}; GET /v1/evaluations;
 * GET /v1/evaluations/{id} (status, progress, result); GET /v1/evaluations/{id}/events (Server-Sent Events:
 * status, start, progress with running per-label accuracy, problem, and a final done / failed / cancelled event;
 * reconnecting with Last-Event-ID replays what was missed); DELETE /v1/evaluations/{id} cancels.
 */
import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import { validationHook } from "./validation.ts";
import { streamSSE } from "hono/streaming";
import { METHODS } from "../lib/saliency/methods.ts";
import { COMBINE_MODES, WEIGHT_SCHEMES } from "../lib/saliency/combine.ts";
import type { EvaluationJobs, JobEvent } from "../workers/evaluations.ts";

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

export function evaluationRoutes(jobs: EvaluationJobs): OpenAPIHono {
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
      },
    }),
    (c) => {
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
        const job = jobs.create(spec);
        return c.json({ id: job.id, status: job.status, events: `/v1/evaluations/${job.id}/events` }, 202);
      } catch (e) {
        return c.json({ error: { code: "bad_evaluation", message: (e as Error).message } }, 400);
      }
    },
  );

  app.get("/v1/evaluations", (c) =>
    c.json({
      evaluations: jobs.list().map(({ id, status, spec, progress, createdAt }) => ({
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

  app.get("/v1/evaluations/:id", (c) => {
    const job = jobs.get(c.req.param("id"));
    return job ? c.json(job) : c.json(notFound(c.req.param("id")), 404);
  });

  app.delete("/v1/evaluations/:id", (c) => {
    const job = jobs.cancel(c.req.param("id"));
    return job ? c.json({ id: job.id, status: job.status }) : c.json(notFound(c.req.param("id")), 404);
  });

  app.get("/v1/evaluations/:id/events", (c) => {
    const id = c.req.param("id");
    if (!jobs.get(id)) return c.json(notFound(id), 404);
    const after = Number(c.req.header("last-event-id") ?? "0") || 0;
    return streamSSE(c, async (stream) => {
      const pending: JobEvent[] = [];
      let wake: (() => void) | null = null;
      const { past, stop } = jobs.subscribe(id, after, (e) => {
        pending.push(e);
        wake?.();
      });
      stream.onAbort(stop);
      try {
        pending.unshift(...past);
        for (;;) {
          while (pending.length) {
            const e = pending.shift()!;
            await stream.writeSSE({ id: String(e.seq), event: e.type, data: JSON.stringify(e.data) });
            if (["done", "failed", "cancelled"].includes(e.type)) return;
          }
          if (jobs.isFinal(id)) {
            const r = jobs.get(id)!;
            await stream.writeSSE({
              id: String(r.lastSeq),
              event: r.status,
              data: JSON.stringify({ status: r.status, error: r.error, result: r.result }),
            });
            return;
          }
          await new Promise<void>((r) => (wake = r));
          wake = null;
        }
      } finally {
        stop();
      }
    });
  });

  return app;
}
