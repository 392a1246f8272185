/**
 * Hand-made ONNX models for tests, encoded with onnx-proto: float initializers, nodes with attributes, one
 * [N, 3, H, W] input and one output.
 */
import { onnx } from "../../lib/nets/onnx/proto.ts";

export type Attr = number | number[] | string | { floats: number[] } | { float: number };

export interface NodeSpec {
  op: string;
  name: string;
  inputs: string[];
  output: string;
  attrs?: Record<string, Attr>;
}

export interface ModelSpec {
  inputDims: (number | string)[];
  nodes: NodeSpec[];
  initializers: Record<string, { dims: number[]; data: Float32Array | number[]; int64?: boolean }>;
  output: string;
  opset?: number;
}

function attribute(name: string, v: Attr): onnx.IAttributeProto {
  const A = onnx.AttributeProto.AttributeType;
  if (typeof v === "string") return { name, type: A.STRING, s: new TextEncoder().encode(v) };
  if (Array.isArray(v)) return { name, type: A.INTS, ints: v };
  if (typeof v === "object" && "floats" in v) return { name, type: A.FLOATS, floats: v.floats };
  if (typeof v === "object" && "float" in v) return { name, type: A.FLOAT, f: v.float };
  return { name, type: A.INT, i: v };
}

export function onnxModel(spec: ModelSpec): Uint8Array {
  const T = onnx.TensorProto.DataType;
  const model = onnx.ModelProto.create({
    irVersion: 8,
    opsetImport: [{ domain: "", version: spec.opset ?? 13 }],
    producerName: "retrace tests",
    graph: {
      name: "test",
      node: spec.nodes.map((n) => ({
        opType: n.op,
        name: n.name,
        input: n.inputs,
        output: [n.output],
        attribute: Object.entries(n.attrs ?? {}).map(([k, v]) => attribute(k, v)),
      })),
      initializer: Object.entries(spec.initializers).map(([name, t]) =>
        t.int64 ? { name, dims: t.dims, dataType: T.INT64, int64Data: [...t.data] } : {
          name,
          dims: t.dims,
          dataType: T.FLOAT,
          rawData: new Uint8Array(Float32Array.from(t.data).buffer),
        }
      ),
      input: [{
        name: "input",
        type: {
          tensorType: {
            elemType: T.FLOAT,
            shape: {
              dim: spec.inputDims.map((d) => (typeof d === "number" ? { dimValue: d } : { dimParam: d })),
            },
          },
        },
      }],
      output: [{ name: spec.output, type: { tensorType: { elemType: T.FLOAT } } }],
    },
  });
  return onnx.ModelProto.encode(model).finish();
}

/** Seeded values in [-1, 1). */
export function seeded(count: number, seed: number): Float32Array {
  let s = seed >>> 0 || 1;
  return Float32Array.from({ length: count }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 31 - 1;
  });
}
