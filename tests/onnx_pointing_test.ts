/**
 * Evaluations on an imported model: the pointing game on a small synthetic world with the shipped ResNet50
 * re-exported to ONNX by PyTorch (BatchNorm kept; tests/fixtures/onnx) gives the built-in model's tallies, hit
 * for hit, for several methods at several layers, loaded through the same model folder path as shipped models.
 */
import assert from "node:assert/strict";
import { syntheticTest } from "./helpers/synthetic_gate.ts";
import { initBackend } from "../lib/runtime/backend.ts";
import { loadModel } from "../lib/models/load.ts";
import { saliencyPointer } from "../lib/eval/pointers.ts";
import { type PointingEvent, type PointingResult, runPointingGame } from "../lib/eval/pointing_run.ts";
import { SHAPE_CLASSES } from "../lib/synthetic/classes.ts";

const MODELS = new URL("../models/", import.meta.url).pathname;
const FIXTURES = new URL("./fixtures/onnx/", import.meta.url).pathname;

async function tallies(
  model: Awaited<ReturnType<typeof loadModel>>,
  root: string,
): Promise<PointingResult["tallies"]> {
  const pointer = saliencyPointer(model, {
    methods: ["grad-cam", "linear-approx", "excitation"],
    layers: ["layer2", "layer3", "layer4"],
  });
  let result: PointingResult | null = null;
  for await (
    const e of runPointingGame({
      source: { format: "voc", root, split: "test" },
      classes: SHAPE_CLASSES,
      pointer,
    })
  ) {
    if ((e as PointingEvent).type === "done") result = (e as Extract<PointingEvent, { type: "done" }>).result;
  }
  assert.ok(result, "the run finished");
  return result.tallies;
}

syntheticTest(
  "onnx: the pointing game with an imported ResNet50 gives the built-in model's tallies",
  async () => {
    await initBackend("wasm");
    const { tempWorld } = await import("./helpers/synthetic_kit.ts");
    const world = await tempWorld({ train: 0, val: 0, test: 6 }, 17);
    const dir = Deno.makeTempDirSync({ prefix: "retrace-onnx-model-" });
    try {
      const manifest = JSON.parse(Deno.readTextFileSync(`${MODELS}resnet50_synthetic/manifest.json`));
      Deno.writeTextFileSync(
        `${dir}/manifest.json`,
        JSON.stringify({ ...manifest, arch: "onnx", weights: { file: "model.onnx", dtype: "F32" } }),
      );
      Deno.copyFileSync(`${FIXTURES}resnet50_synthetic.bn.onnx`, `${dir}/model.onnx`);
      const built = await loadModel(`${MODELS}resnet50_synthetic`);
      const imported = await loadModel(dir);
      try {
        const root = `${world.dir}/VOCdevkit/VOC2007`;
        const [a, b] = [await tallies(imported, root), await tallies(built, root)];
        assert.deepEqual(Object.keys(a).sort(), Object.keys(b).sort());
        const total = Object.values(b.grad_cam_layer4 ?? Object.values(b)[0]).length;
        assert.ok(total > 0);
        assert.deepEqual(a, b);
        const counted = Object.values(b).reduce(
          (n, t) => n + [...t.all.hits, ...t.all.misses].reduce((s, v) => s + v, 0),
          0,
        );
        assert.ok(counted >= 9 * 6, `every label pointed at every instance of the 6 images (${counted})`);
      } finally {
        built.weights.dispose();
        imported.weights.dispose();
      }
    } finally {
      Deno.removeSync(dir, { recursive: true });
      await world.dispose();
    }
  },
);
