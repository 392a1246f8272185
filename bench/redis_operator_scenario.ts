/**
 * The scale-out operator's scenario, timed: one redis-server, hosts a, b, c on loopback (40-image jobs in shards
 * of 5, shard timeout 8 s), each fault compared with a single-host run of the same job:
 *
 *   1. kill -9 of b while it runs a shard: the job still ends with the single-host numbers (time to done);
 *   2. Redis stopped (SIGTERM) mid-job for longer than the shard timeout, then restarted: the same numbers, and
 *      how many shards changed hands (recomputed) because of the outage;
 *   3. a cancel sent to c for a job posted to a: time from the DELETE until every host's slot waits for shards
 *      again, and the shard results stored after the DELETE returned.
 *
 * Needs the synthetic world (`deno task data`, or any world under --data).
 *   deno run -A bench/redis_operator_scenario.ts [--data data] [--images 40] [--shard 5] [--timeout-ms 8000]
 */
import { parseArgs } from "node:util";
import { Redis } from "ioredis";
import { type SpawnedServer, spawnServer } from "../tools/spawn_server.ts";
import { startRedis } from "../tools/redis_server.ts";
import { readEvents } from "../tests/helpers/evaluations_http.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    data: { type: "string", default: "data" },
    images: { type: "string", default: "40" },
    shard: { type: "string", default: "5" },
    "timeout-ms": { type: "string", default: "8000" },
  },
});
const images = Number(values.images);
const timeoutMs = Number(values["timeout-ms"]);
const spec = {
  model: "resnet50_synthetic",
  methods: ["grad-cam", "linear-approx"],
  layers: ["layer4"],
  limit: images,
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until<T>(what: string, probe: () => Promise<T | false | null | undefined>, limitMs = 600_000) {
  const end = Date.now() + limitMs;
  for (;;) {
    const v = await probe();
    if (v) return v;
    if (Date.now() > end) throw new Error(`waited ${limitMs / 1000} s for ${what}`);
    await sleep(20);
  }
}

async function post(base: string): Promise<string> {
  const res = await fetch(`${base}/v1/evaluations`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(spec),
  });
  if (res.status !== 202) throw new Error(`POST: ${res.status} ${await res.text()}`);
  return (await res.json()).id;
}

async function result(base: string, id: string) {
  // right after an outage the instance may not have reconnected yet (503): wait for the stream to open
  await until("the job's event stream to open", async () => {
    const res = await fetch(`${base}/v1/evaluations/${id}`);
    await res.body?.cancel();
    return res.status === 200;
  });
  const events = await readEvents(`${base}/v1/evaluations/${id}/events`);
  if (events.at(-1)?.event !== "done") throw new Error(`job ${id} ended ${JSON.stringify(events.at(-1))}`);
  return (await (await fetch(`${base}/v1/evaluations/${id}`)).json()).result;
}

async function raw(redis: Redis, id: string) {
  return (await redis.xrange(`retrace:job:${id}:events`, "-", "+")).map(([entry, f]) => ({
    entry,
    type: f[1],
    data: JSON.parse(f[3]) as { shard: number; host: string },
  }));
}

/** Hosts whose every slot waits for shards (a blocked XREADGROUP on their named connection). */
async function waitingHosts(redis: Redis): Promise<Set<string>> {
  const list = await redis.client("LIST") as string;
  return new Set(
    list.split("\n").flatMap((line) => {
      const f = Object.fromEntries(
        line.trim().split(" ").map((kv) => [kv.slice(0, kv.indexOf("=")), kv.slice(kv.indexOf("=") + 1)]),
      );
      return f.cmd === "xreadgroup" && (f.flags ?? "").includes("b") && f.name?.startsWith("retrace:")
        ? [f.name.slice(8)]
        : [];
    }),
  );
}

const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

const redisServer = await startRedis();
const redis = new Redis(redisServer.url, { maxRetriesPerRequest: 1, lazyConnect: true });
redis.on("error", () => {});
await redis.connect();
const servers: SpawnedServer[] = [];
const dirs: string[] = [];
const start = async (env: Record<string, string>) => {
  const jobs = Deno.makeTempDirSync({ prefix: "retrace-operator-" });
  dirs.push(jobs);
  const s = await spawnServer({ RETRACE_DATA_DIR: values.data, RETRACE_JOBS_DIR: jobs, ...env });
  servers.push(s);
  return s;
};
const host = (id: string) =>
  start({
    RETRACE_REDIS_URL: redisServer.url,
    RETRACE_HOST_ID: id,
    RETRACE_SHARD_IMAGES: values.shard,
    RETRACE_SHARD_TIMEOUT_MS: String(timeoutMs),
  });
