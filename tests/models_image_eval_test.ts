/**
 * The small pieces around the shipped models: average precision against hand-computed values, manifest
 * validation errors, image decoding (round trip through the canvas encoder, and clear errors for bad bytes),
 * and preprocessing (hand-computed normalisation; resize = tf's half-pixel bilinear).
 */
import assert from "node:assert/strict";
import { createCanvas } from "@napi-rs/canvas";
import { initBackend } from "../lib/runtime/backend.ts";
import { tf } from "../lib/runtime/tf.ts";
import { averagePrecision, meanAveragePrecision } from "../lib/eval/average_precision.ts";
import { decodeImage, ImageDecodeError } from "../lib/image/decode.ts";
import { toInputTensor } from "../lib/image/preprocess.ts";
import { ManifestError, parseManifest } from "../lib/models/manifest.ts";
import { thrown } from "./helpers/errors.ts";
import { assertClose } from "./helpers/compare.ts";

await initBackend("wasm");

Deno.test("average precision: hand-computed cases", () => {
  // ranking by score: + - + -  -> precisions at the positives 1/1 and 2/3 -> AP = 5/6
  assert.equal(averagePrecision([0.9, 0.8, 0.7, 0.1], [1, 0, 1, 0]), (1 + 2 / 3) / 2);
  assert.equal(averagePrecision([0.1, 0.2], [1, 1]), 1);
  assert.ok(Number.isNaN(averagePrecision([0.5, 0.4], [0, 0])));
  // ties keep input order (stable), as numpy's stable argsort in the training tool
  assert.equal(averagePrecision([0.5, 0.5], [0, 1]), 0.5);
  // mAP over classes with positives only: class 0 AP 1, class 1 AP 0.5, class 2 has none
  const scores = [0.9, 0.9, 0.3, 0.2, 0.8, 0.4];
  const labels = [1, 0, 0, 0, 1, 0];
  assert.equal(meanAveragePrecision(scores, labels, 3), (1 + 0.5) / 2);
});

const MANIFEST = {
  name: "m",
  arch: "resnet50",
  width: 0.125,
  numClasses: 2,
  classes: ["a", "b"],
  head: "classifier",
  multiLabel: true,
  inputSize: [224, 224],
  preprocess: { resize: "bilinear", scale: 1 / 255, mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25] },
  probeLayers: ["layer4"],
  weights: { file: "weights.safetensors", dtype: "F16" },
};

Deno.test("manifests are validated field by field", () => {
  assert.equal(parseManifest(JSON.stringify(MANIFEST)).name, "m");
  const bad = (patch: Record<string, unknown>, pattern: RegExp) =>
    assert.match(
      thrown(() => parseManifest(JSON.stringify({ ...MANIFEST, ...patch }), "x.json"), ManifestError).message,
      pattern,
    );
  bad({ numClasses: 3 }, /numClasses \(3\) must equal classes.length/);
  bad({ head: "avg" }, /head must be "classifier", "fully-conv" or "gap"/);
  bad({ inputSize: [224] }, /inputSize/);
  bad({ preprocess: { mean: [0, 0, 0], std: [0, 1, 1] } }, /std/);
  bad({ weights: {} }, /weights.file/);
  bad({ contrast: { layer: "layer4", classifier: "fc" } }, /contrast .* for an "onnx" model only/);
  const onnx = { arch: "onnx", weights: { file: "m.onnx", dtype: "F32" } };
  bad({ ...onnx, contrast: { layer: "layer4" } }, /contrast is \{"layer": \.\.\., "classifier": \.\.\.\}/);
  bad({ ...onnx, contrast: { layer: "a", classifier: "b", extra: 1 } }, /contrast is/);
  assert.deepEqual(
    parseManifest(JSON.stringify({ ...MANIFEST, ...onnx, contrast: { layer: "a", classifier: "b" } }))
      .contrast,
    { layer: "a", classifier: "b" },
  );
  assert.match(thrown(() => parseManifest("{", "y.json"), ManifestError).message, /y\.json: not valid JSON/);
});

Deno.test("decoding: a PNG round trip is exact; bad bytes are an ImageDecodeError", () => {
  const canvas = createCanvas(3, 2);
  const ctx = canvas.getContext("2d");
  const img = ctx.createImageData(3, 2);
  const rgb = [10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 110, 120, 130, 140, 150, 160, 170, 180];
  for (let p = 0; p < 6; p++) {
    img.data.set([rgb[3 * p], rgb[3 * p + 1], rgb[3 * p + 2], 255], 4 * p);
  }
  ctx.putImageData(img, 0, 0);
  const png = canvas.encodeSync("png");
  const decoded = decodeImage(new Uint8Array(png.buffer, png.byteOffset, png.byteLength));
  assert.deepEqual([decoded.width, decoded.height], [3, 2]);
  assert.deepEqual(Array.from(decoded.rgb), rgb);
  for (const bytes of [new Uint8Array(0), new TextEncoder().encode("not an image"), png.subarray(0, 20)]) {
    assert.match(
      thrown(() => decodeImage(new Uint8Array(bytes), "upload"), ImageDecodeError).message,
      /upload/,
    );
  }
});

Deno.test("preprocessing: (x / 255 - mean) / std at the same size; resize is tf's half-pixel bilinear", () => {
  const image = { width: 2, height: 1, rgb: new Uint8Array([0, 51, 255, 255, 102, 0]) };
  const norm = { mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25] };
  const same = toInputTensor(image, [1, 2], norm);
  assert.deepEqual(same.shape, [1, 1, 2, 3]);
  assertClose(same.dataSync(), [-2, -1.2, 2, 2, -0.4, -2], 1e-6, "normalised");
  // 1x2 -> 1x4, half-pixel centres: columns sample x = -0.25, 0.25, 0.75, 1.25 -> weights 0, 0.25, 0.75, 1 on pixel 1
  const up = toInputTensor(image, [1, 4], { mean: [0, 0, 0], std: [1, 1, 1] });
  const r = Array.from(up.dataSync()).filter((_, i) => i % 3 === 0);
  assertClose(r, [0, 0.25, 0.75, 1], 1e-6, "red channel");
  tf.dispose([same, up]);
});
