/**
 * Side-by-side timings (issue 8): runs ../shared/bench/pytorch_baseline.py (PyTorch, CPU, --threads) and the same
 * workloads through retrace's library on this process's backend (RETRACE_BACKEND, default wasm; RETRACE_WASM_THREADS threads, default 1, as
 * one worker runs), on the same machine, and prints the ratio table retrace / PyTorch per (model, workload).
 * Random weights, 224x224, batch 1, one-hot seed; medians after one warm-up run.
 *
 *   deno run -A bench/compare.ts [--models vgg16,resnet50] [--runs 5] [--threads 2] [--skip-http]
 *                                [--image data/synthetic/VOCdevkit/VOC2007/JPEGImages/300000.jpg]
 *
 * Workloads (as pytorch_baseline.py): forward; gradient (input, max-abs); linear-approx, normgrad, sel-normgrad,
 * grad-cam at the last paper layer; multi-layer (normgrad at every paper layer, one backward); weight-grads
 * (dS/dW for every trainable weight: meta-saliency's inner step); then the CAM variants beyond the paper at the
 * last paper layer, against bench/pytorch_methods.py. The HTTP column times the map workloads as
 * POST /v1/saliency round trips on a one-worker server (bench/http_timings.ts).
 */
import { parseArgs } from "node:util";
import { initBackend, parseBackendPreference } from "../lib/runtime/backend.ts";
import { tf } from "../lib/runtime/tf.ts";
import { buildNetwork } from "../lib/nets/network.ts";
import { randomWeights } from "../lib/nets/weights.ts";
import { runProbed } from "../lib/nets/probes.ts";
import { PAPER_LAYERS } from "../lib/nets/paper_layers.ts";
import { type HttpTiming, httpTimings, type HttpWorkload } from "./http_timings.ts";
import { medianTime } from "./median.ts";
import { saliencyWorkloads } from "./saliency_workloads.ts";
import { pythonRows } from "./python_rows.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    models: { type: "string", default: "vgg16,resnet50" },
    runs: { type: "string", default: "5" },
    threads: { type: "string", default: "2" },
    "skip-http": { type: "boolean", default: false },
    image: { type: "string", default: "data/synthetic/VOCdevkit/VOC2007/JPEGImages/300000.jpg" },
  },
});
const runs = Number(values.runs);
const models = values.models.split(",");

// --- PyTorch side: the paper's workloads, then the methods beyond it timed the same way (bench/pytorch_methods.py)
const pyArgs = ["--models", values.models, "--runs", values.runs, "--threads", values.threads];
const torchMs = new Map<string, number>();
let torchRuntime = "";
for (
  const row of [
    ...await pythonRows(new URL("../../shared/bench/pytorch_baseline.py", import.meta.url), pyArgs),
    ...await pythonRows(new URL("./pytorch_methods.py", import.meta.url), pyArgs),
  ]
) {
  torchMs.set(`${row.model}/${row.workload}`, row.median_ms as number);
  torchRuntime = row.runtime as string;
}

// --- retrace side
const info = await initBackend(parseBackendPreference(Deno.env.get("RETRACE_BACKEND") ?? "wasm"));

const rows: {
  model: string;
  workload: string;
  retrace: number;
  torch?: number;
  http?: number;
  phases?: HttpTiming;
}[] = [];
for (const arch of models) {
  const net = buildNetwork({ arch });
  const weights = randomWeights(net, 0, { maxBindingBytes: info.maxBindingBytes });
  const input = tf.randomNormal([1, 224, 224, 3], 0, 1, "float32", 1);
  const layers = [...PAPER_LAYERS[arch]].filter((l) => l !== "");
  const last = layers.at(-1)!;
  const seed = { kind: "one-hot" as const, targets: [7] };
  const { map, weightGrads } = saliencyWorkloads(net, weights, input, seed);
  const workloads: [string, () => Promise<void>][] = [
    ["forward", async () => {
      const r = runProbed(net, weights, input);
      await r.output.data();
      r.dispose();
    }],
    ["gradient", map("gradient", [""])],
    ["linear-approx", map("linear-approx", [last])],
    ["normgrad", map("normgrad", [last])],
    ["sel-normgrad", map("selective-normgrad", [last])],
    ["grad-cam", map("grad-cam", [last])],
    ["multi-layer", map("normgrad", layers)],
    ...(["grad-cam-plus-plus", "xgrad-cam", "hires-cam", "layer-cam", "eigen-cam"] as const).map((
      m,
    ): [string, () => Promise<void>] => [m, map(m, [last])]),
    ["weight-grads", weightGrads()],
  ];
  for (const [workload, fn] of workloads) {
    rows.push({
      model: arch,
      workload,
      retrace: await medianTime(fn, runs),
      torch: torchMs.get(`${arch}/${workload}`),
    });
    console.error(`${arch} ${workload}: ${rows.at(-1)!.retrace.toFixed(1)} ms`);
  }
  if (!values["skip-http"]) {
    const http: HttpWorkload[] = [
      { name: "gradient", method: "gradient", layers: "input" },
      ...(["linear-approx", "normgrad", "grad-cam"] as const).map((m) => ({
        name: m,
        method: m,
        layers: last,
      })),
      { name: "sel-normgrad", method: "selective-normgrad", layers: last },
      { name: "multi-layer", method: "normgrad", layers: layers.join(",") },
    ];
    const probe = [...PAPER_LAYERS[arch]];
    const times = await httpTimings(net, weights, probe, http, await Deno.readFile(values.image), runs);
    for (const r of rows) {
      if (r.model === arch && times.has(r.workload)) {
        r.phases = times.get(r.workload);
        r.http = r.phases!.total;
      }
    }
  }
  input.dispose();
  weights.dispose();
}

console.log(
  `retrace ${info.backend} (${info.wasmThreads} thread(s) per worker) vs ${torchRuntime} (${values.threads} threads), ` +
    `${navigator.hardwareConcurrency} cores, 224x224, batch 1, random weights, medians of ${runs}`,
);
console.log(
  "| model | workload | PyTorch ms | retrace ms | retrace / PyTorch | HTTP ms | HTTP / PyTorch |",
);
console.log("|---|---|---|---|---|---|---|");
const fixed = (v?: number) => v?.toFixed(1) ?? "-";
const ratio = (a?: number, b?: number) => (a && b ? (a / b).toFixed(2) : "-");
for (const r of rows) {
  console.log(
    `| ${r.model} | ${r.workload} | ${fixed(r.torch)} | ${r.retrace.toFixed(1)} | ${
      ratio(r.retrace, r.torch)
    } | ` +
      `${fixed(r.http)} | ${ratio(r.http, r.torch)} |`,
  );
}
if (rows.some((r) => r.phases)) {
  console.log(
    "\nWhere the HTTP time goes (medians, ms; the worker's own timings; rest = transport, parsing, pool, JSON)",
  );
  console.log("| model | workload | HTTP | decode + resize | prediction forward | saliency pass | rest |");
  console.log("|---|---|---|---|---|---|---|");
  for (const r of rows.filter((r) => r.phases)) {
    const p = r.phases!;
    const rest = p.total - p.decodeMs - p.forwardMs - p.saliencyMs;
    console.log(
      `| ${r.model} | ${r.workload} | ${p.total.toFixed(1)} | ${p.decodeMs.toFixed(1)} | ${
        p.forwardMs.toFixed(1)
      } | ` +
        `${p.saliencyMs.toFixed(1)} | ${rest.toFixed(1)} |`,
    );
  }
}
Deno.exit(0);
