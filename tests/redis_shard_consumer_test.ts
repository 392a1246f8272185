/**
 * workers/redis/shard_consumer.ts against a real redis-server, with a stand-in evaluation worker
 * (tests/helpers/fake_shard_worker.ts) so it runs in seconds: shards spread over two consumers and merge to the
 * hand-computed sum; a worker that wedges mid-shard (reports, then never answers) loses its shard to the other
 * host once the visibility timeout has passed, the wedged host notices on its own (its claim is gone and the job
 * has ended) and takes the next job's shard instead of sitting on the dead one forever; and a slot whose read
 * gets no reply (a half-open connection, made with tests/helpers/silent_redis_proxy.ts) replaces its connection
 * and goes on; a host whose own connection becomes ready after its readers' (held by the same proxy) waits for it
 * without a warning. Nothing here depends on how fast the machine is: the consumers' claim watches and read-stall
 * limits run on manual clocks (tests/helpers/manual_timers.ts) the test advances, a shard's idle time in Redis is
 * moved past the visibility timeout by the test, and every wait is on an event (a stream entry, a job status),
 * bounded only by a safety limit that catches hangs.
 */
import assert from "node:assert/strict";
import { FAKE_RESOLUTION, fakeRedisJobs } from "./helpers/fake_redis_jobs.ts";
import type { Redis } from "ioredis";
import { startRedis } from "../tools/redis_server.ts";
import { connectRedis, ensureGroup, GROUP, RedisKeys, whenReady } from "../workers/redis/store.ts";
import { READ_STALL_MS, ShardConsumer, type ShardConsumerOptions } from "../workers/redis/shard_consumer.ts";
import type { EvaluationSpec } from "../lib/service/evaluation_spec.ts";
import type { PointingResult } from "../lib/eval/pointing_run.ts";
import { FAKE_LABEL } from "./helpers/fake_shard_worker.ts";
import { silentRedisProxy } from "./helpers/silent_redis_proxy.ts";
import { ManualTimers } from "./helpers/manual_timers.ts";
import { waitFor } from "./helpers/wait_for.ts";

/** The wedged and the half-open hosts' visibility timeout (their claim watches run every quarter of it). */
const VISIBILITY_MS = 1200;
/** Host b's: no shard stays idle this long on its own while the test runs, so b takes one only when told. */
const LONG_VISIBILITY_MS = 3_600_000;
const resolution = FAKE_RESOLUTION;

/**
 * Moves the idle time of `entry` (a pending shard held by `consumer`) to `idleMs`, as if it had not been renewed
 * for that long; the holder stays the same. 1 when done, 0 when `consumer` does not hold it.
 */
function ageClaim(redis: Redis, keys: RedisKeys, consumer: string, entry: string, idleMs: number) {
  return redis.eval(
    `if #redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[3], ARGV[3], 1, ARGV[2]) == 0 then return 0 end
redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[3], 'IDLE', ARGV[4], 'JUSTID')
return 1`,
    1,
    keys.shards,
    GROUP,
    consumer,
    entry,
    String(idleMs),
  );
}

