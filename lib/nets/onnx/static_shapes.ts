/**
 * Static values folded at load: Identity of a constant (torch writes one for each weight it shares) and the shape
 * arithmetic: the Shape -> Gather -> Add/Div/Mul -> Unsqueeze -> Concat chains that
 * torch.onnx.export writes for `x.size(...)`, `view(b, -1, ...)` and `chunk`. A node folds when it is Shape (of a
 * value whose shape the planner knows from a shape trace) or integer arithmetic over constants only; its output
 * becomes a constant and the executor never sees it. Integer division truncates toward zero, as ONNX Div does
 * on integers.
 */
import type { ConstTensor, OnnxNode } from "./read_model.ts";

/** Op types this module can fold (when their inputs are static). */
export const STATIC_OPS = [
  "Shape",
  "ConstantOfShape",
  "Gather",
  "Unsqueeze",
  "Squeeze",
  "Cast",
  "Concat",
  "Slice",
  "Add",
  "Sub",
  "Mul",
  "Div",
];

const ints = (data: number[], dims: number[]): ConstTensor => ({ dims, kind: "int", data });

/**
 * The constant `node` computes, or null when it is not static: `constant(name)` gives constant inputs,
 * `shapeOf(name)` a computed value's NCHW shape (for Shape).
 */
export function foldStatic(
  node: OnnxNode,
  constant: (name: string) => ConstTensor | undefined,
  shapeOf: (name: string) => number[],
): ConstTensor | null {
  if (node.opType === "Identity") return constant(node.inputs[0]) ?? null; // torch's copy of a shared weight
  if (node.opType === "Shape") {
    if (node.attrs.has("start") || node.attrs.has("end")) return null;
    const s = constant(node.inputs[0])?.dims ?? shapeOf(node.inputs[0]);
    return ints([...s], [s.length]);
  }
  if (node.opType === "ConstantOfShape") {
    // a tensor of the given (constant) shape filled with `value` (default float 0)
    const shape = constant(node.inputs[0]);
    if (!shape || shape.kind !== "int") return null;
    const dims = shape.data as number[];
    const n = dims.reduce((p, d) => p * d, 1);
    const value = node.attrs.get("value") as ConstTensor | undefined;
    const v = value ? Number(value.data[0]) : 0;
    if (!value || value.kind === "float") return { dims, kind: "float", data: new Float32Array(n).fill(v) };
    return ints(new Array(n).fill(v), dims);
  }
  if (!STATIC_OPS.includes(node.opType)) return null;
  const inputs = node.inputs.filter(Boolean).map(constant);
  if (inputs.some((t) => !t || t.kind !== "int")) return null;
  const [a, b] = inputs as ConstTensor[];
  const av = a.data as number[];
  switch (node.opType) {
    case "Gather": {
      if ((node.attrs.get("axis") ?? 0) !== 0 || a.dims.length !== 1) return null;
      const idx = (b.data as number[]).map((i) => av[i < 0 ? i + av.length : i]);
      return ints(idx, b.dims);
    }
    case "Unsqueeze":
    case "Squeeze":
    case "Cast":
      // values unchanged; the shapes of these small vectors (scalar or 1-D) only decide how Concat joins them
      return ints(av, node.opType === "Unsqueeze" ? [av.length] : a.dims.length ? a.dims : []);
    case "Concat":
      if ((node.attrs.get("axis") ?? 0) !== 0) return null;
      return ints((inputs as ConstTensor[]).flatMap((t) => t.data as number[]), [
        (inputs as ConstTensor[]).reduce((n, t) => n + t.data.length, 0),
      ]);
    case "Slice": {
      const [, starts, ends, axes, steps] = inputs as ConstTensor[];
      if (a.dims.length !== 1 || (axes && axes.data[0] !== 0) || (steps && steps.data[0] !== 1)) return null;
      const n = av.length;
      const clamp = (v: number) => Math.max(0, Math.min(n, v < 0 ? v + n : v));
      const out = av.slice(clamp(starts.data[0] as number), clamp(ends.data[0] as number));
      return ints(out, [out.length]);
    }
    default: {
      const bv = b.data as number[];
      if (av.length !== bv.length && av.length !== 1 && bv.length !== 1) return null;
      const n = Math.max(av.length, bv.length);
      const at = (v: number[], i: number) => v[v.length === 1 ? 0 : i];
      const op = {
        Add: (x: number, y: number) => x + y,
        Sub: (x: number, y: number) => x - y,
        Mul: (x: number, y: number) => x * y,
        Div: (x: number, y: number) => Math.trunc(x / y),
      }[node.opType as "Add" | "Sub" | "Mul" | "Div"];
      const out = Array.from({ length: n }, (_, i) => op(at(av, i), at(bv, i)));
      return ints(out, av.length >= bv.length ? a.dims : b.dims);
    }
  }
}
