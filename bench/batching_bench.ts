/**
 * Dynamic batching (workers/batcher.ts): POST /v1/saliency throughput and latency under concurrent clients, per
 * batch window, on a real server (tools/spawn_server.ts). Grad-CAM at layer3 and layer4 of the shipped
 * ResNet50, top-1 target, distinct 160x120 PNGs.
 *   deno run -A bench/batching_bench.ts [--backend wasm] [--windows 0,5,20] [--clients 8] [--requests 32]
 *                                        [--workers 2] [--max 8]
 * Prints, per window: requests/s, p50 and p95 latency, and the passes /metrics counted (mean batch size).
 */
import { parseArgs } from "node:util";
import { spawnTestServer } from "../tools/spawn_server.ts";
import { pngBase64 } from "../tests/helpers/test_png.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    backend: { type: "string", default: "wasm" },
    windows: { type: "string", default: "0,5,20" },
    clients: { type: "string", default: "8" },
    requests: { type: "string", default: "32" },
    workers: { type: "string", default: "2" },
    max: { type: "string", default: "8" },
  },
});
const clients = Number(values.clients);
const total = Number(values.requests);
const images = await Promise.all(Array.from({ length: 8 }, (_, i) => pngBase64(160 + 8 * i, 120)));
const body = (i: number) =>
  JSON.stringify({
    image: images[i % images.length],
    model: "resnet50_synthetic",
    method: "grad-cam",
    layers: ["layer3", "layer4"],
  });
const pct = (xs: number[], p: number) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(p * xs.length))];

console.log(
  `backend ${values.backend}, ${values.workers} workers, ${clients} clients, ${total} requests, batch max ${values.max}`,
);
console.log("| window ms | requests/s | p50 ms | p95 ms | passes | mean batch |");
console.log("|---|---|---|---|---|---|");
for (const w of values.windows.split(",")) {
  const server = await spawnTestServer({
    RETRACE_BACKEND: values.backend,
    RETRACE_WORKERS: values.workers,
    RETRACE_BATCH_WINDOW_MS: w,
    RETRACE_BATCH_MAX: values.max,
  });
  try {
    const post = (i: number) =>
      fetch(`${server.base}/v1/saliency`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: body(i),
      })
        .then(async (r) => {
          await r.arrayBuffer();
          if (r.status !== 200) throw new Error(`status ${r.status}`);
        });
    for (let i = 0; i < Number(values.workers); i++) await post(i); // warm every worker's model
    const before = await (await fetch(`${server.base}/metrics`)).text();
    const latencies: number[] = [];
    let next = 0;
    const t0 = performance.now();
    await Promise.all(Array.from({ length: clients }, async () => {
      while (next < total) {
        const i = next++;
        const s = performance.now();
        await post(i);
        latencies.push(performance.now() - s);
      }
    }));
    const seconds = (performance.now() - t0) / 1000;
    const metrics = await (await fetch(`${server.base}/metrics`)).text();
    const count = (t: string, name: string) => Number(t.match(new RegExp(`${name} (\\d+)`))?.[1] ?? 0);
    const passes = count(metrics, "retrace_saliency_batch_size_count") -
      count(before, "retrace_saliency_batch_size_count");
    const reqs = count(metrics, "retrace_saliency_batch_size_sum") -
      count(before, "retrace_saliency_batch_size_sum");
    console.log(
      `| ${w} | ${(total / seconds).toFixed(2)} | ${pct(latencies, 0.5).toFixed(0)} | ${
        pct(latencies, 0.95).toFixed(0)
      } | ${passes} | ${(reqs / passes).toFixed(2)} |`,
    );
  } finally {
    server.child.kill("SIGTERM");
    await server.child.status;
  }
}
