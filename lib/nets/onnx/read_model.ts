/**
 * Reads an .onnx file into plain data: nodes (op type, name, inputs, outputs, attributes as JS values), constant
 * tensors (initializers and Constant nodes) as typed arrays, the graph inputs with their declared shapes, the
 * outputs and the default-domain opset. Parsing is onnx-proto (the official onnx.proto compiled with protobufjs,
 * the schema onnxruntime-web uses): a maintained decoder of the official schema rather than a hand parser.
 * Tensor data comes from raw_data or the typed fields, F32 / F16 / F64 / INT32 / INT64 (F16 and F64 become F32),
 * or from external-data files beside the model (never outside its folder). Anything else is an OnnxModelError.
 */
import { onnx } from "./proto.ts";
import { decodeF16 } from "../float16.ts";

export class OnnxModelError extends Error {
  override name = "OnnxModelError";
}

export type AttrValue = number | string | number[] | string[] | ConstTensor;

export interface OnnxNode {
  opType: string;
  /** The node's name as the exporter wrote it (torch: "/layer4/layer4.1/relu_1/Relu"); may be empty. */
  name: string;
  /** Input value names ("" = an omitted optional input). */
  inputs: string[];
  outputs: string[];
  attrs: Map<string, AttrValue>;
}

/** A constant: float tensors as Float32Array, integer tensors as plain numbers (shapes, axes, indices). */
export interface ConstTensor {
  dims: number[];
  kind: "float" | "int";
  data: Float32Array | number[];
}

export interface OnnxGraph {
  /** The default domain's opset version. */
  opset: number;
  nodes: OnnxNode[];
  constants: Map<string, ConstTensor>;
  /** Graph inputs that are not constants, with declared dims (a symbolic dim is null). */
  inputs: { name: string; dims: (number | null)[] }[];
  outputs: string[];
  /** External-data files the tensors are read from (relative to the model's folder). */
  externalFiles: string[];
  /**
   * Read with `ownsBytes`: the constants' data are the reader's own, and the first load of the weights transposes
   * them in place (the graph is then `spent`: its weight data are no longer PyTorch's layout).
   */
  ownsData: boolean;
  spent?: boolean;
}

export const SUPPORTED_OPSETS = { min: 11, max: 17 };

const T = onnx.TensorProto.DataType;
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Number from a protobufjs int64 (a Long or a number). */
function num(v: unknown): number {
  return typeof v === "number" ? v : Number(String(v));
}

export interface ReadOptions {
  /** The model's folder, for external data files. */
  dir?: string;
  /** Names the model in errors. */
  source?: string;
  /**
   * The caller hands `bytes` over (they are not read again): unaligned float data is then moved into alignment
   * inside them (over its own field header) rather than copied, so the model is not held twice.
   */
  ownsBytes?: boolean;
}

