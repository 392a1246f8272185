/**
 * The geometry of a MaxPoolGrad kernel call (window, strides, padding, output size), shared by retrace's
 * first-maximum MaxPoolGrad kernels on wasm (wasm_maxpool_grad.ts) and webgpu (webgpu_maxpool_grad.ts).
 */
import { tf } from "./tf.ts";

interface MaxPoolGradAttrs {
  filterSize: number | [number, number];
  strides: number | [number, number];
  pad: "valid" | "same" | number | tf.backend_util.ExplicitPadding;
  dimRoundingMode?: "floor" | "round" | "ceil";
}

/** The pooling geometry of a MaxPoolGrad call from its `input` and attrs. */
export function maxPoolGradInfo(
  input: tf.TensorInfo,
  attrs: tf.NamedAttrMap | undefined,
): tf.backend_util.Conv2DInfo {
  const a = attrs as unknown as MaxPoolGradAttrs;
  return tf.backend_util.computePool2DInfo(
    input.shape as [number, number, number, number],
    a.filterSize,
    a.strides,
    1,
    a.pad,
    a.dimRoundingMode,
  );
}
