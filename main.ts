/**
 * retrace service entry point: configuration from the environment -> tfjs backend -> Hono app -> Deno.serve.
 * Environment: HOST (default 127.0.0.1), PORT (default 8000; 0 = any free port), RETRACE_BACKEND
 * (auto|webgpu|wasm|cpu, default auto), RETRACE_WORKERS, RETRACE_MODELS_DIR, RETRACE_QUEUE, RETRACE_TIMEOUT_MS,
 * RETRACE_MAX_PIXELS, RETRACE_REDIS_URL … (lib/server_config.ts). Prints one JSON line
 * `{"listening": "http://host:port", ...}`. With RETRACE_REDIS_URL, evaluations are sharded over every instance
 * attached to that Redis (workers/redis/); without it they run in this process (workers/evaluations.ts).
 */
import { initBackend } from "./lib/runtime/backend.ts";
import { serverConfig } from "./lib/server_config.ts";
import { VERSION } from "./lib/version.ts";
import { createApp } from "./routes/app.ts";
import { scanModels } from "./lib/models/registry.ts";
import { WorkerPool } from "./workers/pool.ts";
import { BATCH_WINDOW_AUTO, SaliencyBatcher } from "./workers/batcher.ts";
import { EvaluationJobs } from "./workers/evaluations.ts";
import { resolveEvaluation } from "./lib/service/resolve_evaluation.ts";
import type { Evaluations } from "./workers/evaluations_api.ts";
import { distributedEvaluations } from "./workers/redis/setup.ts";
import { log } from "./lib/runtime/log_line.ts";

/**
 * Generates the synthetic test split in a worker if it is missing (the page's samples, default evaluations);
 * resolves when the world is there or could not be made (never rejects), without holding up the server.
 */
async function prepareSyntheticWorld(dir: string, images: number): Promise<void> {
  if (await Deno.stat(`${dir}/manifest.json`).then(() => true, () => false)) return;
  const note = "first start: a minute or two; GET /v1/samples lists its images once it is done";
  log("info", `generating ${dir} (${note})`);
  const worker = new Worker(new URL("./workers/world_worker.ts", import.meta.url), { type: "module" });
  const { promise, resolve } = Promise.withResolvers<void>();
  worker.onmessage = (e) => {
    if (e.data.done === "generated") log("info", `generated ${dir}`);
    if (e.data.error) log("warn", `no synthetic world: ${e.data.error}`);
    worker.terminate();
    resolve();
  };
  worker.onerror = (e) => {
    e.preventDefault();
    log("warn", `no synthetic world: ${e.message}`);
    worker.terminate();
    resolve();
  };
  worker.postMessage({ dir, images });
  return await promise;
}

async function main(): Promise<void> {
  const config = serverConfig();
  const backend = await initBackend(config.backend);
  const models = await scanModels(
    config.modelsDir,
    (dir, message) => log("warn", `skipped model ${dir}: ${message}`),
  );
  const pool = new WorkerPool({
    size: config.workers,
    queueLimit: config.queueLimit,
    timeoutMs: config.timeoutMs,
    backend: backend.backend,
  });
  const batcher = new SaliencyBatcher(pool, {
    windowMs: config.batchWindowMs ?? BATCH_WINDOW_AUTO[backend.backend] ?? 0,
    maxBatch: config.batchMax,
  });
  const resolve = (spec: Parameters<typeof resolveEvaluation>[0]) => resolveEvaluation(spec, models, config);
  // generated in the background; a Redis host takes shards only once it is there (once per host)
  const worldReady = prepareSyntheticWorld(`${config.dataDir}/synthetic`, config.syntheticImages);
  let jobs: Evaluations;
  if (config.redisUrl) {
    jobs = await distributedEvaluations(config.redisUrl, config, backend.backend, resolve, worldReady);
  } else {
    const local = new EvaluationJobs({
      dir: config.jobsDir,
      backend: backend.backend,
      resolve,
      maxJobs: config.maxJobs,
      retainSeconds: config.jobRetainSeconds,
    });
    await local.restore();
    jobs = local;
  }
  const app = createApp(backend, {
    jobs,
    dataDir: config.dataDir,
    v1: { models, pool, batcher, maxPixels: config.maxPixels, timeoutMs: config.timeoutMs },
    apiKey: config.apiKey,
    corsOrigin: config.corsOrigin,
    maxBodyBytes: config.maxBodyBytes,
    uploadLimit: config.workers + config.queueLimit,
  });
  const server = Deno.serve({
    hostname: config.host,
    port: config.port,
    onListen: ({ hostname, port }) => {
      const host = hostname.includes(":") ? `[${hostname}]` : hostname;
      console.log(
        JSON.stringify({
          listening: `http://${host}:${port}`,
          version: VERSION,
          backend: backend.backend,
          reason: backend.reason,
          workers: config.workers,
          models: [...models.keys()],
          ...(config.redisUrl ? { evaluations: "redis", host: config.redis.hostId } : {}),
        }),
      );
    },
  }, app.fetch);
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    Deno.addSignalListener(
      signal,
      () => server.shutdown().then(() => jobs.close()).then(() => pool.close()).then(() => Deno.exit(0)),
    );
  }
  await server.finished;
}

if (import.meta.main) {
  try {
    await main();
  } catch (e) {
    console.error(
      JSON.stringify({ level: "fatal", error: (e as Error).name, message: (e as Error).message }),
    );
    Deno.exit(1);
  }
}
