/**
 * A/B of Conv2DBackpropFilter on webgpu: tfjs's stock shader (one thread per filter weight, each looping over
 * every output position) against lib/runtime/wasm_grad_kernels.ts's conv2dBackpropFilterImpl in tf ops (one
 * slice and one matMul per filter tap). VGG16 and ResNet50 at 224x224, batch 1, random weights: all weight
 * gradients of the network with each, then every distinct conv of the pass on its own. Prints JSON lines
 * (medians in ms). Run with `deno run -A bench/webgpu_filter_grad_ab.ts` (RETRACE_BACKEND, default webgpu;
 * AB_RUNS, default 5; AB_SIZE, default 224; AB_MODELS, default vgg16,resnet50); bench/gpu/prepare.sh bundles it
 * for a GPU host.
 */
import { assertNoDeviceErrors, initBackend, parseBackendPreference } from "../lib/runtime/backend.ts";
import { type Tensor, tf } from "../lib/runtime/tf.ts";
import { KernelOverrides } from "../lib/runtime/kernel_overrides.ts";
import { conv2dBackpropFilterImpl } from "../lib/runtime/wasm_grad_kernels.ts";
import { buildNetwork } from "../lib/nets/network.ts";
import { runProbed } from "../lib/nets/probes.ts";
import { randomWeights } from "../lib/nets/weights.ts";
import { trainableParams } from "../lib/saliency/meta.ts";
import { medianTime } from "./median.ts";

type Shape4 = [number, number, number, number];
type FilterAttrs = Parameters<typeof conv2dBackpropFilterImpl>[3] & { filterShape: Shape4 };
interface Call {
  x: Shape4;
  dy: Shape4;
  attrs: FilterAttrs;
}

const info = await initBackend(parseBackendPreference(Deno.env.get("RETRACE_BACKEND") ?? "webgpu"));
const runs = Number(Deno.env.get("AB_RUNS") ?? 5);
const size = Number(Deno.env.get("AB_SIZE") ?? 224);
const models = (Deno.env.get("AB_MODELS") ?? "vgg16,resnet50").split(",");
console.log(JSON.stringify({ backend: info.backend, adapter: info.adapter?.description ?? null }));

let mode: "stock" | "ops" = "stock";
let recording: Call[] | null = null;
const overrides: KernelOverrides = new KernelOverrides(info.backend, {
  Conv2DBackpropFilter: (args): tf.TensorInfo | tf.TensorInfo[] => {
    const x = args.inputs.x as Tensor;
    const dy = args.inputs.dy as Tensor;
    const attrs = args.attrs as unknown as FilterAttrs;
    recording?.push({ x: x.shape as Shape4, dy: dy.shape as Shape4, attrs: { ...attrs } });
    if (mode === "ops") {
      return tf.tidy(() =>
        conv2dBackpropFilterImpl(x as tf.Tensor4D, dy as tf.Tensor4D, attrs.filterShape, attrs)
      );
    }
    return overrides.stock("Conv2DBackpropFilter")!.kernelFunc(args);
  },
});
overrides.register();

const timed = (fn: () => Promise<void>) => medianTime(fn, runs);

for (const arch of models) {
  const net = buildNetwork({ arch });
  const weights = randomWeights(net, 0, { maxBindingBytes: info.maxBindingBytes });
  const input = tf.randomNormal([1, size, size, 3], 0, 1, "float32", 1);
  const objective = (out: Tensor) => tf.losses.softmaxCrossEntropy(tf.oneHot([37], 1000), out);
  const params = trainableParams(net);
  const weightGrads = async () => {
    const r = runProbed(net, weights, input, { weightGradients: params, objective });
    for (const g of r.weightGradients.values()) await g.data();
    assertNoDeviceErrors();
    r.dispose();
  };
  recording = [];
  await weightGrads();
  const calls = recording;
  recording = null;
  for (const m of ["stock", "ops"] as const) {
    mode = m;
    const ms = await timed(weightGrads);
    console.log(
      JSON.stringify({ arch, workload: "weight gradients (all)", filterGrad: m, median_ms: +ms.toFixed(1) }),
    );
  }
  const seen = new Set<string>();
  for (const call of calls) {
    const key = JSON.stringify(call);
    if (seen.has(key)) continue;
    seen.add(key);
    const x = tf.randomNormal(call.x) as tf.Tensor4D;
    const dy = tf.randomNormal(call.dy) as tf.Tensor4D;
    const row: Record<string, unknown> = {
      arch,
      x: call.x,
      filter: call.attrs.filterShape,
      strides: call.attrs.strides,
      count: calls.filter((c) => JSON.stringify(c) === key).length,
    };
    for (const m of ["stock", "ops"] as const) {
      mode = m;
      row[`${m}_ms`] = +(await timed(async () => {
        const g = tf.engine().runKernel(
          "Conv2DBackpropFilter",
          { x, dy },
          call.attrs as unknown as tf.NamedAttrMap,
        );
        await (g as Tensor).data();
        (g as Tensor).dispose();
      })).toFixed(2);
    }
    console.log(JSON.stringify(row));
    tf.dispose([x, dy]);
  }
  tf.dispose(input);
  weights.dispose();
}
overrides.restore();
