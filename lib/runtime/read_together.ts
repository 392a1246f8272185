/**
 * Reading several tensors back to the host in ONE transfer. On webgpu under Deno every read waits a round trip
 * whatever its size (about 13 ms, on llvmpipe here and on an H100 host: bench/webgpu_readback_bench.ts,
 * bench/results/2026-11-26-h100-webgpu-filter-grad-ab.txt), so a request or an evaluation step that reads L maps
 * one by one waits L round trips. The tensors are flattened, concatenated (one tensor is read as it is) and read
 * once; each tensor's values come back as a view of that one buffer (which, for a single tensor, may be the
 * backend's own storage: read, do not write). The tensors are left alone.
 */
import { type Tensor, tf } from "./tf.ts";

export async function readTogether(tensors: readonly Tensor[]): Promise<Float32Array[]> {
  if (tensors.length === 0) return [];
  const flat = tensors.length === 1
    ? tensors[0]
    : tf.tidy(() => tf.concat(tensors.map((t) => tf.reshape(tf.cast(t, "float32"), [-1]))));
  let values: Float32Array;
  try {
    const data = await flat.data();
    values = data instanceof Float32Array ? data : Float32Array.from(data);
  } finally {
    if (flat !== tensors[0]) flat.dispose();
  }
  let offset = 0;
  return tensors.map((t) => values.subarray(offset, offset += t.size));
}
