/**
 * Load script (issue 7): starts the service on loopback with 1 and with N workers, sends a bounded number of
 * POST /v1/saliency requests at a fixed concurrency, and prints throughput and p50 / p95 latency per setting.
 * Bounded in count (--requests) and time (--seconds per setting); loopback only.
 *
 *   deno run -A bench/load.ts [--workers 1,2] [--requests 24] [--concurrency 4] [--seconds 120]
 *                             [--method grad-cam] [--layers layer4] [--model resnet50_synthetic]
 */
import { parseArgs } from "node:util";
import { spawnServer } from "../tools/spawn_server.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    workers: { type: "string", default: `1,${navigator.hardwareConcurrency}` },
    requests: { type: "string", default: "24" },
    concurrency: { type: "string", default: "4" },
    seconds: { type: "string", default: "120" },
    method: { type: "string", default: "grad-cam" },
    layers: { type: "string", default: "layer4" },
    model: { type: "string", default: "resnet50_synthetic" },
    image: { type: "string", default: "data/synthetic/VOCdevkit/VOC2007/JPEGImages/300000.jpg" },
  },
});

const quantile = (sorted: number[], q: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
const image = await Deno.readFile(values.image);
const body = (): FormData => {
  const f = new FormData();
  f.append("image", new Blob([image], { type: "image/jpeg" }), "image.jpg");
  f.append("model", values.model);
  f.append("method", values.method);
  f.append("layers", values.layers);
  return f;
};
const total = Number(values.requests);
const concurrency = Number(values.concurrency);
console.log(
  `model ${values.model}, ${values.method} at ${values.layers}, ${total} requests, concurrency ${concurrency}, ` +
    `${navigator.hardwareConcurrency} cores`,
);
console.log("| workers | requests ok | throughput (req/s) | p50 ms | p95 ms | backend |");
console.log("|---|---|---|---|---|---|");
for (const workers of values.workers.split(",").map(Number)) {
  const { base, child } = await spawnServer({
    HOST: "127.0.0.1",
    RETRACE_BACKEND: Deno.env.get("RETRACE_BACKEND") ?? "auto",
    RETRACE_WORKERS: String(workers),
    RETRACE_QUEUE: "1000",
  });
  try {
    const backend = (await (await fetch(`${base}/healthz`)).json()).backend;
    // warm every worker (model load, first-run kernel compilation)
    await Promise.all(
      Array.from(
        { length: workers },
        () => fetch(`${base}/v1/saliency`, { method: "POST", body: body() }).then((r) => r.arrayBuffer()),
      ),
    );
    const deadline = performance.now() + Number(values.seconds) * 1000;
    const latencies: number[] = [];
    let next = 0;
    const t0 = performance.now();
    await Promise.all(Array.from({ length: concurrency }, async () => {
      while (next < total && performance.now() < deadline) {
        next++;
        const s = performance.now();
        const res = await fetch(`${base}/v1/saliency`, { method: "POST", body: body() });
        await res.arrayBuffer();
        if (res.ok) latencies.push(performance.now() - s);
      }
    }));
    const seconds = (performance.now() - t0) / 1000;
    latencies.sort((a, b) => a - b);
    console.log(
      `| ${workers} | ${latencies.length} | ${(latencies.length / seconds).toFixed(2)} | ${
        quantile(latencies, 0.5).toFixed(0)
      } | ${quantile(latencies, 0.95).toFixed(0)} | ${backend} |`,
    );
  } finally {
    child.kill("SIGTERM");
    await child.status;
  }
}
