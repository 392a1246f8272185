/**
 * Loads a model directory (manifest.json + safetensors weights, or an imported .onnx graph) into a network and its
 * weights, checking the manifest's probe layers exist. The caller disposes `weights`.
 */
import { buildNetwork, type Network } from "../nets/network.ts";
import type { LoadOptions, NetWeights } from "../nets/weights.ts";
import { loadWeightsFile } from "../nets/weights_io.ts";
import { type ModelManifest, parseManifest } from "./manifest.ts";
import { loadOnnxNetwork, onnxNetwork } from "../nets/onnx/onnx_network.ts";

export interface LoadedModel {
  manifest: ModelManifest;
  net: Network;
  weights: NetWeights;
}

const onnxNetworks = new Map<string, Network>();

/** The path of an imported model's .onnx file. */
function onnxPath(manifest: ModelManifest): string {
  return `${manifest.dir ?? "."}/${manifest.weights.file}`;
}

/**
 * The network a manifest describes (architecture, width, classes, head, input size); for an imported graph
 * (arch "onnx"), the planned graph of its .onnx file, read once per path.
 */
export function networkOf(manifest: ModelManifest): Network {
  if (manifest.arch === "onnx") {
    const path = onnxPath(manifest);
    let net = onnxNetworks.get(path);
    if (!net) {
      net = onnxNetwork(path, { numClasses: manifest.numClasses, inputSize: manifest.inputSize });
      onnxNetworks.set(path, net);
    }
    return net;
  }
  return buildNetwork({
    arch: manifest.arch,
    width: manifest.width,
    numClasses: manifest.numClasses,
    head: manifest.head,
    inputSize: manifest.inputSize,
  });
}

export async function loadModel(dir: string, options: LoadOptions = {}): Promise<LoadedModel> {
  const path = `${dir}/manifest.json`;
  const manifest = parseManifest(await Deno.readTextFile(path), path, dir);
  if (manifest.arch === "onnx") {
    const shape = { numClasses: manifest.numClasses, inputSize: manifest.inputSize };
    const { net, weights } = loadOnnxNetwork(onnxPath(manifest), shape, options);
    net.assertLayers(manifest.probeLayers);
    return { manifest, net, weights };
  }
  const net = networkOf(manifest);
  net.assertLayers(manifest.probeLayers);
  const weights = await loadWeightsFile(net, `${dir}/${manifest.weights.file}`, options);
  return { manifest, net, weights };
}
