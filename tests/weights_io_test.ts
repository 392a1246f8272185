/**
 * Weights files: safetensors round trips in F32 / F16 / BF16 with torchvision names and PyTorch layouts,
 * strict loading that lists every missing, unexpected and mis-shaped key together, optional BN counters,
 * and clear errors (never a crash) for corrupt or truncated files.
 */
import assert from "node:assert/strict";
import { initBackend } from "../lib/runtime/backend.ts";
import { tf } from "../lib/runtime/tf.ts";
import { buildNetwork } from "../lib/nets/network.ts";
import { WeightsMismatchError } from "../lib/nets/errors.ts";
import { decodeBf16, decodeF16, encodeBf16, encodeF16 } from "../lib/nets/float16.ts";
import { readSafetensors, SafetensorsError, writeSafetensors } from "../lib/nets/safetensors.ts";
import { randomWeights, weightsToTorch } from "../lib/nets/weights.ts";
import { loadWeightsFile, weightsFromSafetensors, weightsToSafetensors } from "../lib/nets/weights_io.ts";
import { thrown } from "./helpers/errors.ts";

await initBackend("wasm");
const net = buildNetwork({ arch: "resnet18", width: 1 / 16, numClasses: 3 });

Deno.test("F32 round trip is exact, in PyTorch layout with torchvision names", async () => {
  const w = randomWeights(net, 3);
  const bytes = await weightsToSafetensors(w, "F32", { note: "test" });
  const file = readSafetensors(bytes);
  assert.equal(file.metadata.note, "test");
  const conv = file.tensors.get("layer1.0.conv1.weight")!;
  assert.deepEqual(conv.shape, [4, 4, 3, 3]); // OIHW
  // element [o=1, i=2, y=0, x=2] of the file is element [y=0, x=2, i=2, o=1] of the HWIO tensor
  const hwio = w.get("layer1.0.conv1.weight").arraySync() as number[][][][];
  assert.equal((conv.data as Float32Array)[((1 * 4 + 2) * 3 + 0) * 3 + 2], hwio[0][2][2][1]);
  assert.deepEqual(file.tensors.get("fc.weight")!.shape, [3, 32]); // [out, in]
  const back = weightsFromSafetensors(net, bytes);
  const [a, b] = [await weightsToTorch(w), await weightsToTorch(back)];
  assert.deepEqual(b, a);
  w.dispose();
  back.dispose();
});

Deno.test("F16 and BF16 files load as their rounded values", async () => {
  const w = randomWeights(net, 4);
  const exact = await weightsToTorch(w);
  for (
    const [dtype, round] of [["F16", (x: Float32Array) => decodeF16(encodeF16(x))], [
      "BF16",
      (x: Float32Array) => decodeBf16(encodeBf16(x)),
    ]] as const
  ) {
    const back = weightsFromSafetensors(net, await weightsToSafetensors(w, dtype));
    const loaded = await weightsToTorch(back);
    for (const [name, t] of exact) {
      assert.deepEqual(loaded.get(name)!.data, round(t.data), `${dtype} ${name}`);
    }
    back.dispose();
  }
  w.dispose();
});

Deno.test("strict loading lists missing, unexpected and mis-shaped keys together", async () => {
  const w = randomWeights(net, 5);
  const tensors = new Map(await weightsToTorch(w));
  w.dispose();
  tensors.delete("layer2.0.bn1.running_var");
  tensors.delete("fc.bias");
  tensors.set("fc.extra", { shape: [1], data: new Float32Array(1) });
  tensors.set("conv1.weight", { shape: [4, 3, 5, 5], data: new Float32Array(4 * 3 * 25) });
  const e = thrown(
    () => weightsFromSafetensors(net, writeSafetensors(tensors), "bad.safetensors"),
    WeightsMismatchError,
  );
  assert.deepEqual(e.missing.sort(), ["fc.bias", "layer2.0.bn1.running_var"]);
  assert.deepEqual(e.unexpected, ["fc.extra"]);
  assert.deepEqual(e.mismatched, [{ key: "conv1.weight", expected: [4, 3, 7, 7], got: [4, 3, 5, 5] }]);
  for (
    const part of ["bad.safetensors", "fc.bias", "fc.extra", "conv1.weight expected [4,3,7,7] got [4,3,5,5]"]
  ) {
    assert.ok(e.message.includes(part), part);
  }
});

Deno.test("BN num_batches_tracked counters are accepted when present and optional when absent", async () => {
  const dir = new URL("./fixtures/pytorch/", import.meta.url).pathname;
  const file = readSafetensors(await Deno.readFile(`${dir}resnet50_w8.weights.safetensors`));
  assert.equal(file.tensors.get("bn1.num_batches_tracked")?.dtype, "I64");
  const rn = buildNetwork({ arch: "resnet50", width: 1 / 8, numClasses: 10 });
  (await loadWeightsFile(rn, `${dir}resnet50_w8.weights.safetensors`)).dispose();
  const w = randomWeights(net, 6);
  const without = await weightsToSafetensors(w); // written without counters
  w.dispose();
  weightsFromSafetensors(net, without).dispose();
});

Deno.test("corrupt and truncated files give a SafetensorsError naming the file, never a crash", async () => {
  const w = randomWeights(net, 7);
  const bytes = await weightsToSafetensors(w);
  w.dispose();
  const truncated = thrown(
    () => weightsFromSafetensors(net, bytes.slice(0, bytes.length - 100), "cut.safetensors"),
    SafetensorsError,
  );
  assert.match(truncated.message, /cut\.safetensors/);
  assert.match(truncated.message, /file truncated, 100 bytes missing/);
  const garbage = new TextEncoder().encode("this is not a safetensors file at all");
  thrown(() => weightsFromSafetensors(net, garbage, "junk.bin"), SafetensorsError);
  thrown(() => weightsFromSafetensors(net, new Uint8Array(3), "tiny.bin"), SafetensorsError);
  await assert.rejects(() => loadWeightsFile(net, "/nonexistent/weights.safetensors"), Deno.errors.NotFound);
});

Deno.test("loading and disposing weights frees every tensor", async () => {
  const w = randomWeights(net, 8);
  const bytes = await weightsToSafetensors(w);
  w.dispose();
  const baseline = tf.memory().numTensors;
  for (let i = 0; i < 3; i++) weightsFromSafetensors(net, bytes).dispose();
  for (let i = 0; i < 3; i++) randomWeights(net, i, { maxBindingBytes: 1000 }).dispose();
  assert.equal(tf.memory().numTensors, baseline);
});
