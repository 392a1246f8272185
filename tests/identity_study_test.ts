/**
 * The virtual-identity study: where the real conv IS an identity (a 1x1 conv with identity weights and no bias),
 * NormGrad with the trick and without it are the same map, so every image's Spearman correlation is exactly 1;
 * at ordinary conv layers the correlations are finite and in [-1, 1], one per image.
 */
import assert from "node:assert/strict";
import { initBackend } from "../lib/runtime/backend.ts";
import { tf } from "../lib/runtime/tf.ts";
import { buildNetwork } from "../lib/nets/network.ts";
import { randomWeights } from "../lib/nets/weights.ts";
import { identityTrickStudy } from "../lib/saliency/identity_study.ts";

await initBackend("wasm");

Deno.test("identity study: exactly 1 at an identity 1x1 conv, valid correlations elsewhere", async () => {
  const net = buildNetwork({ arch: "vgg11", width: 1 / 16, numClasses: 4, head: "fully-conv" });
  const base = randomWeights(net, 9);
  const hidden = net.convs.get("classifier.3")!.inChannels;
  const weights = base.withOverrides(
    new Map([
      ["classifier.3.weight", tf.reshape(tf.eye(hidden), [1, 1, hidden, hidden])],
      ["classifier.3.bias", tf.zeros([hidden])],
    ]),
  );
  const images = tf.randomNormal([3, 256, 320, 3], 0, 1, "float32", 2);
  const rows = await identityTrickStudy(net, weights, images, [0, 1, 3], ["classifier.3", "features.8"]);
  assert.deepEqual(rows.map((r) => r.layer), ["classifier.3", "features.8"]);
  for (const v of rows[0].values) assert.ok(Math.abs(v - 1) < 1e-9, `identity conv: ${v}`);
  assert.equal(rows[1].values.length, 3);
  for (const v of rows[1].values) assert.ok(v >= -1 && v <= 1);
  assert.ok(Number.isFinite(rows[1].mean) && rows[1].count === 3);
  weights.dispose();
  base.dispose();
  images.dispose();
});
