/**
 * End to end: `deno task import-model` on a PyTorch-exported ResNet18 (tests/fixtures/onnx) writes a model folder
 * that a real server then lists and explains over HTTP, at PyTorch's module names; a graph retrace cannot run is
 * refused by the tool, naming the op and node, and nothing is written.
 */
import assert from "node:assert/strict";
import { syntheticTest } from "./helpers/synthetic_gate.ts";
import { spawnTestServer } from "../tools/spawn_server.ts";
import { pngBase64 } from "./helpers/test_png.ts";
import { onnx } from "../lib/nets/onnx/proto.ts";

const TOOL = new URL("../tools/import_model.ts", import.meta.url).pathname;
const FIXTURES = new URL("./fixtures/onnx/", import.meta.url).pathname;

async function runTool(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-read",
      "--allow-write",
      "--allow-env",
      "--allow-ffi",
      "--allow-sys",
      TOOL,
      ...args,
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code: out.code, stdout: text(out.stdout), stderr: text(out.stderr) };
}

syntheticTest("import-model: an imported ResNet18 is listed and explained over HTTP", async (t) => {
  const root = Deno.makeTempDirSync({ prefix: "retrace-import-" });
  try {
    const classes = Array.from({ length: 10 }, (_, i) => `kind${i}`);
    Deno.writeTextFileSync(`${root}/classes.txt`, classes.join("\n"));
    await t.step("the tool refuses a graph it cannot run, naming the op, and writes nothing", async () => {
      // resnet18 with one Relu turned into an op retrace does not run
      const model = onnx.ModelProto.decode(Deno.readFileSync(`${FIXTURES}resnet18.onnx`));
      model.graph!.node!.find((n) => n.opType === "Relu")!.opType = "Mish";
      Deno.writeFileSync(`${root}/mish.onnx`, onnx.ModelProto.encode(model).finish());
      const r = await runTool([
        "--onnx",
        `${root}/mish.onnx`,
        "--name",
        "shuffle",
        "--out",
        `${root}/models/shuffle`,
      ]);
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, /unsupported op Mish \(first at node "\/relu\/Relu"\)/);
      assert.equal(await Deno.stat(`${root}/models/shuffle`).then(() => true, () => false), false);
    });
    await t.step("the tool imports ResNet18 and lists its module layers", async () => {
      const r = await runTool([
        "--onnx",
        `${FIXTURES}resnet18.onnx`,
        "--name",
        "r18",
        "--classes",
        `${root}/classes.txt`,
        "--out",
        `${root}/models/r18`,
      ]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /imported r18 .*10 classes, input 64x64/);
      assert.match(r.stdout, /\n {2}layer4 {2}\[1, 128, 2, 2\]\n/, "layers listed NCHW");
      // resnet18 has 20 BatchNorms, every one folded into the conv before it by the default export
      assert.match(r.stdout, /note: 20 convs carry a BatchNorm the exporter folded into them/);
      const manifest = JSON.parse(Deno.readTextFileSync(`${root}/models/r18/manifest.json`));
      assert.deepEqual(manifest.classes, classes);
      assert.deepEqual(manifest.probeLayers, [
        "conv1",
        "relu",
        "maxpool",
        "layer1",
        "layer2",
        "layer3",
        "layer4",
        "avgpool",
      ]);
    });
    const { base, child } = await spawnTestServer({
      RETRACE_MODELS_DIR: `${root}/models`,
      RETRACE_DATA_DIR: `${root}/data`,
      RETRACE_SYNTHETIC_IMAGES: "1",
    });
    try {
      await t.step("GET /v1/models lists it with PyTorch's module names", async () => {
        const { models } = await (await fetch(`${base}/v1/models`)).json();
        const r18 = models.find((m: { name: string }) => m.name === "r18");
        assert.ok(r18, JSON.stringify(models).slice(0, 300));
        for (const l of ["input", "layer1.0", "layer3", "layer4", "fc"]) assert.ok(r18.layers.includes(l), l);
        assert.deepEqual(r18.layerShapes.layer4, [1, 128, 2, 2], "shapes NCHW at the input size");
        assert.deepEqual(r18.layerShapes.input, [1, 3, 64, 64]);
        assert.ok(!r18.layers.some((l: string) => l.includes("/")), "raw ONNX value names are not listed");
      });
      /** POST /v1/saliency on a 64x64 image for the imported model, with `body` added. */
      const explain = async (body: Record<string, unknown>) => {
        const res = await fetch(`${base}/v1/saliency`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ image: await pngBase64(64, 64), model: "r18", ...body }),
        });
        return { res, body: await res.json() };
      };
      await t.step("POST /v1/saliency explains it at two layers", async () => {
        const { res, body } = await explain({
          method: "grad-cam",
          layers: ["layer3", "layer4"],
          targets: { classes: ["kind3"] },
        });
        assert.equal(res.status, 200, JSON.stringify(body));
        assert.deepEqual(body.targets, [{ index: 3, name: "kind3" }]);
        assert.deepEqual(body.maps.map((m: { layer: string; shape: number[] }) => [m.layer, m.shape]), [
          ["layer3", [4, 4]],
          ["layer4", [2, 2]],
        ]);
        for (const m of body.maps) {
          const bytes = Uint8Array.from(atob(m.data), (c) => c.charCodeAt(0));
          assert.ok([...new Float32Array(bytes.buffer)].every(Number.isFinite));
        }
      });
      await t.step(
        "contrastive excitation backprop runs with the contrast layer chosen from the graph",
        async () => {
          const { res, body } = await explain({ method: "contrastive-excitation", layers: ["layer4"] });
          assert.equal(res.status, 200, JSON.stringify(body));
          assert.deepEqual(body.maps.map((m: { shape: number[] }) => m.shape), [[2, 2]]);
        },
      );
    } finally {
      child.kill("SIGTERM");
      await child.status;
    }
  } finally {
    Deno.removeSync(root, { recursive: true });
  }
});
