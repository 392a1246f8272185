/**
 * GET /healthz: version, the backend in use, the WebGPU adapter seen, why that backend was chosen, and the
 * evaluation queue's state (in-process, or Redis: reachable, backlog, live hosts, this host's cancel subscription
 * and running shards; workers/redis/queue_health.ts). The status stays "ok" while the service answers; a queue
 * that cannot take jobs says so in `queue` and `status` becomes "degraded".
 */
import { Hono } from "hono";
import type { BackendInfo } from "../lib/runtime/backend.ts";
import { VERSION } from "../lib/version.ts";

export function healthRoutes(backend: BackendInfo, queue?: () => Promise<Record<string, unknown>>): Hono {
  const app = new Hono();
  app.get("/healthz", async (c) => {
    const q = queue ? await queue() : null;
    const degraded = q !== null && (q.reachable === false ||
      (q.host as { cancelSubscription?: { subscribed: boolean } } | undefined)?.cancelSubscription
          ?.subscribed ===
        false);
    return c.json({
      status: degraded ? "degraded" : "ok",
      version: VERSION,
      backend: backend.backend,
      requestedBackend: backend.requested,
      reason: backend.reason,
      wasmThreads: backend.wasmThreads,
      adapter: backend.adapter
        ? {
          description: backend.adapter.description,
          vendor: backend.adapter.vendor,
          architecture: backend.adapter.architecture,
          software: backend.adapter.software,
          isFallbackAdapter: backend.adapter.isFallbackAdapter,
          maxStorageBufferBindingSize: backend.adapter.maxStorageBufferBindingSize,
        }
        : null,
      queue: q,
    });
  });
  return app;
}
