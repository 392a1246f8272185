/**
 * Admission for requests that carry an image (POST /v1/saliency, /v1/caption): at most `limit` of them are read,
 * queued or computed at once — the pool's workers plus its queue — so the server's memory for uploads is bounded
 * by limit x RETRACE_MAX_BODY whatever the number of clients. One over the limit is refused 503 `busy` with
 * Retry-After before its body is read.
 */
import type { MiddlewareHandler } from "hono";
import { apiError } from "./errors.ts";

export class UploadGate {
  private inFlight = 0;

  constructor(readonly limit: number) {}

  /** Requests admitted and not yet answered. */
  get active(): number {
    return this.inFlight;
  }

  middleware(): MiddlewareHandler {
    return async (c, next) => {
      if (c.req.method !== "POST") return await next();
      if (this.inFlight >= this.limit) {
        return apiError(
          c,
          "busy",
          `${this.inFlight} image requests are in progress, the most this server takes at once ` +
            `(RETRACE_WORKERS + RETRACE_QUEUE); retry after Retry-After`,
          { "Retry-After": "2" },
        );
      }
      this.inFlight++;
      try {
        await next();
      } finally {
        this.inFlight--;
      }
    };
  }
}
