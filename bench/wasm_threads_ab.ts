/**
 * A/B of RETRACE_WASM_THREADS on this machine: ResNet50 (full width, random weights, 224, batch 1) forward and a
 * Grad-CAM map at layer4, medians of --runs, in alternating subprocesses (1, 2, 1, 2 threads …) so both settings
 * see the same machine conditions; this VM's timings drift by tens of percent over minutes.
 *
 *   deno run -A bench/wasm_threads_ab.ts [--rounds 2] [--runs 7] [--model resnet50]
 */
import { parseArgs } from "node:util";
import { medianTime } from "./median.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    rounds: { type: "string", default: "2" },
    runs: { type: "string", default: "7" },
    model: { type: "string", default: "resnet50" },
    child: { type: "boolean", default: false },
  },
});

if (values.child) {
  const { initBackend } = await import("../lib/runtime/backend.ts");
  const { tf } = await import("../lib/runtime/tf.ts");
  const { buildNetwork } = await import("../lib/nets/network.ts");
  const { randomWeights } = await import("../lib/nets/weights.ts");
  const { runProbed } = await import("../lib/nets/probes.ts");
  const { computeSaliency } = await import("../lib/saliency/saliency.ts");
  const info = await initBackend("wasm");
  const net = buildNetwork({ arch: values.model });
  const weights = randomWeights(net, 0);
  const input = tf.randomNormal([1, 224, 224, 3], 0, 1, "float32", 1);
  const last = values.model === "vgg16" ? "features.29" : "layer4";
  const median = (fn: () => Promise<void>) => medianTime(fn, Number(values.runs));
  const forward = await median(async () => {
    const r = runProbed(net, weights, input);
    await r.output.data();
    r.dispose();
  });
  const map = await median(async () => {
    const r = computeSaliency(net, weights, input, {
      method: "grad-cam",
      layers: [last],
      seed: { kind: "one-hot", targets: [7] },
    });
    await r.maps.get(last)!.data();
    r.dispose();
  });
  console.log(JSON.stringify({ threads: info.wasmThreads, forward, map }));
  Deno.exit(0);
}

console.log(
  `${values.model}, 224x224, batch 1, random weights, wasm, medians of ${values.runs}, alternating processes`,
);
console.log("| round | threads | forward ms | grad-cam ms |");
console.log("|---|---|---|---|");
for (let round = 1; round <= Number(values.rounds); round++) {
  for (const threads of ["1", "2"]) {
    const out = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        new URL(import.meta.url).pathname,
        "--child",
        "--runs",
        values.runs,
        "--model",
        values.model,
      ],
      env: { RETRACE_WASM_THREADS: threads },
    }).output();
    const line = new TextDecoder().decode(out.stdout).split("\n").find((l) => l.startsWith("{"));
    if (!line) throw new Error(new TextDecoder().decode(out.stderr));
    const r = JSON.parse(line);
    console.log(`| ${round} | ${r.threads} | ${r.forward.toFixed(1)} | ${r.map.toFixed(1)} |`);
  }
}
