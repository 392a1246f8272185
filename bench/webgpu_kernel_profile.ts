/**
 * Where a map's GPU time goes, and what tfjs's webgpu flags change. For each model (random weights, batch 1,
 * one-hot seed) and workload (Grad-CAM at the last paper layer, NormGrad at every paper layer in one backward,
 * all weight gradients), tf.profile's per-kernel times are summed by kernel name and the top ones printed; then
 * the map and multi-layer workloads are timed (median wall ms, one read each) under each flag set below against
 * the defaults. Kernel times need the adapter's timestamp-query feature (NVIDIA under Vulkan has it; llvmpipe
 * does not, and then only counts are meaningful): the first line says which. Prints JSON lines.
 *
 *   deno run -A bench/webgpu_kernel_profile.ts   (RETRACE_BACKEND, default webgpu; PROFILE_RUNS, default 5;
 *                                                 PROFILE_SIZE, default 224; PROFILE_MODELS, default
 *                                                 resnet50,vgg16; PROFILE_TOP, default 12)
 *
 * bench/gpu/prepare.sh bundles it for a GPU host and bench/gpu/run.sh runs it.
 */
import { initBackend, parseBackendPreference } from "../lib/runtime/backend.ts";
import { tf } from "../lib/runtime/tf.ts";
import { buildNetwork } from "../lib/nets/network.ts";
import { randomWeights } from "../lib/nets/weights.ts";
import { PAPER_LAYERS } from "../lib/nets/paper_layers.ts";
import { medianTime } from "./median.ts";
import { saliencyWorkloads } from "./saliency_workloads.ts";

/** The flag sets tried, each against tfjs's defaults (issue 19: the candidates named in tfjs's webgpu flags). */
const FLAG_SETS: Record<string, Record<string, number | boolean>> = {
  "defaults": {},
  "conv2d-transpose not naive": { WEBGPU_USE_NAIVE_CONV2D_TRANSPOSE: false },
  "separate im2col shader": { WEBGPU_CONV_SEPARATE_IM2COL_SHADER: true },
  "matmul more workgroups (threshold 0)": { WEBGPU_THRESHOLD_TO_INCREASE_WORKGROUPS_FOR_MATMUL: 0 },
  "submit batch 5": { WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE: 5 },
  "submit batch 60": { WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE: 60 },
  "matmul program: split-K": { WEBGPU_MATMUL_PROGRAM_TYPE: 1 },
  "matmul program: packed": { WEBGPU_MATMUL_PROGRAM_TYPE: 3 },
};

const info = await initBackend(parseBackendPreference(Deno.env.get("RETRACE_BACKEND") ?? "webgpu"));
const runs = Number(Deno.env.get("PROFILE_RUNS") ?? 5);
const size = Number(Deno.env.get("PROFILE_SIZE") ?? 224);
const top = Number(Deno.env.get("PROFILE_TOP") ?? 12);
const models = (Deno.env.get("PROFILE_MODELS") ?? "resnet50,vgg16").split(",");
const backend = tf.backend() as unknown as { supportTimestampQuery?: boolean };
console.log(JSON.stringify({
  backend: info.backend,
  adapter: info.adapter?.description ?? null,
  timestampQuery: backend.supportTimestampQuery ?? false,
}));
tf.env().set("CHECK_COMPUTATION_FOR_ERRORS", false);

for (const arch of models) {
  const net = buildNetwork({ arch });
  const weights = randomWeights(net, 0, { maxBindingBytes: info.maxBindingBytes });
  const input = tf.randomNormal([1, size, size, 3], 0, 1, "float32", 1);
  const layers = [...PAPER_LAYERS[arch]].filter((l) => l !== "");
  const seed = { kind: "one-hot" as const, targets: [7] };
  const { map, weightGrads } = saliencyWorkloads(net, weights, input, seed);
  const workloads: [string, () => Promise<void>][] = [
    ["grad-cam", map("grad-cam", [layers.at(-1)!])],
    ["multi-layer", map("normgrad", layers)],
    ["weight-grads", weightGrads()],
  ];
  for (const [workload, fn] of workloads) {
    await fn(); // compile the pipelines outside the profile
    const profile = await tf.profile(fn);
    const byKernel = new Map<string, { calls: number; ms: number }>();
    for (const k of profile.kernels) {
      const entry = byKernel.get(k.name) ?? { calls: 0, ms: 0 };
      entry.calls++;
      entry.ms += typeof k.kernelTimeMs === "number" ? k.kernelTimeMs : 0;
      byKernel.set(k.name, entry);
    }
    const total = [...byKernel.values()].reduce((s, e) => s + e.ms, 0);
    const ranked = [...byKernel.entries()].sort((a, b) => b[1].ms - a[1].ms || b[1].calls - a[1].calls);
    console.log(
      JSON.stringify({ arch, workload, kernels: profile.kernels.length, kernel_ms_total: +total.toFixed(2) }),
    );
    for (const [kernel, e] of ranked.slice(0, top)) {
      console.log(JSON.stringify({
        arch,
        workload,
        kernel,
        calls: e.calls,
        ms: +e.ms.toFixed(2),
        share: total > 0 ? +(e.ms / total).toFixed(3) : null,
      }));
    }
  }
  for (const [name, flags] of Object.entries(FLAG_SETS)) {
    const saved = Object.fromEntries(Object.keys(flags).map((f) => [f, tf.env().get(f)]));
    for (const [flag, value] of Object.entries(flags)) tf.env().set(flag, value);
    try {
      for (const [workload, fn] of workloads.slice(0, 2)) {
        const ms = await medianTime(fn, runs);
        console.log(JSON.stringify({ arch, workload, flags: name, median_ms: +ms.toFixed(1) }));
      }
    } finally {
      for (const [flag, value] of Object.entries(saved)) tf.env().set(flag, value);
    }
  }
  input.dispose();
  weights.dispose();
}
