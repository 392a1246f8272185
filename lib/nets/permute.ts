/**
 * Axis permutations of row-major host arrays: PyTorch's weight layouts (conv OIHW, linear [out, in]) to retrace's
 * (HWIO, [in, out]), into a new array or in place. In place follows each cycle of the permutation, marking moved
 * elements in a bit set (one bit per element), so a weight needs no second copy on the host.
 */

/** Row-major strides of `shape`. */
function strides(shape: number[]): number[] {
  return shape.map((_, i) => shape.slice(i + 1).reduce((a, b) => a * b, 1));
}

/** For each output index (the permuted shape's row-major order), the input index it takes its value from. */
function sourceIndex(shape: number[], perm: number[]): (o: number) => number {
  const outStrides = strides(perm.map((p) => shape[p]));
  const inStrides = strides(shape);
  const take = perm.map((p) => inStrides[p]); // input stride of each output axis
  if (perm.length === 2) {
    const [s0, t0, t1] = [outStrides[0], take[0], take[1]];
    return (o) => {
      const a = (o / s0) | 0;
      return a * t0 + (o - a * s0) * t1;
    };
  }
  if (perm.length === 4) {
    const [s0, s1, s2] = outStrides;
    const [t0, t1, t2, t3] = take;
    return (o) => {
      const a = (o / s0) | 0;
      let r = o - a * s0;
      const b = (r / s1) | 0;
      r -= b * s1;
      const c = (r / s2) | 0;
      return a * t0 + b * t1 + c * t2 + (r - c * s2) * t3;
    };
  }
  return (o) => {
    let src = 0;
    for (let a = 0, r = o; a < outStrides.length; a++) {
      const i = Math.floor(r / outStrides[a]);
      r -= i * outStrides[a];
      src += i * take[a];
    }
    return src;
  };
}

/** out[i...] = data[perm-ed i...]: axes permuted into a new array (out shape = perm.map((p) => shape[p])). */
export function permuted(data: Float32Array, shape: number[], perm: number[]): Float32Array {
  const out = new Float32Array(data.length);
  const src = sourceIndex(shape, perm);
  for (let o = 0; o < out.length; o++) out[o] = data[src(o)];
  return out;
}

/** The same permutation as `permuted`, written over `data` itself. */
export function permuteInPlace(data: Float32Array, shape: number[], perm: number[]): void {
  if (perm.every((p, i) => p === i)) return;
  const src = sourceIndex(shape, perm);
  const done = new Uint8Array(Math.ceil(data.length / 8));
  for (let start = 0; start < data.length; start++) {
    if (done[start >> 3] & (1 << (start & 7))) continue;
    // the cycle through start: each position takes the value at its source, the last one start's old value
    const first = data[start];
    let at = start;
    for (;;) {
      done[at >> 3] |= 1 << (at & 7);
      const from = src(at);
      if (from === start) {
        data[at] = first;
        break;
      }
      data[at] = data[from];
      at = from;
    }
  }
}
