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

const networks = new WeakMap<ModelManifest, Network>();

/** The path of an imported model's .onnx file. */
function onnxPath(manifest: ModelManifest): string {
  return `${manifest.dir ?? "."}/${manifest.weights.file}`;
}

/**
 * The network a manifest describes (architecture, width, classes, head, input size); for an imported graph
 * (arch "onnx"), the planned graph of its .onnx file. Built once per manifest object (names and shapes only, no
 * weights), so the routes and the evaluation checks that ask again get the same one.
 */
export function networkOf(manifest: ModelManifest): Network {
  let net = networks.get(manifest);
  if (!net) networks.set(manifest, net = buildNetworkOf(manifest));
  return net;
}

function buildNetworkOf(manifest: ModelManifest): Network {
  if (manifest.arch === "onnx") {
    return onnxNetwork(onnxPath(manifest), {
      numClasses: manifest.numClasses,
      inputSize: manifest.inputSize,
      contrast: manifest.contrast,
    });
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
    const shape = {
      numClasses: manifest.numClasses,
      inputSize: manifest.inputSize,
      contrast: manifest.contrast,
    };
    const { net, weights } = loadOnnxNetwork(onnxPath(manifest), shape, options);
    net.assertLayers(manifest.probeLayers);
    return { manifest, net, weights };
  }
  const net = networkOf(manifest);
  net.assertLayers(manifest.probeLayers);
  const weights = await loadWeightsFile(net, `${dir}/${manifest.weights.file}`, options);
  return { manifest, net, weights };
}
