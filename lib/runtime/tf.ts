/**
 * The single place that imports TensorFlow.js. Every other module imports `tf` from here, so the
 * backends (cpu, wasm, webgpu) are registered exactly once per runtime (process or worker).
 */
import * as tf from "@tensorflow/tfjs";
import "@tensorflow/tfjs-backend-wasm";
import "@tensorflow/tfjs-backend-webgpu";

export { tf };
export type Tensor = tf.Tensor;
export type Tensor4D = tf.Tensor4D;
