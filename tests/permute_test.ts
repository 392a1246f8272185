/**
 * Host axis permutations (lib/nets/permute.ts): a hand-worked transpose, and the in-place permutation equal to
 * the copying one for PyTorch's weight layouts on many shapes (cycles of every length, size-1 axes).
 */
import assert from "node:assert/strict";
import { permuted, permuteInPlace } from "../lib/nets/permute.ts";

Deno.test("permuted: a 2x3 matrix transposed, and OIHW -> HWIO on a 2x1x1x2 conv weight, by hand", () => {
  // [[1, 2, 3], [4, 5, 6]] -> [[1, 4], [2, 5], [3, 6]]
  assert.deepEqual([...permuted(Float32Array.of(1, 2, 3, 4, 5, 6), [2, 3], [1, 0])], [1, 4, 2, 5, 3, 6]);
  // w[o][i][h][w]: o=0 -> (1, 2) along w, o=1 -> (3, 4); HWIO [1, 2, 1, 2]: w=0 -> (o0, o1) = (1, 3), w=1 -> (2, 4)
  assert.deepEqual([...permuted(Float32Array.of(1, 2, 3, 4), [2, 1, 1, 2], [2, 3, 1, 0])], [1, 3, 2, 4]);
});

Deno.test("permuteInPlace gives permuted's array for conv and linear layouts on many shapes", () => {
  let seed = 7;
  const rand = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  const shapes = [[3, 5], [1, 7], [64, 3], [8, 3, 3, 3], [5, 1, 7, 1], [16, 8, 1, 1], [3, 4, 5, 6], [
    7,
    7,
    2,
    3,
  ]];
  for (const shape of shapes) {
    const perms = shape.length === 2 ? [[1, 0]] : [[2, 3, 1, 0], [3, 2, 0, 1], [0, 1, 2, 3], [1, 0, 3, 2]];
    for (const perm of perms) {
      const n = shape.reduce((a, b) => a * b, 1);
      const data = Float32Array.from({ length: n }, rand);
      const want = permuted(data, shape, perm);
      permuteInPlace(data, shape, perm);
      assert.deepEqual([...data], [...want], `[${shape}] by [${perm}]`);
    }
  }
});

Deno.test("permuted: a 3-D permutation (the general path)", () => {
  // x[i][j][k] = 100i + 10j + k, shape [2, 3, 2], perm [2, 0, 1]: out[k][i][j]
  const data = Float32Array.from(
    { length: 12 },
    (_, n) => 100 * Math.floor(n / 6) + 10 * (Math.floor(n / 2) % 3) + n % 2,
  );
  const out = permuted(data, [2, 3, 2], [2, 0, 1]);
  assert.deepEqual([...out], [0, 10, 20, 100, 110, 120, 1, 11, 21, 101, 111, 121]);
});
