/**
 * MaxPoolGrad for the wasm backend with PyTorch's (and tfjs cpu's) tie rule: each window's gradient goes to
 * its FIRST maximum in row-major order (a NaN wins, as in PyTorch). The stock wasm kernel picks the last
 * maximum, which moves gradient between tied zeros after a ReLU and so changes dS/dx at a ReLU layer feeding
 * a max pool (VGG features.3/8/15/22/29). Written in JS over the wasm heap: one pass over the windows.
 */
import { tf } from "./tf.ts";
import { wasmHeap } from "./wasm_heap.ts";
import { maxPoolGradInfo } from "./maxpool_grad_info.ts";

/** dx for max pooling: dy routed to the first maximum of each window of x. x [N,H,W,C], dy [N,Ho,Wo,C]. */
export function maxPoolGradFirstMax(
  x: Float32Array | Int32Array | Uint8Array,
  dy: Float32Array | Int32Array | Uint8Array,
  dx: Float32Array,
  info: tf.backend_util.Conv2DInfo,
): void {
  const { batchSize: n, inHeight: h, inWidth: w, inChannels: c, outHeight: ho, outWidth: wo } = info;
  const { strideHeight: sh, strideWidth: sw, filterHeight: kh, filterWidth: kw } = info;
  const top = info.padInfo.top;
  const left = info.padInfo.left;
  dx.fill(0);
  const best = new Float32Array(c);
  const where = new Int32Array(c);
  for (let b = 0; b < n; b++) {
    for (let oy = 0; oy < ho; oy++) {
      const y0 = oy * sh - top;
      for (let ox = 0; ox < wo; ox++) {
        const x0 = ox * sw - left;
        best.fill(-Infinity);
        where.fill(-1);
        for (let ky = Math.max(0, -y0); ky < kh && y0 + ky < h; ky++) {
          for (let kx = Math.max(0, -x0); kx < kw && x0 + kx < w; kx++) {
            const base = ((b * h + y0 + ky) * w + x0 + kx) * c;
            for (let ch = 0; ch < c; ch++) {
              const v = x[base + ch];
              // strict '>' keeps the first maximum; NaN wins once, as in PyTorch
              if (v > best[ch] || (v !== v && best[ch] === best[ch]) || where[ch] < 0) {
                best[ch] = v;
                where[ch] = base + ch;
              }
            }
          }
        }
        const out = ((b * ho + oy) * wo + ox) * c;
        for (let ch = 0; ch < c; ch++) if (where[ch] >= 0) dx[where[ch]] += dy[out + ch];
      }
    }
  }
}

/** The kernel, registered by registerWasmGradientKernels in place of the stock wasm MaxPoolGrad. */
export const maxPoolGradFirstMaxKernel: tf.KernelFunc = ({ inputs, attrs, backend }) => {
  const heap = wasmHeap();
  if (heap == null || tf.backend() !== backend) {
    throw new Error("MaxPoolGrad (first max): the wasm backend is not active");
  }
  const input = inputs.input as tf.TensorInfo;
  const dy = inputs.dy as tf.TensorInfo;
  const info = maxPoolGradInfo(input, attrs);
  const out = heap.makeOutput(input.shape, "float32");
  // Views are taken after makeOutput, which may grow (and so move) the heap.
  maxPoolGradFirstMax(
    heap.typedArrayFromHeap(input),
    heap.typedArrayFromHeap(dy),
    heap.typedArrayFromHeap(out) as Float32Array,
    info,
  );
  return out;
};
