/**
 * Architecture listings against independent truth: METHODS.md §2.1–§2.2 output shapes, torchvision's
 * parameter counts (vgg16 138,357,544; resnet50 25,557,032 + BN buffers), the fully-convolutional heads'
 * output sizes worked out by hand, and the errors for unknown names and bad configs.
 */
import assert from "node:assert/strict";
import { buildNetwork } from "../lib/nets/network.ts";
import { InvalidInputError, InvalidNetConfigError, UnknownLayerError } from "../lib/nets/errors.ts";
import { pooledSize } from "../lib/nets/ops.ts";
import { thrown } from "./helpers/errors.ts";

function shapeOf(arch: string, name: string, opts: Record<string, unknown> = {}, size?: [number, number]) {
  const net = buildNetwork({ arch, ...opts });
  const layer = net.layers(size).find((l) => l.name === name);
  assert.ok(layer, `${arch} has no layer ${name}`);
  return layer.shape;
}

const numel = (s: number[]) => s.reduce((a, b) => a * b, 1);

Deno.test("VGG16 paper layers have METHODS.md §2.1 shapes at 224", () => {
  const expected: Record<string, number[]> = {
    "": [1, 224, 224, 3],
    "features.3": [1, 224, 224, 64],
    "features.8": [1, 112, 112, 128],
    "features.15": [1, 56, 56, 256],
    "features.22": [1, 28, 28, 512],
    "features.29": [1, 14, 14, 512],
    "features.30": [1, 7, 7, 512],
    "avgpool": [1, 7, 7, 512],
    "classifier.4": [1, 4096],
    "classifier.6": [1, 1000],
  };
  for (const [name, shape] of Object.entries(expected)) assert.deepEqual(shapeOf("vgg16", name), shape, name);
});

Deno.test("ResNet50 macro-blocks have METHODS.md §2.2 shapes at 224", () => {
  const expected: Record<string, number[]> = {
    conv1: [1, 112, 112, 64],
    maxpool: [1, 56, 56, 64],
    layer1: [1, 56, 56, 256],
    layer2: [1, 28, 28, 512],
    layer3: [1, 14, 14, 1024],
    layer4: [1, 7, 7, 2048],
    "layer3.0.downsample.0": [1, 14, 14, 1024],
    "layer2.0.conv1": [1, 56, 56, 128],
    "layer2.0.conv2": [1, 28, 28, 128],
    avgpool: [1, 1, 1, 2048],
    fc: [1, 1000],
  };
  for (const [name, shape] of Object.entries(expected)) {
    assert.deepEqual(shapeOf("resnet50", name), shape, name);
  }
});

Deno.test("parameter counts equal torchvision's", () => {
  // torchvision: sum(p.numel() for p in model.parameters()) — BN running stats are buffers, not parameters.
  const counts: Record<string, number> = {
    vgg11: 132863336,
    vgg16: 138357544,
    vgg19: 143667240,
    resnet18: 11689512,
    resnet50: 25557032,
    resnet101: 44549160,
  };
  for (const [arch, n] of Object.entries(counts)) {
    const net = buildNetwork({ arch });
    const params = net.params.filter((p) => !p.optional && !p.name.includes("running_"));
    assert.equal(params.reduce((a, p) => a + numel(p.shape), 0), n, arch);
  }
});

Deno.test("torchvision state_dict names appear in order", () => {
  const vgg = buildNetwork({ arch: "vgg16" }).params.map((p) => p.name);
  assert.deepEqual(vgg.slice(0, 4), [
    "features.0.weight",
    "features.0.bias",
    "features.2.weight",
    "features.2.bias",
  ]);
  assert.equal(vgg.at(-1), "classifier.6.bias");
  const rn = buildNetwork({ arch: "resnet50" }).params.map((p) => p.name);
  for (
    const key of [
      "conv1.weight",
      "bn1.running_var",
      "bn1.num_batches_tracked",
      "layer1.0.downsample.0.weight",
      "layer4.2.bn3.bias",
      "fc.weight",
    ]
  ) assert.ok(rn.includes(key), key);
  assert.ok(!rn.includes("conv1.bias"), "torchvision's conv1 has no bias");
  assert.ok(!rn.includes("layer1.1.downsample.0.weight"));
});

Deno.test("width multiplier scales every channel count, VGG's hidden layer too", () => {
  assert.deepEqual(shapeOf("vgg16", "features.29", { width: 1 / 16 }), [1, 14, 14, 32]);
  assert.deepEqual(shapeOf("vgg16", "classifier.4", { width: 1 / 16 }), [1, 256]);
  assert.deepEqual(shapeOf("resnet50", "layer4", { width: 1 / 8 }), [1, 7, 7, 256]);
  assert.deepEqual(shapeOf("resnet18", "layer4", { width: 0.5 }), [1, 7, 7, 256]);
});

