/**
 * Load-time folding of ONNX's static values (lib/nets/onnx/static_shapes.ts) on hand-made nodes, against values
 * worked out by hand from the ONNX operator specification.
 */
import assert from "node:assert/strict";
import { foldStatic } from "../lib/nets/onnx/static_shapes.ts";
import type { AttrValue, ConstTensor, OnnxNode } from "../lib/nets/onnx/read_model.ts";

const node = (opType: string, inputs: string[], attrs: [string, AttrValue][] = []): OnnxNode => ({
  opType,
  name: `/${opType}`,
  inputs,
  outputs: ["y"],
  attrs: new Map(attrs),
});
const ints = (data: number[]): ConstTensor => ({ dims: [data.length], kind: "int", data });
const noShape = (n: string): number[] => {
  throw new Error(`no shape asked for ${n}`);
};

Deno.test("ConstantOfShape folds to a filled constant: float 0 by default, else the value tensor's type", () => {
  const consts = new Map<string, ConstTensor>([["s", ints([2, 3])]]);
  const zero = foldStatic(node("ConstantOfShape", ["s"]), (n) => consts.get(n), noShape)!;
  assert.deepEqual(zero.dims, [2, 3]);
  assert.equal(zero.kind, "float");
  assert.deepEqual([...zero.data], [0, 0, 0, 0, 0, 0]);
  const one = foldStatic(
    node("ConstantOfShape", ["s"], [["value", { dims: [1], kind: "int", data: [1] }]]),
    (n) => consts.get(n),
    noShape,
  )!;
  assert.deepEqual([one.kind, one.dims, [...one.data]], ["int", [2, 3], [1, 1, 1, 1, 1, 1]]);
  const half = foldStatic(
    node("ConstantOfShape", ["s"], [["value", { dims: [1], kind: "float", data: Float32Array.of(0.5) }]]),
    (n) => consts.get(n),
    noShape,
  )!;
  assert.deepEqual([...half.data], [0.5, 0.5, 0.5, 0.5, 0.5, 0.5]);
  // a shape computed at run time is not static: nothing folds
  assert.equal(foldStatic(node("ConstantOfShape", ["x"]), () => undefined, noShape), null);
});

Deno.test("shape arithmetic: Shape of a traced value, Gather, Div truncating toward zero, Concat", () => {
  const consts = new Map<string, ConstTensor>();
  const fold = (out: string, n: OnnxNode) => {
    const t = foldStatic(n, (k) => consts.get(k), (k) => (k === "x" ? [1, 24, 7, 7] : noShape(k)))!;
    consts.set(out, t);
    return t.data;
  };
  consts.set("i", { dims: [], kind: "int", data: [1] });
  consts.set("k", ints([-5]));
  assert.deepEqual(fold("shape", node("Shape", ["x"])), [1, 24, 7, 7]);
  assert.deepEqual(fold("c", node("Gather", ["shape", "i"])), [24]);
  assert.deepEqual(fold("q", node("Div", ["c", "k"])), [-4]); // 24 / -5 = -4.8 -> -4
  assert.deepEqual(fold("cat", node("Concat", ["q", "k"], [["axis", 0]])), [-4, -5]);
});
