/** GET /healthz: version, the backend in use, the WebGPU adapter seen, and why that backend was chosen. */
import { Hono } from "hono";
import type { BackendInfo } from "../lib/runtime/backend.ts";
import { VERSION } from "../lib/version.ts";

export function healthRoutes(backend: BackendInfo): Hono {
  const app = new Hono();
  app.get("/healthz", (c) =>
    c.json({
      status: "ok",
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
    }));
  return app;
}
