/**
 * Image -> network input: RGB bytes scaled to [0, 1], resized with bilinear interpolation (align_corners=false,
 * half-pixel centres, no antialiasing — PyTorch's F.interpolate, which the training tools use too), then
 * normalised per channel: (x - mean) / std. Output [1, H, W, 3] float32, owned by the caller.
 */
import { type Tensor, tf } from "../runtime/tf.ts";
import type { DecodedImage } from "./decode.ts";

export interface Normalisation {
  mean: readonly number[];
  std: readonly number[];
}

export function toInputTensor(
  image: DecodedImage,
  size: readonly [number, number],
  norm: Normalisation,
): Tensor {
  return tf.tidy(() => {
    const x = tf.div(tf.tensor3d(image.rgb, [image.height, image.width, 3], "int32").toFloat(), 255);
    const resized = tf.image.resizeBilinear(x as tf.Tensor3D, [size[0], size[1]], false, true);
    const normalised = tf.div(
      tf.sub(resized, tf.tensor1d(norm.mean as number[])),
      tf.tensor1d(norm.std as number[]),
    );
    return tf.expandDims(normalised, 0);
  });
}
