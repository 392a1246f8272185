/**
 * The Hono application: mounts every router and maps unknown routes and uncaught errors to the JSON error
 * shape `{error: {code, message}}`.
 */
import { Hono } from "hono";
import type { BackendInfo } from "../lib/runtime/backend.ts";
import { healthRoutes } from "./health.ts";

export function createApp(backend: BackendInfo): Hono {
  const app = new Hono();
  app.route("/", healthRoutes(backend));
  app.notFound((c) =>
    c.json({
      error: {
        code: "not_found",
        message: `no route ${c.req.method} ${new URL(c.req.url).pathname}; try GET /healthz`,
      },
    }, 404)
  );
  app.onError((err, c) => {
    console.error(JSON.stringify({ level: "error", message: err.message, stack: err.stack }));
    return c.json({ error: { code: "internal", message: "internal error; see the server log" } }, 500);
  });
  return app;
}
