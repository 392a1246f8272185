/**
 * On webgpu every read back to the host waits a round trip (>= 10 ms under Deno), so a saliency request reads
 * once: with class or top-k targets the targets are chosen on the device and the maps, the logits and the choice
 * come back in one transfer. Counted by spying on the backend's reads, on webgpu (llvmpipe here). Labels predicted
 * present need their count before the pass: two reads. Ignored where no adapter exists.
 */
import assert from "node:assert/strict";
import { createCanvas } from "@napi-rs/canvas";
import { initBackend, probeAdapter } from "../lib/runtime/backend.ts";
import { tf } from "../lib/runtime/tf.ts";
import { loadModel } from "../lib/models/load.ts";
import { runSaliencyJob, type SaliencyJob } from "../lib/service/saliency_job.ts";

const ignore = (await probeAdapter()) === null;
if (!ignore) await initBackend("webgpu");

function png(): Uint8Array {
  const canvas = createCanvas(48, 40);
  const ctx = canvas.getContext("2d");
  ctx.fillStyle = "#4a7";
  ctx.fillRect(0, 0, 48, 40);
  ctx.fillStyle = "#d32";
  ctx.fillRect(10, 8, 20, 16);
  const b = canvas.encodeSync("png");
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}

Deno.test({
  name: "webgpu: a saliency request with class or top-k targets reads back once",
  ignore,
  sanitizeResources: false,
  fn: async () => {
    const model = await loadModel(new URL("../models/resnet50_synthetic", import.meta.url).pathname);
    const backend = tf.backend() as unknown as { read: (id: unknown) => Promise<unknown> };
    const read = backend.read.bind(backend);
    let reads = 0;
    backend.read = (id) => {
      reads++;
      return read(id);
    };
    const image = png();
    const job = (targets: SaliencyJob["targets"], extra: Partial<SaliencyJob> = {}): SaliencyJob => ({
      image,
      method: "grad-cam",
      layers: ["layer3", "layer4"],
      targets,
      maxPixels: 1e6,
      ...extra,
    });
    const readsOf = async (j: SaliencyJob) => {
      reads = 0;
      const answer = await runSaliencyJob(model, j);
      return { reads, answer };
    };
    try {
      const before = tf.memory().numTensors;
      const top = await readsOf(job({ kind: "top-k", k: 3 }));
      assert.equal(top.reads, 1, "top-k: one read");
      assert.equal(top.answer.maps.length, 6);
      // the device's choice is the host's: the three best predictions, in order
      assert.deepEqual(
        top.answer.targets.map((t) => t.index),
        top.answer.predictions.slice(0, 3).map((p) => p.index),
      );
      const named = await readsOf(job({ kind: "classes", classes: [top.answer.targets[1].index, 0] }));
      assert.equal(named.reads, 1, "classes: one read");
      // the same image and class give the same map, chosen on the device or named
      const a = top.answer.maps.find((m) =>
        m.layer === "layer4" && m.target === top.answer.targets[1].index
      )!;
      const b = named.answer.maps.find((m) =>
        m.layer === "layer4" && m.target === top.answer.targets[1].index
      )!;
      assert.deepEqual(Array.from(a.data), Array.from(b.data));
      const resized = await readsOf(
        job({ kind: "top-k", k: 1 }, { resize: "image", combine: { mode: "product", weights: "linear" } }),
      );
      assert.equal(resized.reads, 1, "resized maps and a combination: one read");
      const present = await readsOf(job({ kind: "present", threshold: 0 }));
      assert.equal(present.reads, 2, "labels predicted present: a forward's read first");
      assert.equal(tf.memory().numTensors, before, "no tensor left behind");
    } finally {
      backend.read = read;
      model.weights.dispose();
    }
  },
});
