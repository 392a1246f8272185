/**
 * onnx-proto's message classes (the official onnx.proto compiled with protobufjs). The package is CommonJS and
 * assigns its namespace at run time, which Deno's named-export detection cannot see: the default export holds it.
 */
import type { onnx as OnnxNamespace } from "onnx-proto";
import pkg from "onnx-proto";

export const onnx = (pkg as unknown as { onnx: typeof OnnxNamespace }).onnx;
export declare namespace onnx {
  export type ModelProto = OnnxNamespace.ModelProto;
  export type IAttributeProto = OnnxNamespace.IAttributeProto;
  export type ITensorProto = OnnxNamespace.ITensorProto;
}
