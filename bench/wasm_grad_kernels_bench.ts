/**
 * Benchmarks for lib/runtime/wasm_grad_kernels.ts on the wasm backend, batch 1: Conv2DBackpropInput (the
 * stock wasm kernel vs ours, without and with the prepared-filter cache) and Conv2DBackpropFilter (ours; wasm
 * has none), with the forward conv as a yardstick, for a ResNet50-like 3x3 conv at 56x56x64, a VGG-like 3x3
 * conv at 112x112x128, and a ResNet50 layer4-like 3x3 conv at 7x7x512 (all 'same', stride 1).
 * Run: deno bench --allow-read --allow-env bench/wasm_grad_kernels_bench.ts
 */
import { tf } from "../lib/runtime/tf.ts";
import {
  registerWasmGradientKernels,
  setWasmGradientFilterCache,
  stockWasmKernel,
} from "../lib/runtime/wasm_grad_kernels.ts";

// The backend first, so that the stock kernels' setup runs; ours need none.
await tf.setBackend("wasm");
registerWasmGradientKernels();
const stockInput = stockWasmKernel("Conv2DBackpropInput");
if (stockInput == null) throw new Error("the stock wasm Conv2DBackpropInput was not found");

type Shape4 = [number, number, number, number];

const SHAPES: { name: string; size: number; channels: number; n: number }[] = [
  { name: "resnet50-like 3x3 56x56x64", size: 56, channels: 64, n: 20 },
  { name: "vgg-like 3x3 112x112x128", size: 112, channels: 128, n: 5 },
  { name: "resnet50-layer4-like 3x3 7x7x512", size: 7, channels: 512, n: 20 },
];

for (const { name, size, channels, n } of SHAPES) {
  const xShape: Shape4 = [1, size, size, channels];
  const filterShape: Shape4 = [3, 3, channels, channels];
  const x = tf.randomNormal(xShape, 0, 1, "float32", 1) as tf.Tensor4D;
  const filter = tf.randomNormal(filterShape, 0, 0.1, "float32", 2) as tf.Tensor4D;
  const dy = tf.randomNormal(xShape, 0, 1, "float32", 3) as tf.Tensor4D;
  const attrs = { strides: 1, pad: "same", dataFormat: "NHWC" };
  const inputAttrs = { ...attrs, inputShape: xShape };
  const filterAttrs = { ...attrs, filterShape };
  const runKernel = (kernel: string, inputs: tf.NamedTensorMap, kernelAttrs: object) =>
    // deno-lint-ignore no-explicit-any
    tf.dispose(tf.engine().runKernel(kernel, inputs, kernelAttrs as any) as tf.Tensor);

  Deno.bench({
    name: `Conv2DBackpropInput stock, ${name}`,
    group: `input ${name}`,
    baseline: true,
    n: Math.max(2, Math.round(n / 5)),
    warmup: 1,
    fn: () => {
      const backend = tf.backend();
      const out = stockInput.kernelFunc({
        inputs: { dy, filter },
        backend,
        attrs: inputAttrs,
      }) as tf.TensorInfo;
      backend.disposeData(out.dataId);
    },
  });
  Deno.bench({
    name: `Conv2DBackpropInput ours, ${name}`,
    group: `input ${name}`,
    n,
    warmup: 2,
    fn: () => {
      setWasmGradientFilterCache(false); // off (and empty): every call prepares the filter
      runKernel("Conv2DBackpropInput", { dy, filter }, inputAttrs);
    },
  });
  Deno.bench({
    name: `Conv2DBackpropInput ours + filter cache, ${name}`,
    group: `input ${name}`,
    n,
    warmup: 2,
    fn: () => {
      setWasmGradientFilterCache(true); // filled by the warm-up; later iterations hit it
      runKernel("Conv2DBackpropInput", { dy, filter }, inputAttrs);
    },
  });
  Deno.bench({
    name: `Conv2D forward (yardstick), ${name}`,
    group: `filter ${name}`,
    baseline: true,
    n,
    warmup: 2,
    fn: () => tf.dispose(tf.conv2d(x, filter, 1, "same")),
  });
  Deno.bench({
    name: `Conv2DBackpropFilter ours, ${name}`,
    group: `filter ${name}`,
    n,
    warmup: 2,
    fn: () => runKernel("Conv2DBackpropFilter", { x, dy }, filterAttrs),
  });
}
