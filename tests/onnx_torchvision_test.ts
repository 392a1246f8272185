/**
 * Torchvision architectures exported by PyTorch (tools/onnx_fixtures.py: random weights, reduced widths,
 * torch.onnx.export's defaults) run as retrace networks: for each fixture, the logits, the activations of named
 * modules (PyTorch's module paths) and the gradients of one logit at those modules and at the input match
 * PyTorch's (relative 1e-4 of each tensor's largest magnitude). An architecture whose ops retrace does not run yet
 * must be refused at load, naming the op — never a wrong map.
 */
import assert from "node:assert/strict";
import { initBackend, parseBackendPreference } from "../lib/runtime/backend.ts";
import { type Tensor, tf } from "../lib/runtime/tf.ts";
import { loadOnnxGraph, loadOnnxNetwork, onnxNetwork, readOnnxFile } from "../lib/nets/onnx/onnx_network.ts";
import { layerTorchShape } from "../lib/nets/shape_ops.ts";
import { OnnxModelError, readOnnxModel } from "../lib/nets/onnx/read_model.ts";
import { readSafetensors } from "../lib/nets/safetensors.ts";
import { runProbed } from "../lib/nets/probes.ts";
import { relErr } from "./helpers/compare.ts";
import { pearson } from "../lib/saliency/correlations.ts";
import { computeSaliency } from "../lib/saliency/saliency.ts";
import { UnsupportedRuleError } from "../lib/saliency/errors.ts";

// RETRACE_TEST_BACKEND=webgpu runs the PyTorch comparisons on webgpu (llvmpipe here; reads are asynchronous).
await initBackend(parseBackendPreference(Deno.env.get("RETRACE_TEST_BACKEND") ?? "wasm"));

const FIXTURES = Deno.env.get("RETRACE_ONNX_FIXTURES") ??
  new URL("./fixtures/onnx/", import.meta.url).pathname;

/** Architectures whose graphs use ops retrace refuses today, with the op the refusal must name. */
const REFUSED: Record<string, RegExp> = {};

const names = [...Deno.readDirSync(FIXTURES)]
  .map((e) => e.name.match(/^(.+)\.reference\.safetensors$/)?.[1])
  .filter((n): n is string => Boolean(n))
  .sort();

Deno.test("onnx fixtures: the torchvision families are all there", () => {
  for (const n of ["resnet18", "vgg11_bn", "mobilenet_v2", "squeezenet1_1", "densenet121"]) {
    assert.ok(names.includes(n), `tests/fixtures/onnx has ${n}`);
  }
});

Deno.test("onnx: every module the graph computes is listed under its PyTorch path with PyTorch's shape", () => {
  for (const name of names) {
    const { input_shape: [, , h, w], layers } = JSON.parse(
      Deno.readTextFileSync(`${FIXTURES}${name}.layers.json`),
    );
    const net = onnxNetwork(`${FIXTURES}${name}.onnx`, { numClasses: 10, inputSize: [h, w] });
    const listed = new Map(net.layers().map((l) => [l.name, layerTorchShape(l)]));
    // Modules with no node of their own (a BatchNorm folded into the conv before it, Dropout / Identity in eval)
    // have no value in the graph.
    const computed =
      (layers as { name: string; shape: number[]; onnx_output: string | null; folded_into?: string }[])
        .filter((l) => l.onnx_output !== null && !l.folded_into);
    assert.ok(computed.length > 10, `${name}: layers.json lists modules`);
    for (const l of computed) {
      assert.deepEqual(listed.get(l.name), l.shape, `${name}: ${l.name}`);
    }
  }
});

/** NCHW float32 -> NHWC tensor. */
function nhwc(t: { shape: number[]; data: unknown }): Tensor {
  const x = tf.tensor(t.data as Float32Array, t.shape);
  if (t.shape.length !== 4) return x;
  const y = tf.transpose(x, [0, 2, 3, 1]);
  x.dispose();
  return y;
}