export function readOnnxModel(bytes: Uint8Array, options: ReadOptions = {}): OnnxGraph {
  const source = options.source ?? "the ONNX model";
  let model: onnx.ModelProto;
  try {
    model = onnx.ModelProto.decode(bytes);
  } catch (e) {
    throw new OnnxModelError(`${source}: not an ONNX model (${(e as Error).message})`);
  }
  const graph = model.graph;
  if (!graph || !graph.node?.length) {
    throw new OnnxModelError(`${source}: the model has no graph or no nodes`);
  }
  const defaultOpset = (model.opsetImport ?? []).find((o) => !o.domain || o.domain === "ai.onnx");
  const opset = defaultOpset ? num(defaultOpset.version) : 0;
  if (opset < SUPPORTED_OPSETS.min || opset > SUPPORTED_OPSETS.max) {
    throw new OnnxModelError(
      `${source}: opset ${opset} is not supported; export with opset_version ${SUPPORTED_OPSETS.min}..${SUPPORTED_OPSETS.max}`,
    );
  }
  const constants = new Map<string, ConstTensor>();
  const files = new Set<string>();
  const read = (t: onnx.ITensorProto) => tensorOf(t, source, options.dir, files, options.ownsBytes === true);
  for (const t of graph.initializer ?? []) constants.set(t.name ?? "", read(t));
  const nodes: OnnxNode[] = [];
  for (const n of graph.node) {
    const domain = n.domain ?? "";
    if (domain !== "" && domain !== "ai.onnx") {
      throw new OnnxModelError(
        `${source}: node ${
          JSON.stringify(n.name)
        } is from domain "${domain}"; only ONNX's own ops are supported`,
      );
    }
    const attrs = new Map<string, AttrValue>();
    for (const a of n.attribute ?? []) attrs.set(a.name ?? "", attrValue(a, read, source));
    const node = {
      opType: n.opType ?? "",
      name: n.name ?? "",
      inputs: [...(n.input ?? [])],
      outputs: [...(n.output ?? [])],
      attrs,
    };
    if (node.opType === "Constant") {
      const value = attrs.get("value");
      if (!value || typeof value !== "object" || Array.isArray(value)) {
        throw new OnnxModelError(
          `${source}: Constant node ${JSON.stringify(node.name)} has no tensor "value"`,
        );
      }
      constants.set(node.outputs[0], value as ConstTensor);
      continue;
    }
    nodes.push(node);
  }
  const inputs = (graph.input ?? []).filter((i) => !constants.has(i.name ?? "")).map((i) => ({
    name: i.name ?? "",
    dims: (i.type?.tensorType?.shape?.dim ?? []).map((
      d,
    ) => (d.dimValue != null && !d.dimParam ? num(d.dimValue) : null)),
  }));
  const outputs = (graph.output ?? []).map((o) => o.name ?? "");
  return {
    opset,
    nodes,
    constants,
    inputs,
    outputs,
    externalFiles: [...files],
    ownsData: options.ownsBytes === true,
  };
}

function attrValue(
  a: onnx.IAttributeProto,
  read: (t: onnx.ITensorProto) => ConstTensor,
  source: string,
): AttrValue {
  const A = onnx.AttributeProto.AttributeType;
  switch (a.type) {
    case A.FLOAT:
      return a.f ?? 0;
    case A.INT:
      return num(a.i ?? 0);
    case A.STRING:
      return new TextDecoder().decode(a.s ?? new Uint8Array());
    case A.TENSOR:
      return read(a.t!);
    case A.FLOATS:
      return [...(a.floats ?? [])];
    case A.INTS:
      return (a.ints ?? []).map(num);
    case A.STRINGS:
      return (a.strings ?? []).map((s) => new TextDecoder().decode(s));
    default:
      throw new OnnxModelError(
        `${source}: attribute ${JSON.stringify(a.name)} has a type retrace does not read (${a.type})`,
      );
  }
}

/** TensorProto's raw_data field (number 9, length-delimited) as its tag byte. */
const RAW_DATA_TAG = (9 << 3) | 2;

/**
 * Moves `raw` (a view on the model's bytes, not 4-byte aligned) down to the 4-byte boundary below it, over the
 * bytes of its own field header (the tag and the length varint, decoded already and read by nothing else), and
 * returns the new byte offset; null when the header is shorter than the move (data under 16 KB can need that;
 * it is copied instead).
 */
function alignInPlace(raw: Uint8Array): number | null {
  const shift = raw.byteOffset % 4;
  let varint = 1;
  for (let n = raw.byteLength; n >= 0x80; n = Math.floor(n / 0x80)) varint++;
  const header = 1 + varint;
  const bytes = new Uint8Array(raw.buffer);
  if (header < shift || bytes[raw.byteOffset - header] !== RAW_DATA_TAG) return null;
  bytes.copyWithin(raw.byteOffset - shift, raw.byteOffset, raw.byteOffset + raw.byteLength);
  return raw.byteOffset - shift;
}

