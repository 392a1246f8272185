/**
 * Hand-made ONNX models for tests, encoded with onnx-proto: float initializers (F32 or F16, inline or in an
 * external-data file), nodes with attributes, one [N, 3, H, W] input and one output.
 */
import { onnx } from "../../lib/nets/onnx/proto.ts";
import { encodeF16 } from "../../lib/nets/float16.ts";
import { concat } from "./test_png.ts";

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
  /** Float initializers stored as FLOAT16 raw data. */
  float16?: boolean;
  /** Float initializers stored in this external-data file (relative to the model); its bytes go to `external`. */
  externalFile?: string;
}

/** The bytes of the external-data file of the last onnxModel() call that asked for one. */
export const external: { bytes: Uint8Array } = { bytes: new Uint8Array() };

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
  const parts: Uint8Array[] = [];
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
      initializer: Object.entries(spec.initializers).map(([name, t]) => {
        if (t.int64) return { name, dims: t.dims, dataType: T.INT64, int64Data: [...t.data] };
        const raw = spec.float16
          ? new Uint8Array(encodeF16(Float32Array.from(t.data)).buffer)
          : new Uint8Array(Float32Array.from(t.data).buffer);
        const dataType = spec.float16 ? T.FLOAT16 : T.FLOAT;
        if (!spec.externalFile) return { name, dims: t.dims, dataType, rawData: raw };
        const offset = parts.reduce((n, p) => n + p.length, 0);
        parts.push(raw);
        return {
          name,
          dims: t.dims,
          dataType,
          dataLocation: onnx.TensorProto.DataLocation.EXTERNAL,
          externalData: [
            { key: "location", value: spec.externalFile },
            { key: "offset", value: String(offset) },
            { key: "length", value: String(raw.length) },
          ],
        };
      }),
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
  if (spec.externalFile) external.bytes = concat(parts);
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
