/**
 * ONNX import (lib/nets/onnx/) on hand-made graphs (F32 or F16 initializers, inline or in external-data files): a small conv net whose forward and input / layer gradients are
 * recomputed here with plain tfjs ops from the same numbers (the executor's wiring, layouts and parameter renaming
 * against a direct formula), PyTorch module paths as layer names, and refusals that name the op or attribute,
 * the node and what is supported. PyTorch-exported models are checked in tests/onnx_fidelity_test.ts.
 */
import assert from "node:assert/strict";
import { initBackend } from "../lib/runtime/backend.ts";
import { type Tensor, tf } from "../lib/runtime/tf.ts";
import { loadOnnxNetwork } from "../lib/nets/onnx/onnx_network.ts";
import { OnnxModelError } from "../lib/nets/onnx/read_model.ts";
import { moduleScopes } from "../lib/nets/onnx/module_names.ts";
import { runProbed } from "../lib/nets/probes.ts";
import { external, type ModelSpec, type NodeSpec, onnxModel, seeded } from "./helpers/onnx_builder.ts";
import { decodeF16, encodeF16 } from "../lib/nets/float16.ts";

await initBackend("wasm");

const C = 4, K = 5;
const init = {
  w0: { dims: [C, 3, 3, 3], data: seeded(C * 27, 1) },
  b0: { dims: [C], data: seeded(C, 2) },
  g1: { dims: [C], data: seeded(C, 3).map((v) => 1 + 0.5 * v) },
  be1: { dims: [C], data: seeded(C, 4) },
  m1: { dims: [C], data: seeded(C, 5).map((v) => 0.3 * v) },
  v1: { dims: [C], data: seeded(C, 6).map((v) => 1 + 0.5 * v) },
  wfc: { dims: [K, C], data: seeded(K * C, 7) },
  bfc: { dims: [K], data: seeded(K, 8) },
};
const nodes: NodeSpec[] = [
  {
    op: "Conv",
    name: "/features/features.0/Conv",
    inputs: ["input", "w0", "b0"],
    output: "c0",
    attrs: { kernel_shape: [3, 3], pads: [1, 1, 1, 1], strides: [1, 1], dilations: [1, 1], group: 1 },
  },
  {
    op: "BatchNormalization",
    name: "/features/features.1/BatchNormalization",
    inputs: ["c0", "g1", "be1", "m1", "v1"],
    output: "b1",
    attrs: { epsilon: { float: 1e-5 }, momentum: { float: 0.9 } },
  },
  { op: "Relu", name: "/features/features.2/Relu", inputs: ["b1"], output: "r2" },
  {
    op: "MaxPool",
    name: "/features/features.3/MaxPool",
    inputs: ["r2"],
    output: "p3",
    attrs: { kernel_shape: [2, 2], strides: [2, 2], pads: [0, 0, 0, 0], ceil_mode: 0 },
  },
  { op: "GlobalAveragePool", name: "/avgpool/GlobalAveragePool", inputs: ["p3"], output: "g" },
  { op: "Flatten", name: "/Flatten", inputs: ["g"], output: "f", attrs: { axis: 1 } },
  { op: "Gemm", name: "/fc/Gemm", inputs: ["f", "wfc", "bfc"], output: "logits", attrs: { transB: 1 } },
];
const spec: ModelSpec = { inputDims: ["N", 3, 8, 8], nodes, initializers: init, output: "logits" };

function writeModel(s: ModelSpec): string {
  const dir = Deno.makeTempDirSync({ prefix: "retrace-onnx-" });
  Deno.writeFileSync(`${dir}/model.onnx`, onnxModel(s));
  return `${dir}/model.onnx`;
}

function load(s: ModelSpec) {
  const path = writeModel(s);
  try {
    return loadOnnxNetwork(path, { numClasses: K, inputSize: [8, 8], source: "model.onnx" });
  } finally {
    Deno.removeSync(path.slice(0, path.lastIndexOf("/")), { recursive: true });
  }
}

