/**
 * Cross-cutting HTTP concerns, each a Hono middleware: request ids (X-Request-Id, echoed or generated), one JSON
 * log line per request, per-route request counts and latency histograms for GET /metrics, a body-size limit
 * (413), an optional bearer token for /v1 (401) and CORS (off unless RETRACE_CORS_ORIGIN is set).
 */
import type { MiddlewareHandler } from "hono";
import { bodyLimit } from "hono/body-limit";
import { cors } from "hono/cors";
import { requestId } from "hono/request-id";
import { routePath } from "hono/route";

export const LATENCY_BUCKETS = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

export class RequestMetrics {
  readonly counts = new Map<string, number>();
  readonly histograms = new Map<string, { buckets: number[]; sum: number; count: number }>();

  observe(route: string, method: string, status: number, seconds: number): void {
    const key = `route="${route}",method="${method}",status="${status}"`;
    this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
    const hkey = `route="${route}",method="${method}"`;
    const h = this.histograms.get(hkey) ?? { buckets: LATENCY_BUCKETS.map(() => 0), sum: 0, count: 0 };
    LATENCY_BUCKETS.forEach((b, i) => {
      if (seconds <= b) h.buckets[i]++;
    });
    h.sum += seconds;
    h.count++;
    this.histograms.set(hkey, h);
  }

  /** Prometheus text exposition of the request metrics. */
  text(): string {
    const lines = [
      "# HELP retrace_requests_total HTTP requests by route, method and status.",
      "# TYPE retrace_requests_total counter",
    ];
    for (const [k, v] of this.counts) lines.push(`retrace_requests_total{${k}} ${v}`);
    lines.push("# HELP retrace_request_seconds Request latency.", "# TYPE retrace_request_seconds histogram");
    for (const [k, h] of this.histograms) {
      LATENCY_BUCKETS.forEach((b, i) =>
        lines.push(`retrace_request_seconds_bucket{${k},le="${b}"} ${h.buckets[i]}`)
      );
      lines.push(`retrace_request_seconds_bucket{${k},le="+Inf"} ${h.count}`);
      lines.push(`retrace_request_seconds_sum{${k}} ${h.sum}`);
      lines.push(`retrace_request_seconds_count{${k}} ${h.count}`);
    }
    return lines.join("\n") + "\n";
  }
}

/** Request id + JSON access log + metrics. */
export function observe(
  metrics: RequestMetrics,
  log: (line: string) => void = console.log,
): MiddlewareHandler[] {
  return [
    requestId(),
    async (c, next) => {
      const start = performance.now();
      await next();
      const seconds = (performance.now() - start) / 1000;
      const route = routePath(c) || "unmatched";
      metrics.observe(route, c.req.method, c.res.status, seconds);
      log(JSON.stringify({
        level: "info",
        requestId: c.get("requestId"),
        method: c.req.method,
        path: new URL(c.req.url).pathname,
        status: c.res.status,
        ms: Math.round(seconds * 1000),
      }));
    },
  ];
}

export function limitBody(maxBytes: number): MiddlewareHandler {
  return bodyLimit({
    maxSize: maxBytes,
    onError: (c) =>
      c.json({
        error: {
          code: "body_too_large",
          message: `the request body exceeds ${maxBytes} bytes (RETRACE_MAX_BODY)`,
        },
      }, 413),
  });
}

/** Requires `Authorization: Bearer <key>` when a key is configured. */
export function requireKey(key: string | undefined): MiddlewareHandler {
  return async (c, next) => {
    if (key && c.req.header("authorization") !== `Bearer ${key}`) {
      return c.json({
        error: {
          code: "unauthorized",
          message: "send the API key as `Authorization: Bearer <RETRACE_API_KEY>`",
        },
      }, 401);
    }
    await next();
  };
}

export function corsFor(origin: string | undefined): MiddlewareHandler {
  if (!origin) return async (_c, next) => await next();
  return cors({
    origin,
    allowHeaders: ["authorization", "content-type", "last-event-id"],
    exposeHeaders: ["x-request-id"],
  });
}
