/**
 * readMaps (lib/service/saliency_job.ts), which reads every layer's maps of a request in one transfer: each
 * (entry, target) gets its own map, in entry order then target order, with the entry's own [h, w]; the tensors
 * are left alone and nothing leaks. Hand-made values.
 */
import assert from "node:assert/strict";
import { initBackend } from "../lib/runtime/backend.ts";
import { tf } from "../lib/runtime/tf.ts";
import { readMaps } from "../lib/service/saliency_job.ts";

await initBackend("wasm");

Deno.test("readMaps splits one read into per-layer, per-target maps", async () => {
  // Two targets; layer a is 2x3 per target, layer b 1x2 per target.
  const a = tf.tensor4d([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12], [2, 2, 3, 1]);
  const b = tf.tensor4d([-1, -2, -3, -4], [2, 1, 2, 1]);
  const before = tf.memory().numTensors;
  const maps = await readMaps([["a", a], ["b", b]], [7, 3]);
  assert.equal(tf.memory().numTensors, before);
  assert.deepEqual(
    maps.map((m) => [m.layer, m.target, m.shape, Array.from(m.data)]),
    [
      ["a", 7, [2, 3], [1, 2, 3, 4, 5, 6]],
      ["a", 3, [2, 3], [7, 8, 9, 10, 11, 12]],
      ["b", 7, [1, 2], [-1, -2]],
      ["b", 3, [1, 2], [-3, -4]],
    ],
  );
  assert.ok(!a.isDisposed && !b.isDisposed);
  const one = await readMaps([["b", b]], [7, 3]);
  assert.deepEqual(one.map((m) => Array.from(m.data)), [[-1, -2], [-3, -4]]);
  assert.ok(!b.isDisposed);
  assert.equal(tf.memory().numTensors, before);
  assert.deepEqual(await readMaps([], [7, 3]), []);
  tf.dispose([a, b]);
});