/** The same network written with tfjs ops (NHWC) from the initializers: returns [logits, block output]. */
function direct(x: Tensor): [Tensor, Tensor] {
  const w = tf.transpose(tf.tensor4d(init.w0.data, [C, 3, 3, 3]), [2, 3, 1, 0]) as tf.Tensor4D;
  const conv = tf.add(tf.conv2d(x as tf.Tensor4D, w, 1, [[0, 0], [1, 1], [1, 1], [0, 0]]), init.b0.data);
  const bn = tf.add(
    tf.mul(tf.div(tf.sub(conv, init.m1.data), tf.sqrt(tf.add(init.v1.data, 1e-5))), init.g1.data),
    init.be1.data,
  );
  const pooled = tf.maxPool(tf.relu(bn) as tf.Tensor4D, 2, 2, 0);
  const gap = tf.mean(pooled, [1, 2]);
  const logits = tf.add(tf.matMul(gap, tf.tensor2d(init.wfc.data, [K, C]), false, true), init.bfc.data);
  return [logits, pooled];
}

/** The logits of the model `s` for input `x`. */
function logitsOf(s: ModelSpec, x: Tensor): Float32Array {
  const { net, weights } = load(s);
  try {
    const r = runProbed(net, weights, x);
    const v = r.output.dataSync().slice() as Float32Array;
    r.dispose();
    return v;
  } finally {
    weights.dispose();
  }
}

function close(a: Tensor, b: Tensor, what: string): void {
  const x = a.dataSync(), y = b.dataSync();
  assert.deepEqual(a.shape, b.shape, what);
  const scale = Math.max(...y.map(Math.abs), 1e-6);
  x.forEach((v, i) => assert.ok(Math.abs(v - y[i]) <= 1e-5 * scale, `${what}[${i}]: ${v} vs ${y[i]}`));
}

Deno.test("onnx: module paths from torch.onnx.export node names", () => {
  assert.deepEqual(moduleScopes("/layer4/layer4.1/relu_1/Relu"), ["layer4", "layer4.1", "layer4.1.relu_1"]);
  assert.deepEqual(moduleScopes("/layer1/layer1.0/conv1/Conv"), ["layer1", "layer1.0", "layer1.0.conv1"]);
  assert.deepEqual(moduleScopes("/layer1/layer1.0/downsample/downsample.0/Conv"), [
    "layer1",
    "layer1.0",
    "layer1.0.downsample",
    "layer1.0.downsample.0",
  ]);
  assert.deepEqual(moduleScopes("/features/denseblock1/denselayer1/conv1/Conv"), [
    "features",
    "features.denseblock1",
    "features.denseblock1.denselayer1",
    "features.denseblock1.denselayer1.conv1",
  ]);
  assert.deepEqual(moduleScopes("/features/features.0/Conv"), ["features", "features.0"]);
  assert.deepEqual(moduleScopes("/fc/Gemm"), ["fc"]);
  assert.deepEqual(moduleScopes("/Flatten"), []);
  assert.deepEqual(moduleScopes("Conv_12"), []);
});

