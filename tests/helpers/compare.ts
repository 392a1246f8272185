/** Test helpers: relative error max|a - b| / max|b| between two tensors or arrays of the same size. */
import { type Tensor, tf } from "../../lib/runtime/tf.ts";

type Values = Tensor | ArrayLike<number>;

function values(v: Values): Float32Array {
  return v instanceof tf.Tensor ? (v.dataSync() as Float32Array) : Float32Array.from(v);
}

export function relErr(a: Values, b: Values): number {
  const x = values(a);
  const y = values(b);
  if (x.length !== y.length) throw new Error(`relErr: sizes differ (${x.length} vs ${y.length})`);
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
