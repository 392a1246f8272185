/**
 * ROAD's cost on this machine: the linear imputation (lib/eval/road_imputation.ts, multigrid-preconditioned
 * conjugate gradients) beside the authors' algorithm in scipy (bench/scipy_road_imputation.py: the same sparse
 * system, spsolve) on the same synthetic 224 x 224 image and saliency, MoRF and LeRF at 10, 50 and 90 %, median
 * of RUNS; then one image's whole ROAD (9 fractions x 2 orders, imputation and the batched forwards) on the
 * shipped ResNet50 (wasm), the metric as the faithfulness evaluation runs it.
 *
 *   deno run -A bench/road_bench.ts [--size 224] [--runs 5]
 */
import { parseArgs } from "node:util";
import { imputeLinear } from "../lib/eval/road_imputation.ts";
import { removedPixels, roadScores } from "../lib/eval/road.ts";
import { pixelOrder } from "../lib/eval/causal_metric.ts";
import { pythonRows } from "./python_rows.ts";
import { medianOf } from "./median.ts";
import { initBackend } from "../lib/runtime/backend.ts";
import { tf } from "../lib/runtime/tf.ts";
import { loadModel } from "../lib/models/load.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: { size: { type: "string" }, runs: { type: "string" } },
});
const size = Number(values.size ?? 224);
const runs = Number(values.runs ?? 5);

const image = Float32Array.from(
  { length: size * size * 3 },
  (_, i) => Math.sin(i * 0.37) + Math.cos(i * 0.011),
);
const saliency = Float32Array.from({ length: size * size }, (_, p) => {
  const [y, x] = [Math.floor(p / size), p % size];
  return Math.exp(-((y - size * 0.45) ** 2 + (x - size * 0.55) ** 2) / (size * size * 0.06)) +
    0.05 * Math.sin(p * 1.3);
});
const order = pixelOrder(saliency);

const scipy = await pythonRows(new URL("./scipy_road_imputation.py", import.meta.url), [
  String(size),
  String(runs),
]);
console.log(
  `ROAD linear imputation, ${size}x${size}x3, median of ${runs} (one warm-up); same machine, same run`,
);
console.log("order fraction  retrace (ms)  scipy spsolve (ms)");
for (const mode of ["morf", "lerf"] as const) {
  for (const f of [0.1, 0.5, 0.9]) {
    const removed = removedPixels(order, f, mode);
    imputeLinear(image, size, size, 3, removed);
    const times: number[] = [];
    for (let r = 0; r < runs; r++) {
      const t = performance.now();
      imputeLinear(image, size, size, 3, removed);
      times.push(performance.now() - t);
    }
    const ref = scipy.find((row) => row.order === mode && row.fraction === f)!.ms as number;
    console.log(
      `${mode}  ${f.toFixed(1)}       ${medianOf(times).toFixed(1).padStart(8)}      ${
        ref.toFixed(1).padStart(8)
      }`,
    );
  }
}

const { backend } = await initBackend();
const model = await loadModel(new URL("../models/resnet50_synthetic", import.meta.url).pathname);
const input = tf.tensor(image.map((v) => v * 0.5), [1, size, size, 3]);
const times: number[] = [];
for (let r = 0; r < Math.max(2, Math.min(runs, 3)) + 1; r++) {
  const t = performance.now();
  await roadScores(model.net, model.weights, input, 0, saliency, { probability: "sigmoid" });
  if (r > 0) times.push(performance.now() - t);
}
console.log(
  `whole ROAD of one image (9 fractions x MoRF/LeRF: 18 imputations + 19 images in batches of 9), ` +
    `resnet50_synthetic ${size}x${size}, ${backend}: median ${
      medianOf(times).toFixed(0)
    } ms of ${times.length}`,
);
input.dispose();