Deno.test("onnx: a small conv net runs as a retrace network: forward, layers and gradients", () => {
  const before = tf.memory().numTensors;
  const { net, weights } = load(spec);
  try {
    for (
      const layer of ["", "features.0", "features.1", "features.2", "features.3", "features", "avgpool", "fc"]
    ) {
      assert.ok(net.layerNames.includes(layer), `layer ${JSON.stringify(layer)} in ${net.layerNames}`);
    }
    assert.ok(!net.layerNames.includes("c0"), "raw ONNX value names are not listed");
    net.assertLayers(["c0", "r2"]); // but accepted
    assert.deepEqual(net.layers().find((l) => l.name === "features")!.shape, [1, 4, 4, C]);
    assert.deepEqual([...net.convs.keys()], ["features.0"]);
    assert.deepEqual(
      net.params.filter((p) => !p.optional).map((p) => p.name),
      [
        "features.0.weight",
        "features.0.bias",
        "features.1.weight",
        "features.1.bias",
        "features.1.running_mean",
        "features.1.running_var",
        "fc.weight",
        "fc.bias",
      ],
    );
    const x = tf.tensor4d(seeded(2 * 8 * 8 * 3, 9), [2, 8, 8, 3]);
    const target = tf.tidy(() => tf.oneHot([1, 3], K).toFloat());
    const probed = runProbed(net, weights, x, {
      record: ["features", "p3"],
      gradients: ["", "features"],
      objective: (out) => tf.sum(tf.mul(out, target)),
    });
    const [logits, block, gInput, gBlock] = tf.tidy(() => {
      const [l, b] = direct(x);
      const gi = tf.grads((xi: Tensor) => tf.sum(tf.mul(direct(xi)[0], target)))([x])[0];
      const wfc = tf.tensor2d(init.wfc.data, [K, C]);
      const head = (p: Tensor) => tf.add(tf.matMul(tf.mean(p, [1, 2]), wfc, false, true), init.bfc.data);
      const gb = tf.grad((p: Tensor) => tf.sum(tf.mul(head(p), target)))(b);
      return [l, b, gi, gb];
    });
    close(probed.output, logits, "logits");
    close(probed.activations.get("features")!, block, "features");
    close(probed.activations.get("p3")!, block, "the raw value p3 (features.3's output)");
    close(probed.gradients.get("")!, gInput, "d objective / d input");
    close(probed.gradients.get("features")!, gBlock, "d objective / d features");
    probed.dispose();
    tf.dispose([x, target, logits, block, gInput, gBlock]);
  } finally {
    weights.dispose();
  }
  assert.equal(tf.memory().numTensors, before, "no tensor left behind");
});

Deno.test("onnx: an unsupported op is refused at load, naming the op, the node and the supported set", () => {
  const bad = structuredClone(spec);
  bad.nodes[2] = { op: "Mish", name: "/features/features.2/Mish", inputs: ["b1"], output: "r2" };
  assert.throws(
    () => load(bad),
    (e: Error) =>
      e instanceof OnnxModelError && /unsupported op Mish/.test(e.message) &&
      e.message.includes('"/features/features.2/Mish"') && /supported: .*Conv.*Relu/.test(e.message),
  );
});

Deno.test("onnx: unsupported attribute values are refused by name", () => {
  const cases: [(s: ModelSpec) => void, RegExp][] = [
    [
      (s) => (s.nodes[0].attrs!.auto_pad = "SAME_MIDDLE"),
      /Conv node "\/features\/features.0\/Conv": auto_pad "SAME_MIDDLE"/,
    ],
    [(s) => (s.nodes[0].attrs!.strides = [1, 2]), /strides \[1,2\] is not supported/],
    [(s) => (s.nodes[1].attrs!.epsilon = { float: 1e-3 }), /epsilon 0.001/],
    [(s) => (s.nodes[3].attrs!.foo = 1), /attribute foo not supported/],
    [(s) => (s.nodes[6].attrs!.transB = 0), /Linear form/],
    [(s) => (s.opset = 9), /opset 9 is not supported/],
  ];
  for (const [edit, message] of cases) {
    const bad = structuredClone(spec);
    edit(bad);
    assert.throws(
      () => load(bad),
      (e: Error) => e instanceof OnnxModelError && message.test(e.message),
      String(message),
    );
  }
});

