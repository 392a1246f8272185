/**
 * A map as the service serves it, against PyTorch computing it from the same bytes (tools/served_map_reference.py):
 * the shipped ResNet50 explains a 224 x 224 PNG by Grad-CAM at layer4 for PyTorch's top class; the served 7 x 7
 * map matches PyTorch's to 1e-4 of its largest value, and the served scores are PyTorch's logits through the
 * model's sigmoid (multi-label head) to 1e-5.
 */
import assert from "node:assert/strict";
import { spawnTestServer } from "../tools/spawn_server.ts";
import { getFloatTensor, readSafetensors } from "../lib/nets/safetensors.ts";
import { PYTORCH_FIXTURES } from "./helpers/pytorch_fixture.ts";

Deno.test("a served Grad-CAM map is PyTorch's, from the same PNG bytes", async () => {
  const ref = readSafetensors(await Deno.readFile(`${PYTORCH_FIXTURES}served_gradcam.safetensors`), "served");
  const target = Number(ref.metadata.target);
  const want = getFloatTensor(ref, "map");
  const logits = getFloatTensor(ref, "logits").data;
  const png = await Deno.readFile(`${PYTORCH_FIXTURES}served_gradcam.png`);
  const { base, child } = await spawnTestServer({});
  try {
    const res = await fetch(`${base}/v1/saliency`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        image: btoa(String.fromCharCode(...png)),
        model: "resnet50_synthetic",
        method: "grad-cam",
        layers: ["layer4"],
        seed: "one-hot",
        targets: { classes: [target] },
      }),
    });
    const body = await res.json();
    assert.equal(res.status, 200, JSON.stringify(body).slice(0, 300));
    assert.deepEqual(body.image, { width: 224, height: 224 });
    const [map] = body.maps;
    assert.deepEqual([map.layer, map.target, map.shape], ["layer4", target, [7, 7]]);
    const bytes = Uint8Array.from(atob(map.data), (c) => c.charCodeAt(0));
    const got = new Float32Array(bytes.buffer);
    const peak = Math.max(...want.data);
    assert.ok(peak > 0.1, `a map with something in it (max ${peak})`);
    const worst = Math.max(...got.map((v, i) => Math.abs(v - want.data[i])));
    assert.ok(worst <= 1e-4 * peak, `max |served − PyTorch| ${worst} (PyTorch's max ${peak})`);
    // the scores: sigmoid of PyTorch's logits, the top one PyTorch's target
    assert.equal(body.predictions[0].index, target);
    for (const p of body.predictions) {
      const sigmoid = 1 / (1 + Math.exp(-logits[p.index]));
      assert.ok(Math.abs(p.score - sigmoid) < 1e-5, `class ${p.index}: ${p.score} vs ${sigmoid}`);
    }
  } finally {
    child.kill("SIGTERM");
    await child.status;
  }
});
