/**
 * Wires distributed evaluations for main.ts: one Redis connection, the accepting side (RedisEvaluations) and
 * this instance's shard consumer, closed together. Start-up does not wait for Redis forever: if it is down the
 * service still starts, answers 503 to new evaluations, and attaches when Redis comes back.
 */
import * as Comlink from "comlink";
import type { ServerConfig } from "../../lib/server_config.ts";
import type { EvaluationSpec } from "../../lib/service/evaluation_spec.ts";
import type { EvaluationApi } from "../evaluation_worker.ts";
import type { JobResolution } from "../evaluations.ts";
import type { Evaluations } from "../evaluations_api.ts";
import { RedisEvaluations } from "./jobs.ts";
import { ShardConsumer } from "./shard_consumer.ts";
import { connectRedis, RedisKeys, whenReady } from "./store.ts";
import { queueHealth } from "./queue_health.ts";
import { log as logLine } from "../../lib/runtime/log_line.ts";

/** Counts the images of an evaluation in a short-lived evaluation worker (COCO listings parse large JSON). */
async function countImages(resolution: JobResolution, limit?: number): Promise<number> {
  const worker = new Worker(new URL("../evaluation_worker.ts", import.meta.url), { type: "module" });
  try {
    return await Comlink.wrap<EvaluationApi>(worker).count(resolution.modelDir, resolution.dataset, limit);
  } finally {
    worker.terminate();
  }
}

export async function distributedEvaluations(
  url: string,
  config: ServerConfig,
  backend: string,
  resolve: (spec: EvaluationSpec) => JobResolution,
  /** Shards are taken only after this settles (the synthetic world being generated on first start). */
  ready?: Promise<unknown>,
): Promise<Evaluations> {
  const o = config.redis;
  const log = (level: "info" | "warn", message: string) => logLine(level, message, { host: o.hostId });
  const redis = connectRedis(url, `retrace:${o.hostId}`);
  const keys = new RedisKeys(o.prefix);
  if (!(await whenReady(redis, 5000))) {
    log("warn", `Redis at ${url} is not reachable yet; evaluations wait for it`);
  }
  const jobs = new RedisEvaluations({
    redis,
    keys,
    hostId: o.hostId,
    shardImages: o.shardImages,
    defaultShards: o.defaultShards,
    resolve,
    count: countImages,
    retainSeconds: o.retainSeconds,
    maxJobs: config.maxJobs,
  });
  const consumer = new ShardConsumer({
    redis,
    keys,
    hostId: o.hostId,
    slots: o.slots,
    visibilityMs: o.visibilityMs,
    workDir: `${config.jobsDir}/shards`,
    backend,
    resolve,
    retainSeconds: o.retainSeconds,
    log,
    ready,
  });
  consumer.start();
  return {
    create: (spec) => jobs.create(spec),
    get: (id) => jobs.get(id),
    list: () => jobs.list(),
    cancel: (id) => jobs.cancel(id),
    delete: (id) => jobs.delete(id),
    events: (id, after, signal) => jobs.events(id, after, signal),
    health: async () => ({ ...await queueHealth(redis, keys, { id: o.hostId, ...consumer.health() }) }),
    close: async () => {
      await consumer.close();
      await jobs.close();
      redis.disconnect();
    },
  };
}
