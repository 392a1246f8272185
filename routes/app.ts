/**
 * The Hono application: mounts every router and maps unknown routes and uncaught errors to the JSON error
 * shape `{error: {code, message}}`.
 */
import { Hono } from "hono";
import { HTTPException } from "hono/http-exception";
import type { BackendInfo } from "../lib/runtime/backend.ts";
import { healthRoutes } from "./health.ts";
import { type V1Options, v1Routes } from "./v1.ts";

export function createApp(backend: BackendInfo, v1?: V1Options): Hono {
  const app = new Hono();
  app.route("/", healthRoutes(backend));
  if (v1) app.route("/", v1Routes(v1));
  app.notFound((c) =>
    c.json({
      error: {
        code: "not_found",
        message: `no route ${c.req.method} ${new URL(c.req.url).pathname}; try GET /healthz`,
      },
    }, 404)
  );
  app.onError((err, c) => {
    if (err instanceof HTTPException && err.status < 500) {
      // e.g. a JSON body that does not parse
      return c.json({ error: { code: "invalid_request", message: err.message } }, err.status);
    }
    console.error(JSON.stringify({ level: "error", message: err.message, stack: err.stack }));
    return c.json({ error: { code: "internal", message: "internal error; see the server log" } }, 500);
  });
  return app;
}
