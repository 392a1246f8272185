/**
 * The Redis job store's RETRACE_MAX_JOBS cap and DELETE, against a real redis-server with no shard consumers (jobs
 * stay queued): creates beyond the cap are refused with TooManyJobs, also when they race; a cancelled job frees
 * its slot; a reservation left by a host that died mid-create stops counting after its grace period; DELETE
 * cancels a queued job and removes every key of a finished one.
 */
import assert from "node:assert/strict";
import { fakeRedisJobs } from "./helpers/fake_redis_jobs.ts";
import { startRedis } from "../tools/redis_server.ts";
import { connectRedis, RedisKeys, whenReady } from "../workers/redis/store.ts";
import type { EvaluationSpec } from "../lib/service/evaluation_spec.ts";
import { TooManyJobs } from "../workers/evaluations_api.ts";

const spec = { model: "m", methods: ["grad-cam"], limit: 1 } as EvaluationSpec;

Deno.test("redis jobs: RETRACE_MAX_JOBS over queued + running, DELETE cancels or removes", async () => {
  const server = await startRedis();
  const redis = connectRedis(server.url, "test");
  assert.ok(await whenReady(redis, 5000), "connected to redis-server");
  const keys = new RedisKeys(`cap-test-${crypto.randomUUID().slice(0, 8)}`);
  const jobs = fakeRedisJobs(redis, keys, { maxJobs: 2 });
  try {
    // five creates at once: the admission is one atomic step, so exactly two get in
    const raced = await Promise.allSettled([1, 2, 3, 4, 5].map(() => jobs.create(spec)));
    const admitted = raced.filter((r) => r.status === "fulfilled").map((r) => r.value.id);
    const refused = raced.filter((r) => r.status === "rejected").map((r) => r.reason);
    assert.equal(admitted.length, 2);
    assert.equal(refused.length, 3);
    for (const e of refused) {
      assert.ok(e instanceof TooManyJobs, String(e));
      assert.ok(e.retryAfterSeconds >= 1);
    }

    // DELETE of a queued job cancels it (kept), which frees its slot
    assert.deepEqual(await jobs.delete(admitted[0]), {
      id: admitted[0],
      status: "cancelled",
      deleted: false,
    });
    assert.equal((await jobs.get(admitted[0]))?.status, "cancelled");
    const third = await jobs.create(spec);
    await assert.rejects(jobs.create(spec), TooManyJobs);

    // DELETE of the finished (cancelled) job removes every key it had
    assert.deepEqual(await jobs.delete(admitted[0]), { id: admitted[0], status: "cancelled", deleted: true });
    assert.equal(await redis.exists(...keys.allOf(admitted[0])), 0);
    assert.equal(await redis.zscore(keys.jobs, admitted[0]), null);
    assert.equal(await jobs.get(admitted[0]), undefined);
    assert.equal(await jobs.delete(admitted[0]), undefined);
    assert.equal(await jobs.delete("../../etc"), undefined);

    // a reservation without a job (its host died mid-create) counts for a minute only
    await jobs.delete(third.id); // cancel: one slot free
    const orphan = crypto.randomUUID();
    await redis.zadd(`${keys.jobs}:active`, Date.now(), orphan);
    await assert.rejects(jobs.create(spec), TooManyJobs, "a fresh reservation counts");
    await redis.zadd(`${keys.jobs}:active`, Date.now() - 61_000, orphan);
    const after = await jobs.create(spec);
    assert.equal(after.status, "queued", "a stale reservation stops counting");
  } finally {
    await jobs.close();
    redis.disconnect();
    await server.close();
  }
});
