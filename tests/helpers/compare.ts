/**
 * Test helpers: relative error max|a - b| / max|b| between two tensors or arrays of the same size. A batch (a
 * tensor whose first axis has several entries, or arrays with `per` values an entry) is compared entry by entry,
 * each relative to its own largest value, and the worst entry counts: one image's small map is held to the same
 * standard as another's large one, not hidden under the batch's maximum.
 */
import { type Tensor, tf } from "../../lib/runtime/tf.ts";

type Values = Tensor | ArrayLike<number>;

function values(v: Values): Float32Array {
  return v instanceof tf.Tensor ? (v.dataSync() as Float32Array) : Float32Array.from(v);
}

export function relErr(a: Values, b: Values, per?: number): number {
  const x = values(a);
  const y = values(b);
  if (x.length !== y.length) throw new Error(`relErr: sizes differ (${x.length} vs ${y.length})`);
  const entries = per !== undefined
    ? x.length / per
    : b instanceof tf.Tensor && b.rank >= 2 && b.shape[0]! > 1
    ? b.shape[0]!
    : 1;
  if (!Number.isInteger(entries) || entries < 1) {
    throw new Error(`relErr: ${x.length} values are not entries of ${per} values`);
  }
  if (entries > 1) {
    const size = x.length / entries;
    let worst = 0;
    for (let e = 0; e < entries; e++) {
      worst = Math.max(
        worst,
        relErr(x.subarray(e * size, (e + 1) * size), y.subarray(e * size, (e + 1) * size)),
      );
    }
    return worst;
  }
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < x.length; i++) {
    diff = Math.max(diff, Math.abs(x[i] - y[i]));
    scale = Math.max(scale, Math.abs(y[i]));
  }
  if (!Number.isFinite(diff)) return Infinity;
  return scale === 0 ? diff : diff / scale;
}

/** Asserts element-wise |actual - expected| <= tol, naming the first index that is not. */
export function assertClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  tol: number,
  what = "",
): void {
  if (actual.length !== expected.length) {
    throw new Error(`${what}: lengths differ (${actual.length} vs ${expected.length})`);
  }
  for (let i = 0; i < expected.length; i++) {
    if (!(Math.abs(actual[i] - expected[i]) <= tol)) {
      throw new Error(`${what}[${i}]: got ${actual[i]}, expected ${expected[i]} (tol ${tol})`);
    }
  }
}
