/**
 * Every method, as a user may ask for it: at the input, at one or two deep layers, at the input together with a
 * layer after the spatial part (VGG's classifier), plain, through a noise tunnel and with meta-saliency, with a
 * pointing and a one-hot seed, on a ResNet and a VGG whose last stage is 1 x 1 (a 32 x 32 input) and an imported
 * ONNX graph (torchvision's MobileNetV2, 2 x 2). Each request
 * either gives one finite [N, h, w, 1] map per layer or is refused with a typed error (SaliencyInputError or
 * UnknownLayerError, which the service answers 4xx), and leaves no tensor behind either way — a refused request
 * must free the maps it had already made. Layers after the spatial part have no map: those requests are refused.
 */
import assert from "node:assert/strict";
import { initBackend } from "../lib/runtime/backend.ts";
import { tf } from "../lib/runtime/tf.ts";
import { buildNetwork } from "../lib/nets/network.ts";
import { randomWeights } from "../lib/nets/weights.ts";
import { computeSaliency, type SaliencyRequest } from "../lib/saliency/saliency.ts";
import { metaSaliency } from "../lib/saliency/meta.ts";
import { METHODS } from "../lib/saliency/methods.ts";
import { SaliencyInputError } from "../lib/saliency/errors.ts";
import { UnknownLayerError } from "../lib/nets/errors.ts";
import type { Network } from "../lib/nets/network.ts";
import type { NetWeights } from "../lib/nets/weights.ts";
import { loadOnnxNetwork } from "../lib/nets/onnx/onnx_network.ts";

await initBackend("wasm");

const ONNX = new URL("./fixtures/onnx/mobilenet_v2.onnx", import.meta.url).pathname;

/** The networks swept: built-in ResNet and VGG (their last stage 1 x 1), an imported graph (2 x 2). */
const NETWORKS: { name: string; make: () => { net: Network; weights: NetWeights }; size: number }[] = [
  ...(["resnet18", "vgg11"] as const).map((arch) => ({
    name: arch,
    size: 32,
    make: () => {
      const net = buildNetwork({
        arch,
        width: 1 / 16,
        numClasses: 4,
        head: "classifier",
        inputSize: [32, 32],
      });
      return { net, weights: randomWeights(net, 3) };
    },
  })),
  {
    name: "mobilenet_v2 (ONNX)",
    size: 64,
    make: () => loadOnnxNetwork(ONNX, { numClasses: 10, inputSize: [64, 64] }),
  },
];

for (const { name, make, size } of NETWORKS) {
  Deno.test(`${name}: every method at every kind of layer set gives finite maps or a typed refusal, no leaks`, () => {
    const { net, weights } = make();
    const input = tf.randomNormal([2, size, size, 3], 0, 1, "float32", 1);
    // the last two spatial layers of at most 96 channels (Score-CAM and Ablation-CAM take one pass per channel),
    // and a layer after the spatial part (a linear classifier's) alone and with the input
    const shapes = net.layers().filter((l) => l.name !== "");
    const spatial = shapes.filter((l) => l.shape.length === 4 && l.shape[3] <= 96).map((l) => l.name).slice(
      -2,
    );
    const flat = shapes.find((l) => l.shape.length !== 4)?.name;
    assert.ok(spatial.length === 2 && flat, `${name}: two spatial layers and a flat one`);
    const layerSets = [[""], [spatial[1]], spatial, ["", flat], [flat]];
    const notSpatial = (layers: string[]) => layers.includes(flat);
    const options = {
      rise: { masks: 4, batch: 2 },
      integratedGradients: { steps: 3 },
      occlusion: { window: 8, stride: 8 },
    };
    const failures: string[] = [];
    let answered = 0;
    try {
      for (const m of METHODS) {
        for (const layers of layerSets) {
          for (const variant of ["plain", "noise", "meta"] as const) {
            for (const kind of ["pointing", "one-hot"] as const) {
              const what = `${m.name} at ${JSON.stringify(layers)}, ${variant}, ${kind} seed`;
              const request: SaliencyRequest = {
                method: m.name,
                layers,
                seed: { kind, targets: [1, 3] },
                ...options,
                ...(variant === "noise" ? { noise: { kind: "vargrad", samples: 2, sigma: 0.2 } } : {}),
              };
              const before = tf.memory().numTensors;
              try {
                const r = variant === "meta"
                  ? metaSaliency(net, weights, input, request, { sign: "positive", eta: 1e-3 })
                  : computeSaliency(net, weights, input, request);
                try {
                  if (notSpatial(layers)) failures.push(`${what}: answered at a layer with no map`);
                  for (const l of layers) {
                    const map = r.maps.get(l);
                    const ok = map && map.rank === 4 && map.shape[0] === 2 && map.shape[3] === 1 &&
                      (map.dataSync() as Float32Array).every(Number.isFinite);
                    if (!ok) failures.push(`${what}: map at ${l} is ${map ? `[${map.shape}]` : "missing"}`);
                  }
                  answered++;
                } finally {
                  r.dispose();
                }
              } catch (e) {
                if (!(e instanceof SaliencyInputError || e instanceof UnknownLayerError)) {
                  failures.push(`${what}: ${(e as Error).name}: ${(e as Error).message.slice(0, 120)}`);
                }
              }
              const left = tf.memory().numTensors - before;
              if (left !== 0) failures.push(`${what}: ${left} tensor(s) left behind`);
            }
          }
        }
      }
    } finally {
      tf.dispose([input]);
      weights.dispose();
    }
    assert.deepEqual(failures, []);
    // most requests are answered (a sweep of refusals alone would check little)
    assert.ok(answered > METHODS.length * 6, `${answered} answered`);
  });
}
