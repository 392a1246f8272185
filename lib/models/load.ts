/**
 * Loads a model directory (manifest.json + safetensors weights) into a network and its weights, checking the
 * manifest's probe layers exist. The caller disposes `weights`.
 */
import { buildNetwork, type Network } from "../nets/network.ts";
import type { LoadOptions, NetWeights } from "../nets/weights.ts";
import { loadWeightsFile } from "../nets/weights_io.ts";
import { type ModelManifest, parseManifest } from "./manifest.ts";

export interface LoadedModel {
  manifest: ModelManifest;
  net: Network;
  weights: NetWeights;
}

/** The network a manifest describes (architecture, width, classes, head, input size). */
export function networkOf(manifest: ModelManifest): Network {
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
  const manifest = parseManifest(await Deno.readTextFile(path), path);
  const net = networkOf(manifest);
  net.assertLayers(manifest.probeLayers);
  const weights = await loadWeightsFile(net, `${dir}/${manifest.weights.file}`, options);
  return { manifest, net, weights };
}
