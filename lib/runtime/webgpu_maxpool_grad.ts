/**
 * MaxPoolGrad for the webgpu backend with PyTorch's (and tfjs cpu's) tie rule: each window's gradient goes to
 * its FIRST maximum in row-major order. The stock webgpu kernel (tfjs 4.22, `value >= maxValue` in its
 * positions pass) picks the LAST maximum, so after a ReLU the gradient of an all-zero window lands on another
 * zero than PyTorch's: the gradient AT a ReLU layer feeding a max pool (VGG features.3/8/15/22/29) differs,
 * and with it every map that reads g where x = 0 (Gradient, Guided, NormGrad: relative error up to 0.94 at
 * features.29 in tests/saliency_fixtures_test.ts before this kernel). One WGSL pass, one thread per input
 * element: for each window covering the element, find the window's first maximum and add its dy if it is
 * this element. NaN inputs are not given PyTorch's "NaN wins" rule: WGSL lets compilers assume finite floats.
 */
import { tf } from "./tf.ts";
import { webgpu_util, WebGPUBackend } from "@tensorflow/tfjs-backend-webgpu";
import { KernelOverrides } from "./kernel_overrides.ts";
import { maxPoolGradInfo } from "./maxpool_grad_info.ts";

const BACKEND = "webgpu";

/** The program tfjs's webgpu backend compiles; getX/getDy, getCoordsFromIndex, uniforms come from its preamble. */
class MaxPoolGradFirstMaxProgram {
  readonly variableNames = ["x", "dy"];
  readonly uniforms = "strides : vec2<i32>, pads : vec2<i32>, filterDims : vec2<i32>, outDims : vec2<i32>";
  readonly workgroupSize: [number, number, number] = [64, 1, 1];
  readonly size = true;
  readonly shaderKey = "retraceMaxPoolGradFirstMax";
  readonly outputShape: number[];
  readonly dispatchLayout: { x: number[] };
  readonly dispatch: [number, number, number];

  constructor(inShape: number[]) {
    this.outputShape = inShape;
    this.dispatchLayout = webgpu_util.flatDispatchLayout(inShape);
    this.dispatch = webgpu_util.computeDispatch(this.dispatchLayout, inShape, this.workgroupSize);
  }

  getUserCode(): string {
    return `
      fn main(index : i32) {
        if (index >= uniforms.size) {
          return;
        }
        let coords = getCoordsFromIndex(index);
        let b = coords[0];
        let r = coords[1];
        let c = coords[2];
        let d = coords[3];
        let h = uniforms.xShape[1];
        let w = uniforms.xShape[2];
        let sh = uniforms.strides.x;
        let sw = uniforms.strides.y;
        let kh = uniforms.filterDims.x;
        let kw = uniforms.filterDims.y;
        // The output cells whose window covers (r, c): oy * sh - top <= r <= oy * sh - top + kh - 1.
        let ny = r + uniforms.pads.x - kh + 1;
        let nx = c + uniforms.pads.y - kw + 1;
        let oyLo = select(0, (ny + sh - 1) / sh, ny > 0);
        let oxLo = select(0, (nx + sw - 1) / sw, nx > 0);
        let oyHi = min(uniforms.outDims.x - 1, (r + uniforms.pads.x) / sh);
        let oxHi = min(uniforms.outDims.y - 1, (c + uniforms.pads.y) / sw);
        var total = 0.0;
        for (var oy = oyLo; oy <= oyHi; oy++) {
          for (var ox = oxLo; ox <= oxHi; ox++) {
            let y0 = oy * sh - uniforms.pads.x;
            let x0 = ox * sw - uniforms.pads.y;
            var best = 0.0;
            var bestY = -1; // -1 until the window's first in-bounds element
            var bestX = -1;
            for (var ky = 0; ky < kh; ky++) {
              let yy = y0 + ky;
              if (yy < 0 || yy >= h) {
                continue;
              }
              for (var kx = 0; kx < kw; kx++) {
                let xx = x0 + kx;
                if (xx < 0 || xx >= w) {
                  continue;
                }
                let v = getX(b, yy, xx, d);
                if (bestY < 0 || v > best) { // strict '>': the first maximum keeps the window
                  best = v;
                  bestY = yy;
                  bestX = xx;
                }
              }
            }
            if (bestY == r && bestX == c) {
              total = total + getDy(b, oy, ox, d);
            }
          }
        }
        setOutputAtIndex(index, total);
      }
    `;
  }
}

/** The kernel, registered by registerWebgpuGradientKernels in place of the stock webgpu MaxPoolGrad. */
export const maxPoolGradFirstMaxWebgpuKernel: tf.KernelFunc = ({ inputs, attrs, backend }) => {
  if (!(backend instanceof WebGPUBackend)) {
    throw new Error("MaxPoolGrad (first max): the webgpu backend is not active");
  }
  const input = inputs.input as tf.TensorInfo;
  const dy = inputs.dy as tf.TensorInfo;
  const info = maxPoolGradInfo(input, attrs);
  const program = new MaxPoolGradFirstMaxProgram(input.shape);
  return backend.runWebGPUProgram(program, [input, dy], "float32", [
    { type: "int32", data: [info.strideHeight, info.strideWidth] },
    { type: "int32", data: [info.padInfo.top, info.padInfo.left] },
    { type: "int32", data: [info.filterHeight, info.filterWidth] },
    { type: "int32", data: [info.outHeight, info.outWidth] },
  ]);
};

const overrides = new KernelOverrides(BACKEND, { MaxPoolGrad: maxPoolGradFirstMaxWebgpuKernel });

/** The kernel names this module provides on webgpu. */
export const WEBGPU_GRADIENT_KERNELS: readonly string[] = overrides.names;

/** Registers the webgpu gradient kernels in place of the stock ones and returns their names. Idempotent. */
export function registerWebgpuGradientKernels(): string[] {
  return overrides.register();
}

/** Undoes `registerWebgpuGradientKernels`: the stock kernels come back. For tests. */
export function restoreStockWebgpuKernels(): void {
  overrides.restore();
}
