/**
 * An imported ONNX classifier as a retrace Network plus its NetWeights: read (lib/nets/onnx/read_model.ts), planned
 * into a NetOps forward (lib/nets/onnx/graph_forward.ts), assembled like the hand-written networks and loaded
 * through the same strict weights path (PyTorch layouts converted once). The caller disposes the weights.
 */
import { assembleNetwork, type Network } from "../network.ts";
import type { Forward } from "../ops.ts";
import { ShapeOps } from "../shape_ops.ts";
import { type LoadOptions, type NetWeights, weightsFromTorch } from "../weights.ts";
import { planGraph } from "./graph_forward.ts";
import { OnnxModelError, readOnnxModel } from "./read_model.ts";

export interface OnnxNetworkOptions {
  numClasses: number;
  inputSize: [number, number];
  /** Names the model in errors. */
  source?: string;
}

/** The network of an .onnx file (no weights on the device): for listings and validation. */
export function onnxNetwork(path: string, options: OnnxNetworkOptions): Network {
  return readAndPlan(path, options).net;
}

/** The network and its weights. */
export function loadOnnxNetwork(
  path: string,
  options: OnnxNetworkOptions,
  load: LoadOptions = {},
): { net: Network; weights: NetWeights } {
  const { net, params, source } = readAndPlan(path, options);
  return { net, weights: weightsFromTorch(net, params, source, load) };
}

/** The output shape of one image [1, 3, H, W] through a forward (a shape trace, nothing computed). */
export function outputShape(forward: Forward, [h, w]: [number, number]): number[] {
  return forward(new ShapeOps(), [1, h, w, 3]);
}

function readAndPlan(path: string, options: OnnxNetworkOptions) {
  const source = options.source ?? path;
  let bytes: Uint8Array;
  try {
    bytes = Deno.readFileSync(path);
  } catch (e) {
    throw new OnnxModelError(`${source}: cannot read the model file (${(e as Error).name})`);
  }
  const dir = path.includes("/") ? path.slice(0, path.lastIndexOf("/")) : ".";
  const graph = readOnnxModel(bytes, { dir, source });
  const declared = graph.inputs[0]?.dims ?? [];
  if (declared.length !== 4 || (declared[1] !== null && declared[1] !== 3)) {
    throw new OnnxModelError(
      `${source}: the input must be an image [N, 3, H, W]; it is declared [${declared.map((d) => d ?? "?")}]`,
    );
  }
  const plan = planGraph(graph, source);
  const net = assembleNetwork(
    {
      arch: "onnx",
      numClasses: options.numClasses,
      width: 1,
      head: "classifier",
      inputSize: options.inputSize,
    },
    plan.forward,
    plan.rawNames,
    plan.contrast,
  );
  const out = outputShape(plan.forward, options.inputSize);
  if (out.length !== 2 || out[1] !== options.numClasses) {
    throw new OnnxModelError(
      `${source}: the graph's output is [${out}] for one image; a classifier of ${options.numClasses} classes gives [1, ${options.numClasses}]`,
    );
  }
  return { net, params: plan.params, source };
}
