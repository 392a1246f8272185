/**
 * Subprocess for tests/shipped_models_test.ts: runs one shipped model on its committed test slice (images
 * regenerated in memory, decoded, preprocessed, forward on wasm) and prints one JSON line
 * {worst, sliceMap, reported}. It ends with Deno.exit: in a test worker, tearing down an isolate that used both
 * @napi-rs/canvas and tfjs-wasm this heavily crashed Deno 2.9.6 (V8 "node->IsInUse()") after the test passed.
 *   deno run -A tests/helpers/shipped_slice.ts models/resnet50_synthetic
 */
import { initBackend } from "../../lib/runtime/backend.ts";
import { tf } from "../../lib/runtime/tf.ts";
import { decodeImage } from "../../lib/image/decode.ts";
import { toInputTensor } from "../../lib/image/preprocess.ts";
import { loadModel } from "../../lib/models/load.ts";
import { getFloatTensor, readSafetensors } from "../../lib/nets/safetensors.ts";
import { runProbed } from "../../lib/nets/probes.ts";
import { meanAveragePrecision } from "../../lib/eval/average_precision.ts";
import { generateImage } from "../../lib/synthetic/image.ts";
import { splitOfId } from "../../lib/synthetic/ids.ts";

const dir = Deno.args[0];
await initBackend("wasm");
const { manifest, net, weights } = await loadModel(dir);
const slice = readSafetensors(await Deno.readFile(`${dir}/test_slice.safetensors`), dir);
const expected = getFloatTensor(slice, "logits");
const ids: number[] = JSON.parse(slice.metadata.ids).map(Number);
const k = manifest.numClasses;
const seed = Number((manifest.training as { world_seed?: number }).world_seed ?? 0);
const ours = new Float32Array(ids.length * k);
const labels = new Float32Array(ids.length * k);
const batch = 20;
for (let start = 0; start < ids.length; start += batch) {
  const inputs = ids.slice(start, start + batch).map((id, j) => {
    const { split, index } = splitOfId(id);
    const image = generateImage(seed, split, index);
    for (const o of image.scene.objects) labels[(start + j) * k + o.classIndex] = 1;
    return toInputTensor(decodeImage(image.jpeg!, `${id}`), manifest.inputSize, manifest.preprocess);
  });
  const x = tf.concat(inputs, 0);
  const r = runProbed(net, weights, x);
  ours.set(r.output.dataSync() as Float32Array, start * k);
  r.dispose();
  tf.dispose([x, ...inputs]);
}
let worst = 0;
expected.data.forEach((v, i) => (worst = Math.max(worst, Math.abs(ours[i] - v) / Math.max(1, Math.abs(v)))));
const reported = Number((manifest.metrics as { test_slice_map: number }).test_slice_map);
console.log(
  JSON.stringify({ worst, sliceMap: meanAveragePrecision(ours, labels, k), reported, images: ids.length }),
);
Deno.exit(0);