function tensorOf(
  t: onnx.ITensorProto,
  source: string,
  dir: string | undefined,
  files: Set<string>,
  ownsBytes: boolean,
): ConstTensor {
  const dims = (t.dims ?? []).map(num);
  const count = dims.reduce((a, b) => a * b, 1);
  const name = JSON.stringify(t.name ?? "");
  let raw = t.rawData && t.rawData.length ? t.rawData : null;
  if (t.dataLocation === onnx.TensorProto.DataLocation.EXTERNAL) raw = externalBytes(t, source, dir, files);
  const type = t.dataType ?? 0;
  const view = (bytesPer: number) => {
    if (raw!.length !== count * bytesPer) {
      throw new OnnxModelError(
        `${source}: tensor ${name} has ${raw!.length} bytes for ${count} values of ${bytesPer} bytes`,
      );
    }
    return new DataView(raw!.buffer, raw!.byteOffset, raw!.byteLength);
  };
  switch (type) {
    case T.FLOAT: {
      if (!raw) return { dims, kind: "float", data: Float32Array.from(t.floatData ?? []) };
      const dv = view(4);
      // A view on the file's bytes where they are 4-byte aligned (this host is little-endian, as ONNX data is):
      // a 100 MB model is then not copied once more on its way to the device.
      if (LITTLE_ENDIAN && raw.byteOffset % 4 === 0) {
        return { dims, kind: "float", data: new Float32Array(raw.buffer, raw.byteOffset, count) };
      }
      const aligned = LITTLE_ENDIAN && ownsBytes && t.dataLocation !== onnx.TensorProto.DataLocation.EXTERNAL
        ? alignInPlace(raw)
        : null;
      if (aligned !== null) {
        return { dims, kind: "float", data: new Float32Array(raw.buffer, aligned, count) };
      }
      const out = new Float32Array(count);
      for (let i = 0; i < count; i++) out[i] = dv.getFloat32(4 * i, true);
      return { dims, kind: "float", data: out };
    }
    case T.FLOAT16: {
      if (!raw) return { dims, kind: "float", data: decodeF16(Uint16Array.from(t.int32Data ?? [])) };
      const dv = view(2);
      const halves = new Uint16Array(count);
      for (let i = 0; i < count; i++) halves[i] = dv.getUint16(2 * i, true);
      return { dims, kind: "float", data: decodeF16(halves) };
    }
    case T.DOUBLE: {
      if (!raw) return { dims, kind: "float", data: Float32Array.from(t.doubleData ?? []) };
      const dv = view(8);
      return {
        dims,
        kind: "float",
        data: Float32Array.from({ length: count }, (_, i) => dv.getFloat64(8 * i, true)),
      };
    }
    case T.INT64: {
      if (!raw) return { dims, kind: "int", data: (t.int64Data ?? []).map(num) };
      const dv = view(8);
      return {
        dims,
        kind: "int",
        data: Array.from({ length: count }, (_, i) => Number(dv.getBigInt64(8 * i, true))),
      };
    }
    case T.INT32: {
      if (!raw) return { dims, kind: "int", data: [...(t.int32Data ?? [])] };
      const dv = view(4);
      return { dims, kind: "int", data: Array.from({ length: count }, (_, i) => dv.getInt32(4 * i, true)) };
    }
    default:
      throw new OnnxModelError(
        `${source}: tensor ${name} has data type ${onnx.TensorProto.DataType[type] ?? type}; ` +
          "retrace reads FLOAT, FLOAT16, DOUBLE, INT32 and INT64",
      );
  }
}

/** The bytes of an external-data tensor: a file in the model's folder, at offset, of length. */
function externalBytes(
  t: onnx.ITensorProto,
  source: string,
  dir: string | undefined,
  files: Set<string>,
): Uint8Array {
  const entry = new Map((t.externalData ?? []).map((e) => [e.key ?? "", e.value ?? ""]));
  const location = entry.get("location") ?? "";
  if (!dir) {
    throw new OnnxModelError(
      `${source}: tensor ${JSON.stringify(t.name)} is in an external file, and no folder was given`,
    );
  }
  if (!location || location.startsWith("/") || location.split(/[\\/]/).includes("..")) {
    throw new OnnxModelError(
      `${source}: external data location ${JSON.stringify(location)} must be a file in the model's folder`,
    );
  }
  let file: Uint8Array;
  try {
    file = Deno.readFileSync(`${dir}/${location}`);
  } catch (e) {
    throw new OnnxModelError(
      `${source}: cannot read external data ${JSON.stringify(location)} (${(e as Error).name})`,
    );
  }
  files.add(location);
  const offset = Number(entry.get("offset") ?? 0);
  const length = entry.has("length") ? Number(entry.get("length")) : file.length - offset;
  if (!(offset >= 0 && length >= 0 && offset + length <= file.length)) {
    throw new OnnxModelError(
      `${source}: external data ${
        JSON.stringify(location)
      } is too short for offset ${offset} + length ${length}`,
    );
  }
  return file.subarray(offset, offset + length);
}