try {
  console.log(
    `${spec.model}, ${
      spec.methods.join(" + ")
    } at ${spec.layers}, ${images} synthetic test images, shards of ` +
      `${values.shard}, shard timeout ${timeoutMs} ms, wasm, ${navigator.hardwareConcurrency} cores, hosts a b c`,
  );
  const local = await start({});
  let t = performance.now();
  const reference = await result(local.base, await post(local.base));
  console.log(`single host, no Redis: ${((performance.now() - t) / 1000).toFixed(1)} s`);
  local.child.kill("SIGTERM");
  await local.child.status;
  let [a, b, c] = await Promise.all(["a", "b", "c"].map(host));

  // 1. kill -9 of b mid-shard
  t = performance.now();
  let id = await post(a.base);
  const victim = await until("b to run a shard", async () => {
    const r = await raw(redis, id);
    const done = new Set(r.filter((e) => e.type === "shard-done").map((e) => e.data.shard));
    return r.find((e) => e.type === "shard-progress" && e.data.host === "b" && !done.has(e.data.shard));
  });
  b.child.kill("SIGKILL");
  await b.child.status;
  const killedAt = performance.now();
  let r1 = await result(a.base, id);
  const after1 = await raw(redis, id);
  const redone = after1.find((e) => e.type === "shard-done" && e.data.shard === victim.data.shard);
  console.log(
    `1. kill -9 of b during shard ${victim.data.shard}: done in ${
      ((performance.now() - t) / 1000).toFixed(1)
    } s ` +
      `(${((performance.now() - killedAt) / 1000).toFixed(1)} s after the kill; the shard finished on ` +
      `${redone?.data.host}); numbers equal to the single host: ${same(r1.tallies, reference.tallies)}`,
  );
  b = await host("b");

  // 2. Redis stopped mid-job, longer than the shard timeout
  t = performance.now();
  id = await post(a.base);
  await until("two stored shards", async () => (await redis.hlen(`retrace:job:${id}:results`)) >= 2);
  await redisServer.stop();
  const down = performance.now();
  await sleep(timeoutMs + 2000);
  await redisServer.restart();
  const outage = (performance.now() - down) / 1000;
  r1 = await result(a.base, id);
  const starts = (await raw(redis, id)).filter((e) => e.type === "shard-start");
  const shards = new Set(starts.map((e) => e.data.shard));
  const movedShards = [...shards].filter((s) =>
    new Set(starts.filter((e) => e.data.shard === s).map((e) => e.data.host)).size > 1
  );
  console.log(
    `2. Redis stopped for ${outage.toFixed(1)} s mid-job: done in ${
      ((performance.now() - t) / 1000).toFixed(1)
    } s; ` +
      `shards that changed hands: ${movedShards.length} of ${shards.size}; numbers equal to the single host: ` +
      `${same(r1.tallies, reference.tallies)}`,
  );

  // 3. cancel on a host that did not accept the job
  id = await post(a.base);
  await until(
    "a progress report",
    async () => (await raw(redis, id)).some((e) => e.type === "shard-progress"),
  );
  await until("every host running a shard", async () => (await waitingHosts(redis)).size === 0);
  const t0 = performance.now();
  const del = await fetch(`${c.base}/v1/evaluations/${id}`, { method: "DELETE" });
  const status = (await del.json()).status;
  const answered = performance.now();
  const storedAtDelete = await redis.hlen(`retrace:job:${id}:results`);
  await until("every host waiting for shards again", async () => (await waitingHosts(redis)).size === 3);
  const free = performance.now();
  await sleep(timeoutMs); // anything still running would have stored its shard by now
  const storedAfter = await redis.hlen(`retrace:job:${id}:results`);
  console.log(
    `3. DELETE on c of a job accepted by a (${status}, answered in ${
      (answered - t0).toFixed(0)
    } ms): every host's ` +
      `slot free ${(free - t0).toFixed(0)} ms after the DELETE; shard results stored at the DELETE ` +
      `${storedAtDelete}, ${timeoutMs / 1000} s later ${storedAfter}`,
  );
} finally {
  for (const s of servers) {
    try {
      s.child.kill("SIGTERM");
    } catch { /* already gone */ }
    await s.child.status;
  }
  redis.disconnect();
  await redisServer.close();
  for (const d of dirs) await Deno.remove(d, { recursive: true }).catch(() => {});
}
