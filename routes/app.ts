/**
 * The Hono application: request ids, access logs and metrics, CORS (off by default), a body-size limit and the
 * optional bearer token for /v1, then every router; unknown routes and uncaught errors map to the JSON error
 * shape `{error: {code, message}}`.
 */
import { Hono } from "hono";
import { HTTPException } from "hono/http-exception";
import type { BackendInfo } from "../lib/runtime/backend.ts";
import { healthRoutes } from "./health.ts";
import { type V1Options, v1Routes } from "./v1.ts";
import { corsFor, limitBody, observe, RequestMetrics, requireKey } from "./middleware.ts";
import { metricsRoutes } from "./metrics.ts";
import { evaluationRoutes } from "./evaluations.ts";
import { uiRoutes } from "./ui.ts";
import { type Evaluations, EvaluationsUnavailable } from "../workers/evaluations_api.ts";

export interface AppOptions {
  v1?: V1Options;
  jobs?: Evaluations;
  /** Where the synthetic world is (for the page's sample images). */
  dataDir?: string;
  apiKey?: string;
  corsOrigin?: string;
  maxBodyBytes?: number;
  log?: (line: string) => void;
}

export function createApp(backend: BackendInfo, options: AppOptions = {}): Hono {
  const app = new Hono();
  const metrics = new RequestMetrics();
  app.use("*", ...observe(metrics, options.log));
  app.use("*", corsFor(options.corsOrigin));
  app.use("/v1/*", requireKey(options.apiKey));
  app.use("/v1/*", limitBody(options.maxBodyBytes ?? 32 * 1024 * 1024));
  app.route("/", healthRoutes(backend));
  app.route("/", metricsRoutes(metrics, options.v1?.pool));
  if (options.v1) app.route("/", v1Routes(options.v1));
  if (options.jobs) app.route("/", evaluationRoutes(options.jobs));
  app.route("/", uiRoutes(options.dataDir ?? "data"));
  app.notFound((c) =>
    c.json({
      error: {
        code: "not_found",
        message: `no route ${c.req.method} ${
          new URL(c.req.url).pathname
        }; try GET /healthz or GET /openapi.json`,
      },
    }, 404)
  );
  app.onError((err, c) => {
    if (err instanceof HTTPException && err.status < 500) {
      // e.g. a JSON body that does not parse
      return c.json({ error: { code: "invalid_request", message: err.message } }, err.status);
    }
    if (err instanceof EvaluationsUnavailable) {
      return c.json({ error: { code: "queue_unavailable", message: err.message } }, 503);
    }
    console.error(
      JSON.stringify({
        level: "error",
        requestId: c.get("requestId"),
        message: err.message,
        stack: err.stack,
      }),
    );
    return c.json({ error: { code: "internal", message: "internal error; see the server log" } }, 500);
  });
  return app;
}
