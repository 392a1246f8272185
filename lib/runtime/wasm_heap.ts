/**
 * Direct access to the tfjs wasm backend's heap, for kernels written in JS that would otherwise pay a
 * whole-tensor copy out of the heap (the stock wasm Slice does) — the same two BackendWasm methods the wasm
 * Concat kernel itself uses. Off wasm, callers fall back to ordinary tf ops.
 */
import { tf } from "./tf.ts";

/** The two BackendWasm methods the wasm Concat kernel itself uses to copy within the wasm heap. */
export interface WasmHeap {
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  typedArrayFromHeap(info: tf.TensorInfo): Float32Array | Int32Array | Uint8Array;
}

export function wasmHeap(): WasmHeap | null {
  const backend = tf.backend() as unknown as Partial<WasmHeap>;
  return typeof backend.makeOutput === "function" && typeof backend.typedArrayFromHeap === "function"
    ? backend as WasmHeap
    : null;
}

/**
 * tf.slice, copied inside the wasm heap. The stock wasm Slice kernel first copies the WHOLE input out of
 * the heap into a fresh JS buffer (readSync), so each slice of a 9 MiB filter costs 30-140 ms; this costs a
 * memcpy of the slice, one contiguous run at a time. Falls back to tf.slice on other backends.
 */
export function heapSlice<R extends tf.Rank>(x: tf.Tensor<R>, begin: number[], size: number[]): tf.Tensor<R> {
  const heap = wasmHeap();
  if (heap == null || x.dtype === "string") return tf.slice(x, begin, size);
  const rank = x.rank;
  const strides = tf.util.computeStrides(x.shape);
  const stride = (axis: number) => (axis < rank - 1 ? strides[axis] : 1);
  // The innermost axis that is not taken whole: each index of the axes before it is one contiguous run.
  let k = rank - 1;
  while (k >= 0 && begin[k] === 0 && size[k] === x.shape[k]) k--;
  const out = heap.makeOutput(size, x.dtype);
  const src = heap.typedArrayFromHeap(x); // after makeOutput, which may grow the heap
  const dst = heap.typedArrayFromHeap(out);
  if (k < 0) {
    dst.set(src.subarray(0, dst.length));
  } else {
    const run = size[k] * stride(k);
    const runs = size.slice(0, k).reduce((a, b) => a * b, 1);
    const index = new Array<number>(k).fill(0);
    for (let r = 0, o = 0; r < runs; r++, o += run) {
      let offset = begin[k] * stride(k);
      for (let a = 0; a < k; a++) offset += (begin[a] + index[a]) * strides[a];
      dst.set(src.subarray(offset, offset + run), o);
      for (let a = k - 1; a >= 0 && ++index[a] === size[a]; a--) index[a] = 0;
    }
  }
  return tf.engine().makeTensorFromTensorInfo(out) as tf.Tensor<R>;
}