/** Each fixture's graph, and the same weights exported at another opset (NAME.opsetK.onnx) where the tool wrote one. */
const graphs = names.flatMap((name) => [
  { name, file: `${name}.onnx` },
  ...[...Deno.readDirSync(FIXTURES)]
    .map((e) => e.name)
    .filter((f) => f.startsWith(`${name}.opset`) && f.endsWith(".onnx"))
    .sort()
    .map((file) => ({ name, file })),
]);

Deno.test("onnx fixtures: ConvNeXt comes at opset 17 too (one LayerNormalization node per layer norm)", () => {
  assert.ok(graphs.some((g) => g.file === "convnext_tiny.opset17.onnx"));
});

for (const { name, file } of graphs) {
  Deno.test(`onnx: ${file} exported by PyTorch matches its logits, activations and gradients`, async () => {
    const ref = readSafetensors(Deno.readFileSync(`${FIXTURES}${name}.reference.safetensors`));
    const config = JSON.parse(ref.metadata.config);
    const input = ref.tensors.get("input")!;
    const [, , h, w] = input.shape;
    const load = () =>
      loadOnnxNetwork(`${FIXTURES}${file}`, {
        numClasses: config.num_classes,
        inputSize: [h, w],
        source: file,
      });
    if (REFUSED[name]) {
      assert.throws(load, (e: Error) => e instanceof OnnxModelError && REFUSED[name].test(e.message));
      return;
    }
    const before = tf.memory().numTensors;
    const { net, weights } = load();
    const modules = config.probes as string[];
    for (const m of modules) assert.ok(net.layerNames.includes(m), `${name} lists ${m}`);
    const x = nhwc(input);
    const target = config.target as number;
    const probed = runProbed(net, weights, x, {
      record: modules,
      gradients: ["", ...modules],
      objective: (out) => tf.sum(tf.slice(out, [0, target], [1, 1])),
    });
    try {
      const check = async (what: string, got: Tensor, key: string) => {
        const want = nhwc(ref.tensors.get(key)!);
        assert.deepEqual(got.shape, want.shape, `${name} ${what}: shape`);
        const err = relErr(await got.data() as Float32Array, await want.data() as Float32Array);
        want.dispose();
        assert.ok(err < 1e-4, `${name} ${what}: relative error ${err}`);
      };
      await check("logits", probed.output, "logits");
      await check("input gradient", probed.gradients.get("")!, "grad.input");
      for (const m of modules) {
        await check(`activation at ${m}`, probed.activations.get(m)!, `act.${m}`);
        await check(`gradient at ${m}`, probed.gradients.get(m)!, `grad.${m}`);
      }
    } finally {
      probed.dispose();
      x.dispose();
      weights.dispose();
    }
    assert.equal(tf.memory().numTensors, before, "no tensor left behind");
  });
}

Deno.test("onnx: excitation backprop on ops it does not define is refused by name, leaking nothing", () => {
  const before = tf.memory().numTensors;
  for (
    const [name, op] of [["mobilenet_v3_small", /hardswish/], [
      "regnet_y_400mf",
      /grouped convolutions/,
    ]] as const
  ) {
    const ref = readSafetensors(Deno.readFileSync(`${FIXTURES}${name}.reference.safetensors`));
    const config = JSON.parse(ref.metadata.config);
    const { net, weights } = loadOnnxNetwork(`${FIXTURES}${name}.onnx`, {
      numClasses: config.num_classes,
      inputSize: [64, 64],
    });
    const x = nhwc(ref.tensors.get("input")!);
    const seed = { kind: "pointing" as const, targets: [0] };
    try {
      assert.throws(
        () => computeSaliency(net, weights, x, { method: "excitation", layers: [config.probes[1]], seed }),
        (e: Error) => e instanceof UnsupportedRuleError && op.test(e.message),
      );
      assert.throws(
        () =>
          computeSaliency(net, weights, x, {
            method: "contrastive-excitation",
            layers: [config.probes[1]],
            seed,
          }),
        (e: Error) => e instanceof UnsupportedRuleError && /contrast layer|not defined for/.test(e.message),
      );
      // The gradient methods run on the same network.
      computeSaliency(net, weights, x, { method: "guided", layers: [config.probes[1]], seed }).dispose();
    } finally {
      x.dispose();
      weights.dispose();
    }
  }
  assert.equal(tf.memory().numTensors, before, "no tensor left behind");
});

