/**
 * The Hono application: request ids, access logs and metrics, CORS (off by default), a URL-length limit, the
 * optional bearer token and a body-size limit for /v1, then every router; unknown routes and uncaught errors
 * map to the JSON error shape `{error: {code, message}}` with a code from routes/errors.ts.
 */
import { Hono } from "hono";
import { OpenAPIHono } from "@hono/zod-openapi";
import { OPENAPI_DOCUMENT } from "./openapi.ts";
import { HTTPException } from "hono/http-exception";
import type { BackendInfo } from "../lib/runtime/backend.ts";
import { healthRoutes } from "./health.ts";
import { type V1Options, v1Routes } from "./v1.ts";
import {
  corsFor,
  limitBody,
  limitUrl,
  MAX_URL_LENGTH,
  observe,
  parseJsonBody,
  RequestMetrics,
  requireKey,
} from "./middleware.ts";
import { apiError, clip, codeForStatus } from "./errors.ts";
import { metricsRoutes } from "./metrics.ts";
import { UploadGate } from "./upload_gate.ts";
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
  /**
   * Image requests (POST /v1/saliency, /v1/caption) read, queued or computed at once: the pool's workers + queue
   * (routes/upload_gate.ts); beyond it 503 busy before the body is read. Default: no limit.
   */
  uploadLimit?: number;
  /** Longest path + query answered (414 beyond); default MAX_URL_LENGTH. */
  maxUrlLength?: number;
  log?: (line: string) => void;
}

export function createApp(backend: BackendInfo, options: AppOptions = {}): Hono {
  const app = new Hono();
  const metrics = new RequestMetrics();
  app.use("*", ...observe(metrics, options.log));
  app.use("*", corsFor(options.corsOrigin));
  app.use("*", limitUrl(options.maxUrlLength ?? MAX_URL_LENGTH));
  app.use("/v1/*", requireKey(options.apiKey));
  if (options.uploadLimit !== undefined) {
    const gate = new UploadGate(options.uploadLimit).middleware();
    app.use("/v1/saliency", gate);
    app.use("/v1/caption", gate);
  }
  app.use("/v1/*", limitBody(options.maxBodyBytes ?? 32 * 1024 * 1024));
  app.use("/v1/*", parseJsonBody());
  const jobs = options.jobs;
  app.route("/", healthRoutes(backend, jobs?.health ? () => jobs.health!() : undefined));
  app.route("/", metricsRoutes(metrics, options.v1?.pool, options.v1?.batcher));
  // One OpenAPI document for every JSON router (OpenAPIHono.route merges their definitions).
  const api = new OpenAPIHono();
  if (options.v1) api.route("/", v1Routes(options.v1));
  if (options.jobs) api.route("/", evaluationRoutes(options.jobs));
  api.doc("/openapi.json", OPENAPI_DOCUMENT);
  app.route("/", api);
  app.route("/", uiRoutes(options.dataDir ?? "data"));
  app.notFound((c) =>
    apiError(
      c,
      "not_found",
      `no route ${c.req.method} ${clip(new URL(c.req.url).pathname)}; try GET /healthz or GET /openapi.json`,
    )
  );
  app.onError((err, c) => {
    if (err instanceof HTTPException && err.status < 500) {
      // e.g. a JSON body that does not parse (Hono's validator)
      return apiError(c, codeForStatus(err.status), err.message || `HTTP ${err.status}`);
    }
    if (err instanceof EvaluationsUnavailable) return apiError(c, "queue_unavailable", err.message);
    console.error(
      JSON.stringify({
        level: "error",
        requestId: c.get("requestId"),
        message: err.message,
        stack: err.stack,
      }),
    );
    return apiError(c, "internal", "internal error; see the server log");
  });
  return app;
}
