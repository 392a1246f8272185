/**
 * GET /metrics in Prometheus text format: requests and latency per route (routes/middleware.ts), worker pool
 * size, busy workers, queue depth and worker restarts, live tensors per idle worker (asked without queueing), and
 * the sizes of the saliency passes (requests batched together, workers/batcher.ts).
 */
import { Hono } from "hono";
import type { RequestMetrics } from "./middleware.ts";
import type { WorkerPool } from "../workers/pool.ts";
import { BATCH_SIZE_BUCKETS, type SaliencyBatcher } from "../workers/batcher.ts";

export function metricsRoutes(metrics: RequestMetrics, pool?: WorkerPool, batcher?: SaliencyBatcher): Hono {
  const app = new Hono();
  app.get("/metrics", async (c) => {
    let text = metrics.text();
    if (pool) {
      const s = pool.stats();
      text += [
        "# TYPE retrace_workers gauge",
        `retrace_workers ${s.size}`,
        "# TYPE retrace_workers_busy gauge",
        `retrace_workers_busy ${s.busy}`,
        "# TYPE retrace_queue_depth gauge",
        `retrace_queue_depth ${s.queued}`,
        "# TYPE retrace_worker_restarts_total counter",
        `retrace_worker_restarts_total ${s.restarts}`,
        "# TYPE retrace_worker_live_tensors gauge",
        ...(await pool.idleTensorCounts()).map(({ id, tensors }) =>
          `retrace_worker_live_tensors{worker="${id}"} ${tensors}`
        ),
      ].join("\n") + "\n";
    }
    if (batcher) {
      const { passes, requests, bySize } = batcher.counts;
      text += [
        "# HELP retrace_saliency_batch_size saliency requests per pass (1: a request on its own)",
        "# TYPE retrace_saliency_batch_size histogram",
        ...BATCH_SIZE_BUCKETS.map((b, i) => `retrace_saliency_batch_size_bucket{le="${b}"} ${bySize[i]}`),
        `retrace_saliency_batch_size_bucket{le="+Inf"} ${passes}`,
        `retrace_saliency_batch_size_sum ${requests}`,
        `retrace_saliency_batch_size_count ${passes}`,
      ].join("\n") + "\n";
    }
    return c.text(text, 200, { "content-type": "text/plain; version=0.0.4" });
  });
  return app;
}
