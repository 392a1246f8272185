/**
 * The saliency pointer (lib/eval/pointers.ts) on a small random ResNet (wasm): its labels, one point per class
 * inside the image, the same points as computing the map and its first argmax by hand, meta-saliency and
 * combinations run, bad files become errors, and no tensor outlives repeated calls.
 */
import assert from "node:assert/strict";
import { initBackend } from "../lib/runtime/backend.ts";
import { tf } from "../lib/runtime/tf.ts";
import { buildNetwork } from "../lib/nets/network.ts";
import { randomWeights } from "../lib/nets/weights.ts";
import type { LoadedModel } from "../lib/models/load.ts";
import type { ModelManifest } from "../lib/models/manifest.ts";
import { saliencyLabels, saliencyPointer } from "../lib/eval/pointers.ts";
import { decodeImage } from "../lib/image/decode.ts";
import { toInputTensor } from "../lib/image/preprocess.ts";
import { computeSaliency } from "../lib/saliency/saliency.ts";
import { firstArgmaxSync, resizeMap } from "../lib/saliency/postprocess.ts";
import { syntheticTest } from "./helpers/synthetic_gate.ts";

await initBackend("wasm");

function tinyModel(): LoadedModel {
  const net = buildNetwork({
    arch: "resnet18",
    width: 1 / 16,
    numClasses: 4,
    head: "classifier",
    inputSize: [64, 64],
  });
  const manifest = {
    name: "tiny",
    arch: "resnet18",
    width: 1 / 16,
    numClasses: 4,
    classes: ["a", "b", "c", "d"],
    head: "classifier",
    multiLabel: true,
    inputSize: [64, 64],
    preprocess: { resize: "bilinear", scale: 1 / 255, mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25] },
    probeLayers: ["", "layer3", "layer4"],
    weights: { file: "-", dtype: "F32" },
  } as ModelManifest;
  return { manifest, net, weights: randomWeights(net, 3) };
}

syntheticTest(
  "saliency pointer: points, agreement with a hand-made pipeline, errors, no leaks",
  async (t) => {
    const { createCanvas } = await import("@napi-rs/canvas");
    const canvas = createCanvas(90, 70);
    const ctx = canvas.getContext("2d");
    ctx.fillStyle = "#204060";
    ctx.fillRect(0, 0, 90, 70);
    ctx.fillStyle = "#f0c020";
    ctx.fillRect(50, 10, 25, 30);
    const dir = await Deno.makeTempDir();
    const path = `${dir}/img.png`;
    await Deno.writeFile(path, canvas.toBuffer("image/png"));
    const model = tinyModel();
    const sample = {
      key: "img",
      imagePath: path,
      width: 90,
      height: 70,
      classes: [{ classIndex: 1 }, { classIndex: 3 }],
    };
    try {
      await t.step("labels and one in-image point per class", async () => {
        const options = {
          methods: ["grad-cam", "gradient"],
          layers: ["", "layer3", "layer4"],
          combinations: [{ mode: "product", weights: "linear" }] as const,
        };
        assert.deepEqual(saliencyLabels(options), [
          "grad-cam@input",
          "grad-cam@layer3",
          "grad-cam@layer4",
          "grad-cam@product/linear",
          "gradient@input",
          "gradient@layer3",
          "gradient@layer4",
          "gradient@product/linear",
        ]);
        const points = await saliencyPointer(model, options).points(sample);
        assert.deepEqual([...points.keys()], saliencyLabels(options));
        for (const ps of points.values()) {
          assert.equal(ps.length, 2);
          for (const p of ps) assert.ok(p.x >= 0 && p.x < 90 && p.y >= 0 && p.y < 70, JSON.stringify(p));
        }
      });

      await t.step("same point as the map computed and resized by hand (one class at a time)", async () => {
        const points = await saliencyPointer(model, { methods: ["linear-approx"], layers: ["layer3"] })
          .points(sample);
        const image = decodeImage(await Deno.readFile(path));
        for (const [i, c] of sample.classes.entries()) {
          const input = toInputTensor(image, [64, 64], model.manifest.preprocess);
          const r = computeSaliency(model.net, model.weights, input, {
            method: "linear-approx",
            layers: ["layer3"],
            seed: { kind: "one-hot", targets: [c.classIndex] },
          });
          const big = resizeMap(r.maps.get("layer3")!, [70, 90]);
          assert.deepEqual(points.get("linear-approx@layer3")![i], firstArgmaxSync(big)[0]);
          tf.dispose([input, big]);
          r.dispose();
        }
      });

      await t.step("meta-saliency runs per class", async () => {
        const points = await saliencyPointer(model, {
          methods: ["normgrad"],
          layers: ["layer4"],
          meta: { sign: "positive", eta: 1e-3 },
        }).points(sample);
        assert.equal(points.get("normgrad@layer4")!.length, 2);
      });

      await t.step("unknown method or layer, missing or corrupt image: clear errors", async () => {
        assert.throws(
          () => saliencyPointer(model, { methods: ["nope"], layers: ["layer4"] }),
          /unknown method "nope"/,
        );
        assert.throws(() => saliencyPointer(model, { methods: ["gradient"], layers: ["layer9"] }), /layer9/);
        const pointer = saliencyPointer(model, { methods: ["gradient"], layers: ["layer4"] });
        await assert.rejects(pointer.points({ ...sample, imagePath: `${dir}/missing.png` }), /missing\.png/);
        await Deno.writeTextFile(`${dir}/bad.png`, "not an image");
        await assert.rejects(
          pointer.points({ ...sample, imagePath: `${dir}/bad.png` }),
          /cannot decode|not a decodable/,
        );
        await assert.rejects(pointer.points({ ...sample, width: 91 }), /annotation says 91x70/);
      });

      await t.step("no tensor outlives repeated calls", async () => {
        const pointer = saliencyPointer(model, {
          methods: ["contrastive-excitation", "selective-normgrad"],
          layers: ["", "layer3", "layer4"],
          combinations: [{ mode: "sum", weights: "uniform" }],
        });
        await pointer.points(sample);
        const before = tf.memory().numTensors;
        for (let i = 0; i < 3; i++) await pointer.points(sample);
        await assert.rejects(pointer.points({ ...sample, width: 91 }));
        assert.equal(tf.memory().numTensors, before);
      });
    } finally {
      model.weights.dispose();
      await Deno.remove(dir, { recursive: true });
    }
  },
);
