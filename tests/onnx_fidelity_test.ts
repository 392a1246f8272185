/**
 * Imported graphs against independent truth: the shipped ResNet50 and VGG16 exported to ONNX by PyTorch
 * (tools/onnx_fixtures.py) must give the built-in models' logits and maps — the same network reached through
 * the graph executor instead of the hand-written builder.
 * - `NAME.bn.onnx` (exported keeping BatchNormalization nodes, TrainingMode.PRESERVE) and VGG16 (no BN): every
 *   method at every layer, convs included, relative 1e-4.
 * - `NAME.onnx` (torch.onnx.export's defaults, which fold each BatchNorm into its conv): logits 1e-4; maps at the
 *   stage outputs relative 1e-4 and, nearer the input, Pearson >= 0.9999 (folding reorders the float arithmetic,
 *   which moves a few ReLU / max-pool decisions on near-ties). Contrastive excitation backprop uses the graph's own
 *   contrast layer (the input of its last Gemm). Excitation backprop is left out there: its rule
 *   sees the folded weights (METHODS.md: "BN folded into the conv before it"), not the built-in's BN; and a conv
 *   module's output is its BatchNorm's there, so normgrad-exact is too.
 */
import assert from "node:assert/strict";
import { initBackend } from "../lib/runtime/backend.ts";
import { tf } from "../lib/runtime/tf.ts";
import { type LoadedModel, loadModel } from "../lib/models/load.ts";
import { computeSaliency } from "../lib/saliency/saliency.ts";
import { metaSaliency } from "../lib/saliency/meta.ts";
import { METHODS } from "../lib/saliency/methods.ts";
import { INPUT_ONLY } from "../lib/saliency/extract.ts";
import { seeded } from "./helpers/onnx_builder.ts";
import { relErr } from "./helpers/compare.ts";
import { pearson } from "../lib/saliency/correlations.ts";

await initBackend("wasm");

const FIXTURES = Deno.env.get("RETRACE_ONNX_FIXTURES") ??
  new URL("./fixtures/onnx/", import.meta.url).pathname;
const MODELS = new URL("../models/", import.meta.url).pathname;

/** The shipped model's folder with its .onnx export in place of the safetensors weights, in a temp folder. */
async function imported(name: string, file: string): Promise<LoadedModel> {
  const dir = Deno.makeTempDirSync({ prefix: "retrace-onnx-model-" });
  try {
    const manifest = JSON.parse(Deno.readTextFileSync(`${MODELS}${name}/manifest.json`));
    manifest.arch = "onnx";
    manifest.weights = { file: "model.onnx", dtype: "F32" };
    Deno.writeTextFileSync(`${dir}/manifest.json`, JSON.stringify(manifest));
    Deno.copyFileSync(`${FIXTURES}${file}`, `${dir}/model.onnx`);
    return await loadModel(dir);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
}

interface Case {
  name: string;
  file: string;
  /** Layers compared at relative 1e-4 (and that the import must list). */
  exact: readonly string[];
  /** Layers compared by Pearson >= 0.9999. */
  close: readonly string[];
  skip: readonly string[];
}

const CASES: Case[] = [
  {
    name: "resnet50_synthetic",
    file: "resnet50_synthetic.bn.onnx",
    exact: ["", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4", "layer4.2.conv3", "layer4.2.bn3"],
    close: [],
    skip: [],
  },
  {
    name: "resnet50_synthetic",
    file: "resnet50_synthetic.onnx",
    exact: ["layer1", "layer2", "layer3", "layer4"],
    close: ["", "relu", "maxpool"],
    skip: ["excitation", "contrastive-excitation", "normgrad-exact"],
  },
  {
    name: "vgg16_synthetic",
    file: "vgg16_synthetic.onnx",
    exact: ["", "features.3", "features.8", "features.15", "features.22", "features.29"],
    close: [],
    skip: [],
  },
];

for (const c of CASES) {
  Deno.test({
    name:
      `onnx: the shipped ${c.name} exported by PyTorch (${c.file}) gives the built-in model's logits and maps`,
    async fn(t) {
      const before = tf.memory().numTensors;
      const built = await loadModel(`${MODELS}${c.name}`);
      const graph = await imported(c.name, c.file);
      const input = tf.tensor4d(seeded(2 * 224 * 224 * 3, 11), [2, 224, 224, 3]);
      const layers = [...c.exact, ...c.close];
      try {
        for (const layer of layers) {
          assert.ok(graph.net.layerNames.includes(layer), `${c.file} lists ${layer}`);
        }
        const seed = { kind: "pointing" as const, targets: [0, 5] };
        for (const method of METHODS) {
          if (c.skip.includes(method.name)) continue;
          const convExact = method.extract === "conv-exact";
          // many passes per map (Score-CAM, Ablation-CAM, integrated gradients, RISE): one layer, few points
          const at = convExact
            ? [...graph.net.convs.keys()].slice(-3)
            : INPUT_ONLY.has(method.extract)
            ? [""]
            : method.passes.perChannel || method.passes.forward > 1
            ? layers.slice(-1)
            : layers;
          await t.step(`${method.name} at ${at.map((l) => l || "input").join(", ")}`, () => {
            const a = computeSaliency(graph.net, graph.weights, input, {
              method: method.name,
              layers: at,
              seed,
              rise: { masks: 16 },
              occlusion: { window: 56, stride: 56 },
              integratedGradients: { steps: 8 },
            });
            const b = computeSaliency(built.net, built.weights, input, {
              method: method.name,
              layers: at,
              seed,
              rise: { masks: 16 },
              occlusion: { window: 56, stride: 56 },
              integratedGradients: { steps: 8 },
            });
            try {
              assert.ok(relErr(a.output, b.output) < 1e-4, "logits");
              for (const l of at) {
                const [x, y] = [a.maps.get(l)!, b.maps.get(l)!];
                if (convExact || c.exact.includes(l)) {
                  const err = relErr(x, y);
                  assert.ok(err < 1e-4, `${method.name} at ${l || "input"}: relative error ${err}`);
                } else {
                  const r = pearson(x.dataSync(), y.dataSync());
                  assert.ok(r >= 0.9999, `${method.name} at ${l || "input"}: Pearson ${r}`);
                }
              }
            } finally {
              a.dispose();
              b.dispose();
            }
          });
        }
        if (c.file.endsWith(".bn.onnx") || c.name.startsWith("vgg")) {
          // Meta-saliency: a weight-gradient step on every parameter, then the map with the stepped weights.
          await t.step("meta-saliency (positive, eta 0.1) + normgrad at the stages", () => {
            const request = { method: "normgrad", layers: c.exact.filter((l) => l !== ""), seed };
            const a = metaSaliency(graph.net, graph.weights, input, request, { eta: 0.1 });
            const b = metaSaliency(built.net, built.weights, input, request, { eta: 0.1 });
            const plain = computeSaliency(graph.net, graph.weights, input, request);
            try {
              for (const l of request.layers) {
                const err = relErr(a.maps.get(l)!, b.maps.get(l)!);
                assert.ok(err < 1e-4, `meta-saliency at ${l}: relative error ${err}`);
              }
              const last = request.layers.at(-1)!;
              const moved = relErr(a.maps.get(last)!, plain.maps.get(last)!);
              assert.ok(moved > 1e-3, `the weight step changed the map at ${last} (${moved})`);
            } finally {
              a.dispose();
              b.dispose();
              plain.dispose();
            }
          });
        }
      } finally {
        input.dispose();
        built.weights.dispose();
        graph.weights.dispose();
      }
      assert.equal(tf.memory().numTensors, before, "no tensor left behind");
    },
  });
}
