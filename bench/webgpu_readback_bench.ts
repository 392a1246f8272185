/**
 * The cost of reading tensors back from webgpu under Deno: L maps of 224x224 read one by one against the same
 * maps concatenated and read once (what lib/service/saliency_job.ts readMaps does for a request's layers). Each
 * read waits a round trip whatever its size (about 13 ms on llvmpipe here and on an H100 host), so batching
 * saves (L - 1) of them. `deno bench -A bench/webgpu_readback_bench.ts` (RETRACE_BACKEND, default webgpu).
 */
import { initBackend, parseBackendPreference } from "../lib/runtime/backend.ts";
import { tf } from "../lib/runtime/tf.ts";

const info = await initBackend(parseBackendPreference(Deno.env.get("RETRACE_BACKEND") ?? "webgpu"));
const x = tf.randomNormal([1, 224, 224, 1], 0, 1, "float32", 3);
const maps = (n: number) => Array.from({ length: n }, (_, i) => tf.mul(x, i + 1));

for (const n of [1, 4]) {
  const group = `${n} maps 224x224 ${info.backend}`;
  Deno.bench({ name: `${n} maps, one read each`, group, baseline: true, n: 12, warmup: 2 }, async () => {
    const ys = maps(n);
    for (const y of ys) await y.data();
    tf.dispose(ys);
  });
  Deno.bench({ name: `${n} maps, concatenated, one read`, group, n: 12, warmup: 2 }, async () => {
    const ys = maps(n);
    const flat = tf.concat(ys.map((y) => tf.reshape(y, [-1])));
    await flat.data();
    tf.dispose([...ys, flat]);
  });
}
