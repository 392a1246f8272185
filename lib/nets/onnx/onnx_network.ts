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
import { type OnnxGraph, OnnxModelError, readOnnxModel } from "./read_model.ts";

export interface OnnxNetworkOptions {
  numClasses: number;
  inputSize: [number, number];
  /** Names the model in errors. */
  source?: string;
  /**
   * Contrastive excitation backprop's layers when the graph's own choice (the input of its classifier) is not
   * wanted: the contrast layer and the layer with weights whose negation gives the contrast signal.
   */
  contrast?: { layer: string; classifier: string };
}

/** The network of an .onnx file (no weights on the device): for listings and validation. */
export function onnxNetwork(path: string, options: OnnxNetworkOptions): Network {
  const source = options.source ?? path;
  return planOnnx(readOnnxFile(path, source), options, source).net;
}

/** The network and its weights, from an .onnx file. */
export function loadOnnxNetwork(
  path: string,
  options: OnnxNetworkOptions,
  load: LoadOptions = {},
): { net: Network; weights: NetWeights } {
  const source = options.source ?? path;
  return loadOnnxGraph(readOnnxFile(path, source), options, load);
}

/** The network and its weights, from a graph already read (lib/nets/onnx/read_model.ts). */
export function loadOnnxGraph(
  graph: OnnxGraph,
  options: OnnxNetworkOptions,
  load: LoadOptions = {},
): { net: Network; weights: NetWeights } {
  const source = options.source ?? "the ONNX model";
  if (graph.spent) {
    throw new Error(
      `internal: ${source}'s weights were loaded once already (transposed in place); read it again`,
    );
  }
  const { net, params } = planOnnx(graph, options, source);
  // the graph's own bytes (read by readOnnxFile) are transposed where they lie: the model is not held twice
  const weights = weightsFromTorch(net, params, source, { ...load, inPlace: graph.ownsData });
  if (graph.ownsData) graph.spent = true;
  return { net, weights };
}

/** The output shape of one image [1, 3, H, W] through a forward (a shape trace, nothing computed). */
export function outputShape(forward: Forward, [h, w]: [number, number]): number[] {
  return forward(new ShapeOps(), [1, h, w, 3]);
}

/** Reads and decodes an .onnx file (external data from its folder). */
export function readOnnxFile(path: string, source = path): OnnxGraph {
  let bytes: Uint8Array;
  try {
    bytes = readWhole(path);
  } catch (e) {
    throw new OnnxModelError(`${source}: cannot read the model file (${(e as Error).name})`);
  }
  const dir = path.includes("/") ? path.slice(0, path.lastIndexOf("/")) : ".";
  return readOnnxModel(bytes, { dir, source, ownsBytes: true });
}

/** A file's bytes, read straight into one buffer of its size (readFileSync can hold the file twice meanwhile). */
function readWhole(path: string): Uint8Array {
  using file = Deno.openSync(path);
  const bytes = new Uint8Array(file.statSync().size);
  for (let at = 0; at < bytes.length;) {
    const n = file.readSync(bytes.subarray(at));
    if (n === null || n === 0) throw new Error("the file ended before its size");
    at += n;
  }
  return bytes;
}

/** Checks the graph is an image classifier of `options.numClasses` classes and plans it as a Network. */
function planOnnx(graph: OnnxGraph, options: OnnxNetworkOptions, source: string) {
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
    options.contrast
      ? { contrast: options.contrast.layer, classifier: options.contrast.classifier }
      : plan.contrast,
    plan.channelsLast,
  );
  if (options.contrast) {
    const { layer, classifier } = options.contrast;
    const known = new Set([...plan.moduleOf.values()].flat().concat([...plan.rawNames]));
    if (!known.has(layer)) {
      throw new OnnxModelError(
        `${source}: contrast layer ${JSON.stringify(layer)} is not a layer of the graph`,
      );
    }
    if (!plan.params.has(`${classifier}.weight`)) {
      throw new OnnxModelError(
        `${source}: contrast classifier ${
          JSON.stringify(classifier)
        } has no weight to negate (name a conv or ` +
          "linear layer)",
      );
    }
  }
  const out = outputShape(plan.forward, options.inputSize);
  if (out.length !== 2 || out[1] !== options.numClasses) {
    throw new OnnxModelError(
      `${source}: the graph's output is [${out}] for one image; a classifier of ${options.numClasses} classes gives [1, ${options.numClasses}]`,
    );
  }
  return { net, params: plan.params };
}
