/**
 * The saliency pointer (lib/eval/pointers.ts) on a small random ResNet (wasm): its labels, one point per class
 * inside the image, the same points as computing the map and its first argmax by hand (also with method options:
 * RISE's masks, a noise tunnel; input-only methods at the input only), meta-saliency and combinations run, bad files become errors, and no tensor outlives repeated calls.
 */
import assert from "node:assert/strict";
import { initBackend } from "../lib/runtime/backend.ts";
import { tf } from "../lib/runtime/tf.ts";
import { buildNetwork } from "../lib/nets/network.ts";
import { randomWeights } from "../lib/nets/weights.ts";
import type { LoadedModel } from "../lib/models/load.ts";
import type { ModelManifest } from "../lib/models/manifest.ts";
import { layerLabel, saliencyLabels, saliencyPointer } from "../lib/eval/pointers.ts";
import type { DecodedImage } from "../lib/image/decode.ts";
import { toInputTensor } from "../lib/image/preprocess.ts";
import { computeSaliency } from "../lib/saliency/saliency.ts";
import { firstArgmaxSync, resizeMap, smoothForImage } from "../lib/saliency/postprocess.ts";

/**
 * Images for this file are raw RGB with an 8-byte header (width, height as u32 LE) and decoded here: keeping
 * @napi-rs/canvas out of a test isolate that also runs tfjs-wasm avoids the Deno 2.9.6 teardown panic
 * (tests/shipped_models_test.ts); canvas decoding has its own tests.
 */
function decodeRaw(bytes: Uint8Array, source: string): DecodedImage {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.length < 8) throw new Error(`${source}: cannot decode (too short)`);
  const width = view.getUint32(0, true), height = view.getUint32(4, true);
  if (bytes.length !== 8 + 3 * width * height) throw new Error(`${source}: cannot decode (size mismatch)`);
  return { width, height, rgb: bytes.slice(8) };
}

function encodeRaw(
  width: number,
  height: number,
  pixel: (x: number, y: number) => [number, number, number],
): Uint8Array {
  const out = new Uint8Array(8 + 3 * width * height);
  const view = new DataView(out.buffer);
  view.setUint32(0, width, true);
  view.setUint32(4, height, true);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) out.set(pixel(x, y), 8 + 3 * (y * width + x));
  }
  return out;
}

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

Deno.test(
  "saliency pointer: points, agreement with a hand-made pipeline, errors, no leaks",
  async (t) => {
    const dir = await Deno.makeTempDir();
    const path = `${dir}/img.raw`;
    await Deno.writeFile(
      path,
      encodeRaw(90, 70, (x, y) => (x >= 50 && x < 75 && y >= 10 && y < 40 ? [240, 192, 32] : [32, 64, 96])),
    );
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
        const points = await saliencyPointer(model, { ...options, decode: decodeRaw }).points(sample);
        assert.deepEqual([...points.keys()], saliencyLabels(options));
        for (const ps of points.values()) {
          assert.equal(ps.length, 2);
          for (const p of ps) assert.ok(p.x >= 0 && p.x < 90 && p.y >= 0 && p.y < 70, JSON.stringify(p));
        }
      });

      await t.step("same point as the map computed and resized by hand (one class at a time)", async () => {
        const points = await saliencyPointer(model, {
          decode: decodeRaw,
          methods: ["linear-approx"],
          layers: ["layer3"],
        })
          .points(sample);
        const image = decodeRaw(await Deno.readFile(path), path);
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
          decode: decodeRaw,
          methods: ["normgrad"],
          layers: ["layer4"],
          meta: { sign: "positive", eta: 1e-3 },
        }).points(sample);
        assert.equal(points.get("normgrad@layer4")!.length, 2);
      });

      await t.step("input-only methods point at the input only; method options reach every map", async () => {
        const options = {
          decode: decodeRaw,
          methods: ["rise", "gradient"],
          layers: ["", "layer3"],
          combinations: [{ mode: "sum", weights: "uniform" }] as const,
          methodOptions: {
            rise: { masks: 12, cells: 4, seed: 7, batch: 5 },
            noise: { kind: "vargrad" as const, samples: 3, sigma: 0.4, seed: 2 },
          },
        };
        assert.deepEqual(saliencyLabels(options), [
          "rise@input",
          "gradient@input",
          "gradient@layer3",
          "gradient@sum/uniform",
        ]);
        const points = await saliencyPointer(model, options).points(sample);
        assert.deepEqual([...points.keys()], saliencyLabels(options));
        // by hand, one class at a time: the map with the same lib options (the noise tunnel around every method),
        // resized, smoothed at the input (§8)
        const image = decodeRaw(await Deno.readFile(path), path);
        const pointOf = (method: string, layer: string, classIndex: number, withOptions: boolean) => {
          const input = toInputTensor(image, [64, 64], model.manifest.preprocess);
          const r = computeSaliency(model.net, model.weights, input, {
            method,
            layers: [layer],
            seed: { kind: "one-hot", targets: [classIndex] },
            rise: { ...(withOptions ? options.methodOptions.rise : {}), probability: "sigmoid" },
            ...(withOptions ? { noise: options.methodOptions.noise } : {}),
          });
          const big = resizeMap(r.maps.get(layer)!, [70, 90]);
          const map = layer === "" ? smoothForImage(big, [70, 90]) : big;
          const point = firstArgmaxSync(map)[0];
          tf.dispose([input, big, map]);
          r.dispose();
          return point;
        };
        let differs = 0;
        for (const [i, c] of sample.classes.entries()) {
          for (const [method, layer] of [["rise", ""], ["gradient", ""], ["gradient", "layer3"]]) {
            const label = `${method}@${layerLabel(layer)}`;
            assert.deepEqual(points.get(label)![i], pointOf(method, layer, c.classIndex, true), label);
            if (method === "gradient") {
              const plain = pointOf(method, layer, c.classIndex, false);
              if (JSON.stringify(plain) !== JSON.stringify(points.get(label)![i])) differs++;
            }
          }
        }
        // a control: without the noise tunnel the gradient points elsewhere at least once
        assert.ok(differs > 0, "the noise tunnel changed no point: the test could not tell options apart");
      });

      await t.step("unknown method or layer, missing or corrupt image: clear errors", async () => {
        assert.throws(
          () => saliencyPointer(model, { decode: decodeRaw, methods: ["nope"], layers: ["layer4"] }),
          /unknown method "nope"/,
        );
        assert.throws(
          () => saliencyPointer(model, { decode: decodeRaw, methods: ["gradient"], layers: ["layer9"] }),
          /layer9/,
        );
        const pointer = saliencyPointer(model, {
          decode: decodeRaw,
          methods: ["gradient"],
          layers: ["layer4"],
        });
        await assert.rejects(pointer.points({ ...sample, imagePath: `${dir}/missing.raw` }), /missing\.raw/);
        await Deno.writeTextFile(`${dir}/bad.raw`, "not an image");
        await assert.rejects(
          pointer.points({ ...sample, imagePath: `${dir}/bad.raw` }),
          /cannot decode/,
        );
        await assert.rejects(pointer.points({ ...sample, width: 91 }), /annotation says 91x70/);
      });

      await t.step("no tensor outlives repeated calls", async () => {
        const pointer = saliencyPointer(model, {
          decode: decodeRaw,
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
