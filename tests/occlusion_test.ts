/**
 * Occlusion (lib/saliency/occlusion.ts) against Captum's computation re-run in PyTorch on two fixture networks
 * (tools/methods_reference.py: 5x5 patches, stride 3, pixels no patch covers at 0), the patch placement by hand,
 * the independence from the patches per pass, and the refusals (a layer other than the input, a window that does
 * not fit, seeds without targets).
 */
import assert from "node:assert/strict";
import { initBackend } from "../lib/runtime/backend.ts";
import { tf } from "../lib/runtime/tf.ts";
import { getFloatTensor, readSafetensors } from "../lib/nets/safetensors.ts";
import { occlusion, patchStarts } from "../lib/saliency/occlusion.ts";
import { computeSaliency } from "../lib/saliency/saliency.ts";
import { SaliencyInputError } from "../lib/saliency/errors.ts";
import { relErr } from "./helpers/compare.ts";
import { loadPytorchFixture, PYTORCH_FIXTURES } from "./helpers/pytorch_fixture.ts";

await initBackend("wasm");

Deno.test("patches start every stride while the window fits", () => {
  assert.deepEqual(patchStarts(10, 5, 3), [0, 3]); // 0..4, 3..7: pixels 8 and 9 uncovered
  assert.deepEqual(patchStarts(11, 5, 3), [0, 3, 6]);
  assert.deepEqual(patchStarts(5, 5, 8), [0]);
});

for (const name of ["vgg16_w32", "resnet50_w8"]) {
  Deno.test(`occlusion matches Captum's computation in PyTorch: ${name}`, async () => {
    const ref = readSafetensors(await Deno.readFile(`${PYTORCH_FIXTURES}methods_${name}.safetensors`), name);
    const { cfg, net, weights, input } = await loadPytorchFixture(name);
    const want = getFloatTensor(ref, "occlusion.map").data;
    const before = tf.memory().numTensors;
    for (const batch of [64, 7]) {
      const map = occlusion(net, weights, input, { kind: "one-hot", targets: cfg.targets }, {
        window: 5,
        stride: 3,
        batch,
      });
      const err = relErr(map.dataSync() as Float32Array, want);
      assert.ok(err < 1e-4, `batch ${batch}: relative error ${err}`);
      map.dispose();
    }
    assert.equal(tf.memory().numTensors, before);
    const seed = { kind: "one-hot" as const, targets: cfg.targets };
    assert.throws(
      () =>
        computeSaliency(net, weights, input, {
          method: "occlusion",
          layers: [net.layerNames.find((l) => l !== "")!],
          seed,
        }),
      SaliencyInputError,
    );
    assert.throws(() => occlusion(net, weights, input, seed, { window: 10_000 }), SaliencyInputError);
    const gradient = tf.zeros([input.shape[0]!, 5]);
    assert.throws(() => occlusion(net, weights, input, { kind: "gradient", gradient }), SaliencyInputError);
    tf.dispose([input, gradient]);
    weights.dispose();
  });
}
