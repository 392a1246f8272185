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
import { loadOnnxNetwork } from "../lib/nets/onnx/onnx_network.ts";
import { OnnxModelError } from "../lib/nets/onnx/read_model.ts";
import { readSafetensors } from "../lib/nets/safetensors.ts";
import { runProbed } from "../lib/nets/probes.ts";
import { relErr } from "./helpers/compare.ts";
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

/** NCHW float32 -> NHWC tensor. */
function nhwc(t: { shape: number[]; data: unknown }): Tensor {
  const x = tf.tensor(t.data as Float32Array, t.shape);
  if (t.shape.length !== 4) return x;
  const y = tf.transpose(x, [0, 2, 3, 1]);
  x.dispose();
  return y;
}

for (const name of names) {
  Deno.test(`onnx: ${name} exported by PyTorch matches its logits, activations and gradients`, async () => {
    const ref = readSafetensors(Deno.readFileSync(`${FIXTURES}${name}.reference.safetensors`));
    const config = JSON.parse(ref.metadata.config);
    const input = ref.tensors.get("input")!;
    const [, , h, w] = input.shape;
    const load = () =>
      loadOnnxNetwork(`${FIXTURES}${name}.onnx`, {
        numClasses: config.num_classes,
        inputSize: [h, w],
        source: `${name}.onnx`,
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