Deno.test("shard consumer: spread, merged once; a wedged worker or a silent connection loses no shard or slot", async (t) => {
  const server = await startRedis();
  const redis = connectRedis(server.url, "test");
  await waitFor("the connection to redis-server", () => whenReady(redis, 1000));
  const keys = new RedisKeys(`consumer-test-${crypto.randomUUID().slice(0, 8)}`);
  const dir = await Deno.makeTempDir({ prefix: "retrace-consumer-" });
  const jobs = fakeRedisJobs(redis, keys);
  const connections = [redis];
  /** Host `host` on a connection of its own (`options.redis`, else a new one to the server). */
  const consumer = (host: string, worker: string, options: Partial<ShardConsumerOptions>) =>
    new ShardConsumer({
      redis: connections[connections.push(options.redis ?? redis.duplicate()) - 1],
      keys,
      hostId: host,
      slots: 1,
      visibilityMs: VISIBILITY_MS,
      workDir: `${dir}/${host}`,
      backend: "wasm",
      resolve: () => resolution,
      retainSeconds: 60,
      workerUrl: new URL(`./helpers/fake_shard_worker.ts${worker}`, import.meta.url),
      ...options,
    });
  const spec = (model: string, limit: number) => ({ model, methods: ["grad-cam"], limit }) as EvaluationSpec;
  const statusOf = async (id: string) => (await jobs.get(id))?.status ?? "(no job)";
  const untilStatus = (id: string, status: string) =>
    waitFor(`job ${id} to be ${status}`, async () => {
      const view = await jobs.get(id);
      return view?.status === status && view;
    }, { state: async () => `status ${await statusOf(id)}` });
  /** What hosts reported for job `id` (its event stream), in order. */
  const reports = async (id: string) =>
    (await redis.xrange(keys.events(id), "-", "+")).map(([, f]) => ({
      type: f[1],
      data: JSON.parse(f[3]) as { shard: number; host: string },
    }));
  const storedBy = async (id: string) =>
    (await reports(id)).filter((e) => e.type === "shard-done").map((e) => e.data).sort((x, y) =>
      x.shard - y.shard
    );
  /** The entry ids of shards held by `host` (handed to it, not acknowledged). */
  const heldBy = async (host: string) =>
    (await redis.xpending(keys.shards, GROUP, "-", "+", 10, host) as [string][]).map(([entry]) => entry);
  const aClock = new ManualTimers(); // a's claim watch fires only when the test advances this
  const a = consumer("a", "?hang", { timers: aClock });
  let b: ShardConsumer | null = null;
  try {
    await t.step("a wedged shard goes to the other host after the visibility timeout", async () => {
      await ensureGroup(redis, keys); // what a.start() does too: XPENDING below needs the group
      a.start();
      const { id } = await jobs.create(spec("hang", 3));
      // a takes shard 0 first (it is alone), reports one image and wedges: its worker never answers again
      await waitFor(
        "a's report of the first image of shard 0",
        async () => (await reports(id)).some((e) => e.type === "shard-progress" && e.data.host === "a"),
        { state: async () => JSON.stringify(await reports(id)) },
      );
      const [entry] = await heldBy("a");
      assert.ok(entry, "a holds shard 0");
      // b arrives and takes the shards nobody holds; shard 0 is not idle past b's visibility timeout, so it stays
      // a's however long b takes
      b = consumer("b", "", { visibilityMs: LONG_VISIBILITY_MS, timers: new ManualTimers() });
      b.start();
      await waitFor(
        "b to store shards 1 and 2",
        async () => (await storedBy(id)).filter((s) => s.host === "b" && s.shard > 0).length === 2,
        { state: async () => JSON.stringify(await storedBy(id)) },
      );
      assert.deepEqual(await heldBy("a"), [entry], "a still holds its wedged shard 0");
      assert.equal(await statusOf(id), "running");
      // the visibility timeout passes for shard 0: a renews nothing (its worker is wedged), so its idle time in
      // Redis grows past b's timeout; b's next look at the pending shards takes it over
      assert.equal(await ageClaim(redis, keys, "a", entry, LONG_VISIBILITY_MS + 1), 1);
      const view = await untilStatus(id, "done");
      const result = view.result as PointingResult;
      const stored = await storedBy(id);
      assert.deepEqual(stored.map((s) => [s.shard, s.host]), [[0, "b"], [1, "b"], [2, "b"]]);
      // shard i contributes i + 1 hits and 1 miss on class 0: 1 + 2 + 3 hits, 3 misses
      const tallies = result.tallies[FAKE_LABEL].all;
      assert.deepEqual(tallies, { hits: [6, 0], misses: [3, 0] });
      assert.equal(result.accuracy[FAKE_LABEL].all, (6 / 9 + 0) / 2);
      assert.equal(view.result!.images, 3);
      // Redis's own running sum (Lua, cjson) agrees with the merge; no running shard's tallies are left
      const kept = await redis.hgetall(keys.tallies(id));
      assert.deepEqual(Object.keys(kept), ["counted"]);
      assert.deepEqual(JSON.parse(kept.counted), view.result!.tallies);
      // the finished job's SSE replay: one progress event, with all 3 images and the final accuracy
      const events = [];
      for await (const e of jobs.events(id, undefined, new AbortController().signal)) events.push(e);
      assert.equal(events.at(-1)!.type, "done");
      const progress = events.filter((e) => e.type === "progress");
      assert.equal(progress.length, 1, "a replay sends the last progress snapshot of each batch read");
      const last = progress[0].data as {
        done: number;
        accuracy: unknown;
      };
      assert.equal(last.done, 3);
      assert.deepEqual(last.accuracy, result.accuracy);
    });

    await t.step("the wedged host frees its slot by itself and runs the next job", async () => {
      await b!.close();
      b = null;
      const { id } = await jobs.create(spec("plain", 1));
      // a quarter of the visibility timeout passes: a's claim watch finds its claim gone and the job ended,
      // stops the wedged worker and frees the slot (a is the only host left: nobody else can run this job)
      aClock.advance(VISIBILITY_MS / 4);
      await untilStatus(id, "done");
      assert.deepEqual((await storedBy(id)).map((s) => [s.shard, s.host]), [[0, "a"]]);
    });

    await t.step(
      "a slot whose read gets no reply takes a new connection and keeps taking shards",
      async () => {
        await a.close(); // host d alone from here
        const proxy = silentRedisProxy(server.port);
        const dClock = new ManualTimers(); // d's read-stall limit passes only when the test advances this
        const d = consumer("d", "", { redis: connectRedis(proxy.url, "d"), timers: dClock });
        try {
          d.start();
          proxy.silenceNextRead(); // d's reader: its next XREADGROUP and all after it go unanswered
          await waitFor("d's reader to send an XREADGROUP (then silenced)", () => proxy.silenced() > 0);
          const { id } = await jobs.create(spec("plain", 2));
          // the read stays unanswered past the stall limit: d drops that connection and reads on a new one (a
          // shard handed to the lost read is pending to d, and d claims it back after the visibility timeout)
          dClock.advance(READ_STALL_MS);
          await untilStatus(id, "done");
          assert.deepEqual((await storedBy(id)).map((s) => [s.shard, s.host]), [[0, "d"], [1, "d"]]);
        } finally {
          await d.close();
          proxy.close();
        }
      },
    );

    await t.step(
      "a host whose own connection is ready after its readers' waits for it: no warning, then takes shards",
      async () => {
        const proxy = silentRedisProxy(server.port);
        proxy.holdNextConnection(); // e's own connection: its ready check gets no reply until released
        const main = connectRedis(proxy.url, "e");
        const logs: string[] = [];
        const e = consumer("e", "", {
          redis: main,
          visibilityMs: LONG_VISIBILITY_MS,
          timers: new ManualTimers(),
          log: (level, message) => logs.push(`${level} ${message}`),
        });
        try {
          await waitFor("e's own connection taken (and held) by the proxy", () => proxy.accepted() === 1);
          e.start();
          // the slot's reader and the cancel subscription connect and are answered; e's own connection is not
          await waitFor("the reader and the subscription answered", () => proxy.answered() === 2);
          await waitFor("the cancel subscription", () => e.health().cancelSubscription?.subscribed);
          assert.notEqual(main.status, "ready");
          proxy.release();
          const { id } = await jobs.create(spec("plain", 1));
          await untilStatus(id, "done");
          assert.deepEqual((await storedBy(id)).map((s) => [s.shard, s.host]), [[0, "e"]]);
          assert.deepEqual(
            logs.filter((l) => l.startsWith("warn ")),
            [],
            "a slow connection is not a failure",
          );
        } finally {
          await e.close();
          proxy.close();
        }
      },
    );
  } finally {
    await (b as ShardConsumer | null)?.close();
    await a.close(); // a second close is a no-op
    await jobs.close();
    for (const c of connections) c.disconnect();
    await server.close();
    await Deno.remove(dir, { recursive: true });
  }
});
