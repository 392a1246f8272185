/**
 * Weights files: safetensors with torchvision state_dict names (F32, F16 or BF16) <-> NetWeights.
 * Reading is strict (lib/nets/weights.ts lists every missing / unexpected / mis-shaped key at once); a
 * corrupt or truncated file is a SafetensorsError naming the file and what is wrong.
 */
import type { Network } from "./network.ts";
import { type FloatDtype, readSafetensors, type TensorInput, writeSafetensors } from "./safetensors.ts";
import {
  type LoadOptions,
  type NetWeights,
  type TorchTensor,
  weightsFromTorch,
  weightsToTorch,
} from "./weights.ts";

/** Builds NetWeights for `net` from the bytes of a safetensors file. `source` names it in errors. */
export function weightsFromSafetensors(
  net: Network,
  bytes: Uint8Array,
  source = "weights",
  options: LoadOptions = {},
): NetWeights {
  const file = readSafetensors(bytes, source);
  const entries = new Map<string, TorchTensor>();
  for (const [name, t] of file.tensors) {
    entries.set(name, { shape: t.shape, data: t.data as TorchTensor["data"] });
  }
  return weightsFromTorch(net, entries, source, options);
}

/** Reads a safetensors file from disk into NetWeights for `net`. */
export async function loadWeightsFile(
  net: Network,
  path: string,
  options: LoadOptions = {},
): Promise<NetWeights> {
  return weightsFromSafetensors(net, await Deno.readFile(path), path, options);
}

/** Encodes weights as safetensors (PyTorch layouts, torchvision names) in the given float dtype. */
export async function weightsToSafetensors(
  weights: NetWeights,
  dtype: FloatDtype = "F32",
  metadata: Record<string, string> = {},
): Promise<Uint8Array> {
  const tensors = new Map<string, TensorInput>();
  for (const [name, t] of await weightsToTorch(weights)) tensors.set(name, { ...t, dtype });
  return writeSafetensors(tensors, metadata);
}
