/**
 * A host takes shards only once its data is prepared (workers/redis/shard_consumer.ts `ready`), against a real
 * redis-server with the stand-in worker: while `ready` is pending the host is up (heartbeat, cancel
 * subscription) but the job's shard stays undelivered; once it settles the host runs the shard to the end.
 */
import assert from "node:assert/strict";
import { FAKE_RESOLUTION, fakeRedisJobs } from "./helpers/fake_redis_jobs.ts";
import { startRedis } from "../tools/redis_server.ts";
import { connectRedis, ensureGroup, RedisKeys, whenReady } from "../workers/redis/store.ts";
import { ShardConsumer } from "../workers/redis/shard_consumer.ts";
import { queueHealth } from "../workers/redis/queue_health.ts";
import type { EvaluationSpec } from "../lib/service/evaluation_spec.ts";
import { waitFor } from "./helpers/wait_for.ts";

const resolution = FAKE_RESOLUTION;

Deno.test("a host takes no shard before its data is prepared, and runs it after", async () => {
  const server = await startRedis();
  const redis = connectRedis(server.url, "test");
  const dir = await Deno.makeTempDir({ prefix: "retrace-ready-" });
  await waitFor("the connection to redis-server", () => whenReady(redis, 1000));
  const keys = new RedisKeys("ready-test");
  const jobs = fakeRedisJobs(redis, keys);
  const prepared = Promise.withResolvers<void>();
  const logs: string[] = [];
  const host = new ShardConsumer({
    redis: redis.duplicate(),
    keys,
    hostId: "a",
    slots: 1,
    visibilityMs: 60_000,
    workDir: dir,
    backend: "wasm",
    resolve: () => resolution,
    retainSeconds: 60,
    workerUrl: new URL("./helpers/fake_shard_worker.ts", import.meta.url),
    ready: prepared.promise,
    log: (level, message) => logs.push(`${level} ${message}`),
  });
  try {
    await ensureGroup(redis, keys); // as any running host has: the group exists, so its lag means something
    const { id } = await jobs.create({ model: "m", methods: ["grad-cam"], limit: 1 } as EvaluationSpec);
    host.start();
    await waitFor("the host's cancel subscription", () => host.health().cancelSubscription?.subscribed);
    await waitFor("the host's heartbeat", async () => (await redis.hexists(keys.hosts, "a")) === 1);
    const waiting = await queueHealth(redis, keys, { id: "a", ...host.health() });
    assert.deepEqual([waiting.lag, waiting.pending], [1, 0], "the shard is not handed out yet");
    assert.ok(logs.some((l) => /taking shards once this host's data is prepared/.test(l)));
    prepared.resolve();
    const done = await waitFor("the job to be done", async () => {
      const v = await jobs.get(id);
      return v?.status === "done" && v;
    });
    assert.equal(done.result?.images, 1);
  } finally {
    await host.close();
    await jobs.close();
    redis.disconnect();
    await server.close();
    await Deno.remove(dir, { recursive: true });
  }
});