Deno.test("onnx: ShuffleNet exported with a dynamic batch axis (shape arithmetic folded at load) runs at batch 2", async () => {
  const before = tf.memory().numTensors;
  const ref = readSafetensors(Deno.readFileSync(`${FIXTURES}shufflenet_v2_x1_0.reference.safetensors`));
  const { net, weights } = loadOnnxNetwork(`${FIXTURES}shufflenet_v2_x1_0.dynamic_batch.onnx`, {
    numClasses: 10,
    inputSize: [64, 64],
  });
  const one = nhwc(ref.tensors.get("input")!);
  const x = tf.concat([one, one], 0);
  const probed = runProbed(net, weights, x);
  try {
    const logits = await probed.output.data() as Float32Array;
    const want = ref.tensors.get("logits")!.data as Float32Array;
    for (const i of [0, 1]) {
      const err = relErr(logits.subarray(10 * i, 10 * i + 10), want);
      assert.ok(err < 1e-4, `image ${i}: relative error ${err}`);
    }
  } finally {
    probed.dispose();
    tf.dispose([one, x]);
    weights.dispose();
  }
  assert.equal(tf.memory().numTensors, before, "no tensor left behind");
});

/** The fixtures that carry excitation maps (tools/onnx_fixtures.py's EB_MODELS) and their layers. */
function excitationLayers(ref: ReturnType<typeof readSafetensors>): string[] {
  return [...ref.tensors.keys()]
    .map((k) => k.match(/^map\.excitation\.(.+)$/)?.[1])
    .filter((k): k is string => Boolean(k))
    .map((k) => (k === "input" ? "" : k));
}

for (const name of names) {
  const ref = readSafetensors(Deno.readFileSync(`${FIXTURES}${name}.reference.safetensors`));
  const layers = excitationLayers(ref);
  if (!layers.length) continue;
  Deno.test(`onnx: ${name}'s excitation and contrastive excitation maps match PyTorch's`, async () => {
    const config = JSON.parse(ref.metadata.config);
    const input = ref.tensors.get("input")!;
    const before = tf.memory().numTensors;
    const { net, weights } = loadOnnxNetwork(`${FIXTURES}${name}.onnx`, {
      numClasses: config.num_classes,
      inputSize: [input.shape[2], input.shape[3]],
    });
    assert.equal(
      net.contrast?.classifier,
      config.excitation.classifier,
      "the classifier picked from the graph",
    );
    const x = nhwc(input);
    const seed = { kind: "one-hot" as const, targets: [config.target as number] };
    try {
      for (const method of ["excitation", "contrastive-excitation"]) {
        const wanted = layers.filter((l) => ref.tensors.has(`map.${method}.${l || "input"}`));
        const r = computeSaliency(net, weights, x, { method, layers: wanted, seed });
        try {
          for (const l of wanted) {
            const key = (m: string) => `map.${m}.${l || "input"}`;
            const want = ref.tensors.get(key(method))!.data as Float32Array;
            // The contrastive map is a difference of two excitation signals of equal total mass (it can be all
            // zero after its ReLU): it is measured against the excitation map's scale at the same layer.
            const scale = ref.tensors.get(key("excitation"))!.data as Float32Array;
            const got = await r.maps.get(l)!.data() as Float32Array;
            assert.equal(got.length, want.length, `${name} ${method} at ${l}: size`);
            let worst = 0;
            for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(got[i] - want[i]));
            const err = worst / Math.max(...scale.map(Math.abs));
            // Where excitation is ill-conditioned (p / z with z = conv(x, W+) near zero: the first conv's signed
            // input, and DenseNet's early layers, whose signal passes batch norms unscaled), PyTorch's own float32
            // pass is already up to 3e-3 from its float64 reference (the fixture records how far at each map). There
            // retrace is held to 1e-2 and a Pearson correlation of 0.9999; everywhere else to 1e-4.
            const room = config.excitation.float32_torch_rel_err[key(method)] as number;
            const where = `${name} ${method} at ${l || "input"}`;
            if (room < 1e-4) {
              assert.ok(err < 1e-4, `${where}: relative error ${err}`);
            } else {
              assert.ok(err < 1e-2, `${where} (ill-conditioned): relative error ${err}`);
              const r = pearson(got, want);
              assert.ok(r > 0.9999, `${where} (ill-conditioned): Pearson ${r}`);
            }
          }
        } finally {
          r.dispose();
        }
      }
    } finally {
      x.dispose();
      weights.dispose();
    }
    assert.equal(tf.memory().numTensors, before, "no tensor left behind");
  });
}