Deno.test("onnx: a file that is not ONNX, or a wrong class count, is a clear error", () => {
  const dir = Deno.makeTempDirSync();
  try {
    Deno.writeTextFileSync(`${dir}/junk.onnx`, "not a model at all");
    assert.throws(
      () => loadOnnxNetwork(`${dir}/junk.onnx`, { numClasses: K, inputSize: [8, 8] }),
      OnnxModelError,
    );
    Deno.writeFileSync(`${dir}/m.onnx`, onnxModel(spec));
    assert.throws(
      () => loadOnnxNetwork(`${dir}/m.onnx`, { numClasses: 7, inputSize: [8, 8] }),
      /a classifier of 7 classes gives \[1, 7\]/,
    );
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("onnx: a Gemm without bias, and a trailing Softmax dropped (the network explains the logits)", () => {
  const before = tf.memory().numTensors;
  const x = tf.tensor4d(seeded(8 * 8 * 3, 9), [1, 8, 8, 3]);
  const plain = logitsOf(spec, x);
  const noBias = structuredClone(spec);
  noBias.nodes[6].inputs = ["f", "wfc"];
  const unbiased = logitsOf(noBias, x);
  unbiased.forEach((v, i) =>
    assert.ok(Math.abs(v + init.bfc.data[i] - plain[i]) < 1e-5, `logit ${i} without bias`)
  );
  const softmax = structuredClone(spec);
  softmax.nodes.push({
    op: "Softmax",
    name: "/softmax/Softmax",
    inputs: ["logits"],
    output: "probs",
    attrs: { axis: 1 },
  });
  softmax.output = "probs";
  assert.deepEqual([...logitsOf(softmax, x)], [...plain], "the logits, not the probabilities");
  const inner = structuredClone(spec);
  inner.nodes.splice(3, 0, {
    op: "Softmax",
    name: "/sm/Softmax",
    inputs: ["r2"],
    output: "s2",
    attrs: { axis: 1 },
  });
  inner.nodes[4].inputs = ["s2"];
  assert.throws(() => load(inner), /Softmax node "\/sm\/Softmax": supported only as the graph's last op/);
  x.dispose();
  assert.equal(tf.memory().numTensors, before, "no tensor left behind");
});

Deno.test("onnx: auto_pad SAME_UPPER (odd totals padded at the end, as TensorFlow does) and MatMul + Add as a linear layer", () => {
  const before = tf.memory().numTensors;
  const x = tf.tensor4d(seeded(2 * 8 * 8 * 3, 9), [2, 8, 8, 3]);
  // stride 2 on 8x8 with a 3x3 kernel: SAME pads 0 before and 1 after on each axis
  const same = structuredClone(spec);
  same.nodes[0].attrs = { kernel_shape: [3, 3], strides: [2, 2], auto_pad: "SAME_UPPER" };
  const want = tf.tidy(() => {
    const w = tf.transpose(tf.tensor4d(init.w0.data, [C, 3, 3, 3]), [2, 3, 1, 0]) as tf.Tensor4D;
    const conv = tf.add(tf.conv2d(x, w, 2, "same"), init.b0.data);
    const bn = tf.add(
      tf.mul(tf.div(tf.sub(conv, init.m1.data), tf.sqrt(tf.add(init.v1.data, 1e-5))), init.g1.data),
      init.be1.data,
    );
    const gap = tf.mean(tf.maxPool(tf.relu(bn) as tf.Tensor4D, 2, 2, 0), [1, 2]);
    return tf.add(tf.matMul(gap, tf.tensor2d(init.wfc.data, [K, C]), false, true), init.bfc.data);
  });
  const got = logitsOf(same, x);
  const expected = want.dataSync();
  got.forEach((v, i) =>
    assert.ok(Math.abs(v - expected[i]) < 1e-5, `SAME logit ${i}: ${v} vs ${expected[i]}`)
  );
  want.dispose();
  // The same graph at another input size: SAME's pads follow the input (9x9 at stride 2: 1 before, 1 after)
  for (const size of [9, 11]) {
    const xs = tf.tensor4d(seeded(3 * size * size, 10 + size), [1, size, size, 3]);
    const ref = tf.tidy(() => {
      const w = tf.transpose(tf.tensor4d(init.w0.data, [C, 3, 3, 3]), [2, 3, 1, 0]) as tf.Tensor4D;
      return tf.add(tf.conv2d(xs as tf.Tensor4D, w, 2, "same"), init.b0.data);
    });
    const { net, weights } = load(same);
    const r = runProbed(net, weights, xs, { record: [spec.nodes[0].output] });
    close(r.activations.get(spec.nodes[0].output)!, ref, `SAME conv at ${size}x${size}`);
    r.dispose();
    weights.dispose();
    tf.dispose([xs, ref]);
  }
  // MatMul by a constant [in, out] and Add of a per-class constant = the Gemm
  const matmul = structuredClone(spec);
  const wT = new Float32Array(C * K);
  for (let o = 0; o < K; o++) for (let i = 0; i < C; i++) wT[i * K + o] = init.wfc.data[o * C + i];
  matmul.initializers.wT = { dims: [C, K], data: wT };
  matmul.nodes.splice(6, 1, { op: "MatMul", name: "/fc/MatMul", inputs: ["f", "wT"], output: "mm" }, {
    op: "Add",
    name: "/fc/Add",
    inputs: ["mm", "bfc"],
    output: "logits",
  });
  const plain = logitsOf(spec, x);
  logitsOf(matmul, x).forEach((v, i) => assert.ok(Math.abs(v - plain[i]) < 1e-5, `MatMul logit ${i}`));
  x.dispose();
  assert.equal(tf.memory().numTensors, before, "no tensor left behind");
});

Deno.test("onnx: F16 initializers and external-data files read as the same weights; a path out of the folder is refused", () => {
  const before = tf.memory().numTensors;
  const x = tf.tensor4d(seeded(8 * 8 * 3, 9), [1, 8, 8, 3]);
  // The F16 model's weights are the F32 ones rounded to half precision: the same model, written as F32, must agree.
  const rounded = structuredClone(spec);
  for (const t of Object.values(rounded.initializers)) {
    t.data = decodeF16(encodeF16(Float32Array.from(t.data)));
  }
  const want = logitsOf(rounded, x);
  const half = logitsOf({ ...spec, float16: true }, x);
  half.forEach((v, i) => assert.ok(Math.abs(v - want[i]) < 1e-5, `F16 logit ${i}: ${v} vs ${want[i]}`));

  const dir = Deno.makeTempDirSync({ prefix: "retrace-onnx-" });
  try {
    Deno.writeFileSync(`${dir}/model.onnx`, onnxModel({ ...spec, externalFile: "weights.bin" }));
    Deno.writeFileSync(`${dir}/weights.bin`, external.bytes);
    const { net, weights } = loadOnnxNetwork(`${dir}/model.onnx`, { numClasses: K, inputSize: [8, 8] });
    const r = runProbed(net, weights, x);
    assert.deepEqual([...r.output.dataSync()], [...logitsOf(spec, x)], "external data = inline data");
    r.dispose();
    weights.dispose();
    Deno.writeFileSync(`${dir}/escape.onnx`, onnxModel({ ...spec, externalFile: "../weights.bin" }));
    assert.throws(
      () => loadOnnxNetwork(`${dir}/escape.onnx`, { numClasses: K, inputSize: [8, 8] }),
      /external data location "\.\.\/weights\.bin" must be a file in the model's folder/,
    );
    Deno.writeFileSync(`${dir}/short.onnx`, onnxModel({ ...spec, externalFile: "short.bin" }));
    Deno.writeFileSync(`${dir}/short.bin`, external.bytes.subarray(0, 100));
    assert.throws(
      () => loadOnnxNetwork(`${dir}/short.onnx`, { numClasses: K, inputSize: [8, 8] }),
      /external data "short\.bin" is too short/,
    );
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
  x.dispose();
  assert.equal(tf.memory().numTensors, before, "no tensor left behind");
});
