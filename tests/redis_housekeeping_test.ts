/**
 * Redis housekeeping (workers/redis/housekeeping.ts) against a real redis-server, on hand-made state: the shards
 * stream loses exactly the entries that were delivered and acknowledged (never a pending or undelivered one);
 * the job list forgets ids whose job hash expired; departed hosts leave the hosts hash and their idle, empty
 * consumers the group (a live host's consumer and one holding a shard stay); this host's shard files of ended or
 * vanished jobs are removed, those of running jobs stay. And the default host id is the same after a restart.
 */
import assert from "node:assert/strict";
import { startRedis } from "../tools/redis_server.ts";
import { connectRedis, ensureGroup, GROUP, RedisKeys, whenReady } from "../workers/redis/store.ts";
import { housekeeping } from "../workers/redis/housekeeping.ts";
import { defaultHostId } from "../lib/server_config.ts";
import { waitFor } from "./helpers/wait_for.ts";

Deno.test("the default host id survives a restart: hostname and port (the pid only with PORT=0)", () => {
  assert.equal(defaultHostId(8000, "box"), "box-8000");
  assert.equal(defaultHostId(8000, "box"), defaultHostId(8000, "box"));
  assert.equal(defaultHostId(0, "box"), `box-pid${Deno.pid}`);
});

Deno.test("housekeeping: trims acknowledged shards, forgets expired jobs and departed hosts, removes orphans", async () => {
  const server = await startRedis();
  const redis = connectRedis(server.url, "test");
  const dir = await Deno.makeTempDir({ prefix: "retrace-housekeeping-" });
  try {
    await waitFor("the connection to redis-server", () => whenReady(redis, 1000));
    const keys = new RedisKeys("hk");
    await ensureGroup(redis, keys);
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push((await redis.xadd(keys.shards, "*", "shard", String(i)))!);
    // "old" takes three entries, acknowledges the first and third: the second is pending, two are undelivered
    await redis.xreadgroup("GROUP", GROUP, "old", "COUNT", 3, "STREAMS", keys.shards, ">");
    await redis.xack(keys.shards, GROUP, ids[0], ids[2]);
    const left = async () => (await redis.xrange(keys.shards, "-", "+")).map(([id]) => id);
    const options = { departedMs: 60_000 };
    assert.equal((await housekeeping(redis, keys, options)).trimmed, 1);
    assert.deepEqual(
      await left(),
      ids.slice(1),
      "only the first (acknowledged, before the pending one) went",
    );
    await redis.xack(keys.shards, GROUP, ids[1]);
    assert.equal((await housekeeping(redis, keys, options)).trimmed, 2);
    assert.deepEqual(await left(), ids.slice(3), "the undelivered entries stay");
    assert.equal((await housekeeping(redis, keys, options)).trimmed, 0, "nothing more to trim");

    // the job list: a job whose hash expired is unlisted
    await redis.zadd(keys.jobs, 1, "job-kept", 2, "job-expired");
    await redis.hset(keys.job("job-kept"), "status", "done");
    assert.equal((await housekeeping(redis, keys, options)).jobsForgotten, 1);
    assert.deepEqual(await redis.zrange(keys.jobs, 0, -1), ["job-kept"]);

    // hosts and consumers: "old" and "gone" departed long ago, "live" beats; "holder" holds a shard
    const now = Date.now();
    await redis.hset(keys.hosts, {
      old: String(now - 120_000),
      gone: String(now - 120_000),
      live: String(now + 60),
    });
    await redis.xgroup("CREATECONSUMER", keys.shards, GROUP, "live");
    await redis.xreadgroup("GROUP", GROUP, "holder", "COUNT", 1, "STREAMS", keys.shards, ">");
    await new Promise((r) => setTimeout(r, 60)); // every consumer idle for at least 60 ms (a lower bound)
    const report = await housekeeping(redis, keys, { departedMs: 50, now: now + 60 });
    assert.deepEqual(report.hostsForgotten, ["gone", "old"]);
    assert.deepEqual(Object.keys(await redis.hgetall(keys.hosts)), ["live"]);
    assert.deepEqual(report.consumersDeleted, ["old"], "not live, not the holder of a pending shard");
    const consumers = (await redis.xinfo("CONSUMERS", keys.shards, GROUP) as unknown[][]).map((c) => c[1]);
    assert.deepEqual(consumers.sort(), ["holder", "live"]);

    // this host's shard files
    const job = (n: number) => `0000000${n}-0000-0000-0000-000000000000`;
    await redis.hset(keys.job(job(1)), "status", "done");
    await redis.hset(keys.job(job(2)), "status", "running");
    await redis.hset(keys.job(job(4)), "status", "cancelled");
    const files = [1, 2, 3, 4].map((n) => `${job(n)}.shard-0-of-2.jsonl`);
    for (const f of [...files, "notes.txt"]) await Deno.writeTextFile(`${dir}/${f}`, "x");
    const tidy = await housekeeping(redis, keys, {
      departedMs: 60_000,
      workDir: dir,
      running: () => [job(4)],
    });
    assert.deepEqual(
      tidy.filesRemoved.sort(),
      [files[0], files[2]],
      "done and vanished jobs; not running ones",
    );
    const kept = (await Array.fromAsync(Deno.readDir(dir))).map((e) => e.name).sort();
    assert.deepEqual(kept, [files[1], files[3], "notes.txt"].sort());
  } finally {
    redis.disconnect();
    await server.close();
    await Deno.remove(dir, { recursive: true });
  }
});
