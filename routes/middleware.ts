/**
 * Cross-cutting HTTP concerns, each a Hono middleware: request ids (X-Request-Id, echoed or generated), one JSON
 * log line per request, per-route request counts and latency histograms for GET /metrics, a URL-length limit
 * (414), a body-size limit (413), a JSON body that does not parse (400), an optional bearer token for /v1 (401)
 * and CORS (off unless RETRACE_CORS_ORIGIN is set). Refusals use routes/errors.ts.
 */
import type { MiddlewareHandler } from "hono";
import { apiError, clip } from "./errors.ts";
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
        time: new Date().toISOString(),
        level: "info",
        requestId: c.get("requestId"),
        method: c.req.method,
        path: clip(new URL(c.req.url).pathname, 200),
        status: c.res.status,
        ms: Math.round(seconds * 1000),
      }));
    },
  ];
}

/**
 * Longest path + query answered. Deno's HTTP server itself answers a request head (request line + headers)
 * over 64 KiB with an empty 400 before any handler runs; below that, this limit answers JSON 414.
 */
export const MAX_URL_LENGTH = 8192;

/** 414 uri_too_long when the path and query together exceed `maxLength` characters. */
export function limitUrl(maxLength: number): MiddlewareHandler {
  return async (c, next) => {
    const url = c.req.url;
    const length = url.length - new URL(url).origin.length;
    if (length > maxLength) {
      return apiError(
        c,
        "uri_too_long",
        `the URL's path and query are ${length} characters; the limit is ${maxLength} ` +
          "(send long options in a JSON body)",
      );
    }
    await next();
  };
}

export function limitBody(maxBytes: number): MiddlewareHandler {
  return bodyLimit({
    maxSize: maxBytes,
    onError: (c) =>
      apiError(c, "body_too_large", `the request body exceeds ${maxBytes} bytes (RETRACE_MAX_BODY)`),
  });
}

/** Whether a content-type is JSON the way Hono's validator reads it (application/json, application/x+json). */
export function isJsonType(contentType: string): boolean {
  return /^application\/([\w.-]+\+)?json$/i.test(contentType.split(";")[0].trim());
}

/**
 * Parses a JSON request body once, up front (Hono keeps it for the validators): one that does not parse is
 * 400 invalid_request with the parser's reason, instead of a framework error.
 */
export function parseJsonBody(): MiddlewareHandler {
  return async (c, next) => {
    if (c.req.raw.body && isJsonType(c.req.header("content-type") ?? "")) {
      try {
        await c.req.json();
      } catch (e) {
        if (!(e instanceof SyntaxError)) throw e;
        return apiError(
          c,
          "invalid_request",
          `the body is not valid JSON (${clip(e.message, 120)}); send one JSON object`,
        );
      }
    }
    await next();
  };
}

/** Requires `Authorization: Bearer <key>` when a key is configured. */
export function requireKey(key: string | undefined): MiddlewareHandler {
  return async (c, next) => {
    if (key && c.req.header("authorization") !== `Bearer ${key}`) {
      return apiError(c, "unauthorized", "send the API key as `Authorization: Bearer <RETRACE_API_KEY>`");
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
