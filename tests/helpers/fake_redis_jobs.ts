/**
 * Test helper for the Redis tests with the stand-in shard worker (tests/helpers/fake_shard_worker.ts): a
 * resolution naming no real model or dataset (the stand-in reads neither), and the accepting side of jobs
 * (RedisEvaluations) as host "acceptor", one image per shard, `limit` images per job.
 */
import type { Redis } from "ioredis";
import { RedisEvaluations, type RedisEvaluationsOptions } from "../../workers/redis/jobs.ts";
import type { RedisKeys } from "../../workers/redis/store.ts";
import type { JobResolution } from "../../workers/evaluations.ts";

export const FAKE_RESOLUTION: JobResolution = {
  modelDir: "/nonexistent",
  dataset: { source: { format: "voc", root: "/nonexistent", split: "test" } },
};

export function fakeRedisJobs(
  redis: Redis,
  keys: RedisKeys,
  extra: Partial<RedisEvaluationsOptions> = {},
): RedisEvaluations {
  return new RedisEvaluations({
    redis,
    keys,
    hostId: "acceptor",
    shardImages: 1,
    defaultShards: 1,
    resolve: () => FAKE_RESOLUTION,
    count: (_r, limit) => Promise.resolve(limit ?? 1),
    retainSeconds: 60,
    ...extra,
  });
}