Deno.test("fully-convolutional heads give score maps (sizes worked out by hand)", () => {
  // VGG16 Caffe: ceil-mode pools 224x256 -> 7x8; classifier.0 is 7x7 valid -> 1x2; K = 20.
  const vgg = { head: "fully-conv", numClasses: 20 };
  assert.deepEqual(shapeOf("vgg16", "features.30", vgg, [224, 256]), [1, 7, 8, 512]);
  assert.deepEqual(shapeOf("vgg16", "classifier.6", vgg, [224, 256]), [1, 1, 2, 20]);
  // ceil mode matters: 225 -> 113 -> 57 -> 29 -> 15 -> 8 (floor would give 7).
  assert.deepEqual(shapeOf("vgg16", "features.30", vgg, [225, 225]), [1, 8, 8, 512]);
  assert.equal(buildNetwork({ arch: "vgg16", ...vgg }).layerNames.includes("avgpool"), false);
  // ResNet50 Caffe: conv1 112x128, maxpool 3/2 pad 0 ceil -> 56x64, layer4 7x8, AvgPool(7, 1) -> 1x2.
  const rn = { head: "fully-conv", numClasses: 20 };
  assert.deepEqual(shapeOf("resnet50", "maxpool", rn, [224, 256]), [1, 56, 64, 64]);
  assert.deepEqual(shapeOf("resnet50", "layer2.0.conv1", rn, [224, 256]), [1, 28, 32, 128]);
  assert.deepEqual(shapeOf("resnet50", "layer4", rn, [224, 256]), [1, 7, 8, 2048]);
  assert.deepEqual(shapeOf("resnet50", "fc", rn, [224, 256]), [1, 1, 2, 20]);
  assert.ok(buildNetwork({ arch: "resnet50", ...rn }).params.some((p) => p.name === "conv1.bias"));
});

Deno.test("the gap head pools globally before torchvision's classifier (any input size)", () => {
  const gap = { head: "gap", width: 1 / 8, numClasses: 12 };
  assert.deepEqual(shapeOf("vgg16", "features.29", gap), [1, 14, 14, 64]);
  assert.deepEqual(shapeOf("vgg16", "avgpool", gap), [1, 1, 1, 64]);
  assert.deepEqual(shapeOf("vgg16", "classifier.6", gap, [160, 192]), [1, 12]);
  const net = buildNetwork({ arch: "vgg16", ...gap });
  // classifier.0 takes C = 64 features instead of 49 C; the rest of the parameters are the classifier head's
  const w0 = net.params.find((p) => p.name === "classifier.0.weight")!;
  assert.deepEqual(w0.shape, [512, 64]);
  const plain = buildNetwork({ arch: "vgg16", width: 1 / 8, numClasses: 12 });
  const count = (n: typeof net) => n.params.reduce((a, p) => a + p.shape.reduce((x, y) => x * y, 1), 0);
  assert.equal(count(plain) - count(net), 512 * 64 * 48);
});

Deno.test("pooledSize follows PyTorch's floor and ceil_mode rules", () => {
  assert.equal(pooledSize(112, 3, 2, 1, 1, false), 56);
  assert.equal(pooledSize(112, 3, 2, 0, 1, true), 56); // ceil(109/2)+1
  assert.equal(pooledSize(5, 2, 2, 0, 1, true), 3);
  assert.equal(pooledSize(5, 2, 2, 0, 1, false), 2);
  // the last window may not start in the right padding: 4 + 2*1 - 3 = 3, ceil(3/2)+1 = 3, (3-1)*2 = 4 >= 4+1? no.
  assert.equal(pooledSize(4, 3, 2, 1, 1, true), 3);
  assert.equal(pooledSize(3, 2, 2, 1, 1, true), 2); // ceil(3/2)+1 = 3, but (3-1)*2 = 4 >= 3+1 -> 2
});

Deno.test("unknown layers are an error listing every valid name", () => {
  const net = buildNetwork({ arch: "resnet50" });
  const err = thrown(() => net.assertLayers(["layer5", "layer4"]), UnknownLayerError);
  assert.deepEqual(err.unknown, ["layer5"]);
  assert.match(err.message, /"layer5"/);
  assert.match(err.message, /layer4\.2\.conv3/);
  assert.ok(err.valid.includes(""));
});

Deno.test("bad configurations and inputs are typed errors naming what is valid", () => {
  assert.throws(
    () => buildNetwork({ arch: "alexnet" }),
    (e) => e instanceof InvalidNetConfigError && /vgg16/.test(e.message),
  );
  assert.throws(() => buildNetwork({ arch: "vgg16", width: 0 }), InvalidNetConfigError);
  assert.throws(() => buildNetwork({ arch: "vgg16", numClasses: 2.5 }), InvalidNetConfigError);
  assert.throws(() => buildNetwork({ arch: "vgg16", head: "avg" }), /classifier, fully-conv, gap/);
  assert.throws(() => buildNetwork({ arch: "resnet50", head: "gap" }), /"gap" head is for VGG/);
  // Caffe ResNet's AvgPool2d(7) needs layer4 >= 7x7: a 64x64 input is too small, and says where.
  assert.throws(
    () => buildNetwork({ arch: "resnet50", head: "fully-conv" }).layers([64, 64]),
    (e) => e instanceof InvalidInputError && /average pool/.test(e.message),
  );
});
