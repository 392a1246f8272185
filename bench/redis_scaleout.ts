/**
 * Scale-out bench (issue 9): one redis-server and 1, 2, 3 … retrace instances on loopback, each taking shards
 * with its own evaluation worker; one evaluation (POST to the first instance) timed from POST to its final
 * event, and images/s printed per instance count, next to the same evaluation on one instance without Redis.
 * Needs the synthetic world's test split (`deno task data`, or any world under --data).
 *
 *   deno run -A bench/redis_scaleout.ts [--instances 1,2,3] [--images 200] [--shard 10] [--method grad-cam]
 *                                        [--layers layer4] [--model resnet50_synthetic] [--data data]
 */
import { parseArgs } from "node:util";
import { type SpawnedServer, spawnServer } from "../tools/spawn_server.ts";
import { startRedis } from "../tools/redis_server.ts";
import { readEvents } from "../tests/helpers/evaluations_http.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    instances: { type: "string", default: "1,2,3" },
    images: { type: "string", default: "200" },
    shard: { type: "string", default: "10" },
    method: { type: "string", default: "grad-cam" },
    layers: { type: "string", default: "layer4" },
    model: { type: "string", default: "resnet50_synthetic" },
    data: { type: "string", default: "data" },
  },
});
const images = Number(values.images);
const spec = {
  model: values.model,
  methods: [values.method],
  layers: values.layers.split(","),
  limit: images,
};

async function timeJob(base: string): Promise<number> {
  const t0 = performance.now();
  const res = await fetch(`${base}/v1/evaluations`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(spec),
  });
  if (res.status !== 202) throw new Error(`POST: ${res.status} ${await res.text()}`);
  const { id } = await res.json();
  const events = await readEvents(`${base}/v1/evaluations/${id}/events`);
  if (events.at(-1)?.event !== "done") throw new Error(`the job ended ${JSON.stringify(events.at(-1))}`);
  return (performance.now() - t0) / 1000;
}

async function stopAll(servers: SpawnedServer[]): Promise<void> {
  for (const s of servers) {
    s.child.kill("SIGTERM");
    await s.child.status;
  }
}

const jobsDir = () => Deno.makeTempDirSync({ prefix: "retrace-bench-jobs-" });
console.log(
  `${spec.model}, ${values.method} at ${values.layers}, ${images} synthetic test images, shards of ${values.shard}, ` +
    `wasm, ${navigator.hardwareConcurrency} cores`,
);
console.log("| setting | seconds | images/s | vs one instance without Redis |");
console.log("|---|---|---|---|");
const local = await spawnServer({ RETRACE_DATA_DIR: values.data, RETRACE_JOBS_DIR: jobsDir() });
await timeJob(local.base); // warm-up: model load, wasm compile
const base = await timeJob(local.base);
await stopAll([local]);
console.log(`| 1 instance, in-process | ${base.toFixed(1)} | ${(images / base).toFixed(2)} | 1.00x |`);
for (const n of values.instances.split(",").map(Number)) {
  const redis = await startRedis();
  const servers = await Promise.all(
    Array.from({ length: n }, (_, i) =>
      spawnServer({
        RETRACE_DATA_DIR: values.data,
        RETRACE_JOBS_DIR: jobsDir(),
        RETRACE_REDIS_URL: redis.url,
        RETRACE_HOST_ID: `bench-${i}`,
        RETRACE_SHARD_IMAGES: values.shard,
      })),
  );
  try {
    await timeJob(servers[0].base); // warm-up on every host
    const s = await timeJob(servers[0].base);
    console.log(
      `| ${n} instance(s), Redis | ${s.toFixed(1)} | ${(images / s).toFixed(2)} | ${
        (base / s).toFixed(2)
      }x |`,
    );
  } finally {
    await stopAll(servers);
    await redis.close();
  }
}
