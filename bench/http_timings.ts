/**
 * The HTTP column of bench/compare.ts: the same map workloads as a full round trip through the service — one
 * POST /v1/saliency (multipart JPEG, decoded, resized to 224, map computed in an explainer worker, JSON back) on
 * a server started with one wasm worker and a temporary models folder holding the network with the benchmark's
 * random weights (full width, 1000 classes, F16 file). Medians after one warm-up request per workload, of the
 * round trip and of the phases the worker reports in the answer's `timings` (decode + resize, prediction forward,
 * saliency pass); what is left is transport, multipart parsing, the pool and the JSON answer.
 */
import type { Network } from "../lib/nets/network.ts";
import type { NetWeights } from "../lib/nets/weights.ts";
import { weightsToSafetensors } from "../lib/nets/weights_io.ts";
import { spawnServer } from "../tools/spawn_server.ts";
import { medianOf } from "./median.ts";

export interface HttpWorkload {
  name: string;
  method: string;
  /** Comma-separated layer names; "input" = the image. */
  layers: string;
}

/** Writes `<dir>/<name>/` (manifest + weights) so the service can serve the benchmark network. */
async function writeModel(dir: string, name: string, net: Network, weights: NetWeights, probe: string[]) {
  await Deno.mkdir(`${dir}/${name}`, { recursive: true });
  await Deno.writeFile(`${dir}/${name}/weights.safetensors`, await weightsToSafetensors(weights, "F16"));
  const classes = Array.from({ length: 1000 }, (_, i) => `class${i}`);
  await Deno.writeTextFile(
    `${dir}/${name}/manifest.json`,
    JSON.stringify({
      name,
      arch: net.config.arch,
      width: 1,
      numClasses: classes.length,
      classes,
      head: "classifier",
      multiLabel: false,
      inputSize: [224, 224],
      preprocess: {
        resize: "bilinear",
        scale: 1 / 255,
        mean: [0.485, 0.456, 0.406],
        std: [0.229, 0.224, 0.225],
      },
      probeLayers: probe,
      weights: { file: "weights.safetensors", dtype: "F16" },
    }),
  );
}

/** Median milliseconds of one workload over HTTP: the round trip and the worker's own phases. */
export interface HttpTiming {
  total: number;
  decodeMs: number;
  forwardMs: number;
  saliencyMs: number;
}

/** Median round trip and phase timings per workload. */
export async function httpTimings(
  net: Network,
  weights: NetWeights,
  probe: string[],
  workloads: HttpWorkload[],
  image: Uint8Array,
  runs: number,
): Promise<Map<string, HttpTiming>> {
  const dir = await Deno.makeTempDir({ prefix: "retrace-bench-models-" });
  const name = `${net.config.arch}_random`;
  await writeModel(dir, name, net, weights, probe);
  const { base, child } = await spawnServer({
    RETRACE_MODELS_DIR: dir,
    RETRACE_WORKERS: "1",
    RETRACE_BACKEND: Deno.env.get("RETRACE_BACKEND") ?? "wasm",
    RETRACE_TIMEOUT_MS: "600000",
    RETRACE_JOBS_DIR: Deno.makeTempDirSync({ prefix: "retrace-bench-jobs-" }),
  });
  const out = new Map<string, HttpTiming>();
  try {
    const post = async (w: HttpWorkload) => {
      const form = new FormData();
      form.append("image", new Blob([image as Uint8Array<ArrayBuffer>], { type: "image/jpeg" }), "image.jpg");
      form.append("model", name);
      form.append("method", w.method);
      form.append("layers", w.layers);
      const t = performance.now();
      const res = await fetch(`${base}/v1/saliency`, { method: "POST", body: form });
      const text = await res.text();
      const total = performance.now() - t;
      if (!res.ok) throw new Error(`${w.name}: HTTP ${res.status} ${text.slice(0, 300)}`);
      return { total, ...(JSON.parse(text).timings as Omit<HttpTiming, "total">) };
    };
    for (const w of workloads) {
      await post(w); // warm-up (model load on first use, kernel set-up)
      const times: HttpTiming[] = [];
      for (let i = 0; i < runs; i++) times.push(await post(w));
      const m: HttpTiming = {
        total: medianOf(times.map((x) => x.total)),
        decodeMs: medianOf(times.map((x) => x.decodeMs)),
        forwardMs: medianOf(times.map((x) => x.forwardMs)),
        saliencyMs: medianOf(times.map((x) => x.saliencyMs)),
      };
      out.set(w.name, m);
      console.error(`${net.config.arch} ${w.name} over HTTP: ${JSON.stringify(m)}`);
    }
  } finally {
    child.kill("SIGTERM");
    await child.status;
    await Deno.remove(dir, { recursive: true });
  }
  return out;
}