Deno.test("onnx: a manifest's contrast layers replace the graph's own choice, and bad ones are refused by name", async () => {
  const before = tf.memory().numTensors;
  const ref = readSafetensors(Deno.readFileSync(`${FIXTURES}resnet18.reference.safetensors`));
  const options = { numClasses: 10, inputSize: [64, 64] as [number, number] };
  const path = `${FIXTURES}resnet18.onnx`;
  assert.throws(
    () => onnxNetwork(path, { ...options, contrast: { layer: "layer9", classifier: "fc" } }),
    (e: Error) => e instanceof OnnxModelError && /contrast layer "layer9" is not a layer/.test(e.message),
  );
  assert.throws(
    () => onnxNetwork(path, { ...options, contrast: { layer: "layer4", classifier: "layer4.1.relu" } }),
    (e: Error) => e instanceof OnnxModelError && /"layer4.1.relu" has no weight to negate/.test(e.message),
  );
  const x = nhwc(ref.tensors.get("input")!);
  const seed = { kind: "one-hot" as const, targets: [JSON.parse(ref.metadata.config).target as number] };
  const mapAt = async (contrast?: { layer: string; classifier: string }) => {
    const { net, weights } = loadOnnxNetwork(path, { ...options, contrast });
    const r = computeSaliency(net, weights, x, {
      method: "contrastive-excitation",
      layers: ["layer3"],
      seed,
    });
    const map = await r.maps.get("layer3")!.data() as Float32Array;
    r.dispose();
    weights.dispose();
    return map;
  };
  // the graph's own choice is fc's input: the same map as naming it (avgpool, whose output only flatten follows)
  const own = await mapAt();
  assert.ok(relErr(await mapAt({ layer: "avgpool", classifier: "fc" }), own) < 1e-6);
  // excitation is linear in its signal once the forward is fixed, so contrasting lower (layer4) changes nothing
  // below it; negating another layer's weights (layer4.1's second conv, contrasting at its input) does
  assert.ok(relErr(await mapAt({ layer: "layer4", classifier: "fc" }), own) < 1e-5);
  assert.ok(relErr(await mapAt({ layer: "layer4.1.relu", classifier: "layer4.1.conv2" }), own) > 1e-2);
  x.dispose();
  assert.equal(tf.memory().numTensors, before, "no tensor left behind");
});

Deno.test("onnx: a file's own bytes are transposed in place on load, giving the weights a copying load gives", async () => {
  const before = tf.memory().numTensors;
  const options = { numClasses: 10, inputSize: [64, 64] as [number, number] };
  for (const name of ["convnext_tiny", "densenet121"]) { // shared initializers (Identity), a MatMul, convs
    const path = `${FIXTURES}${name}.onnx`;
    const owned = readOnnxFile(path);
    assert.equal(owned.ownsData, true);
    const inPlace = loadOnnxGraph(owned, options).weights;
    assert.throws(() => loadOnnxGraph(owned, options), /loaded once already/);
    const copied = loadOnnxGraph(readOnnxModel(Deno.readFileSync(path)), options).weights;
    assert.deepEqual([...inPlace.tensors.keys()], [...copied.tensors.keys()]);
    for (const [key, t] of copied.tensors) {
      const [a, b] = [await inPlace.tensors.get(key)!.data(), await t.data()];
      assert.deepEqual(inPlace.tensors.get(key)!.shape, t.shape, `${name} ${key}`);
      assert.ok(a.every((v, i) => v === b[i]), `${name} ${key}: the same values`);
    }
    inPlace.dispose();
    copied.dispose();
  }
  assert.equal(tf.memory().numTensors, before, "no tensor left behind");
});
