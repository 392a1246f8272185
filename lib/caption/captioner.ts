/**
 * Loads a shipped image captioner (models/<name>/, written by tools/train_captioner.py): the backbone (a
 * torchvision-named ResNet, "backbone." prefix in the weights file) through lib/nets like any classifier, and the
 * LSTM decoder's tensors (img_embed, embed, lstm, logit) into a Decoder. Also: pooled features of an image and
 * text <-> tokens, with an out-of-vocabulary word a CaptionInputError naming it.
 */
import type { Network } from "../nets/network.ts";
import { networkOf } from "../models/load.ts";
import { runProbed } from "../nets/probes.ts";
import { readSafetensors } from "../nets/safetensors.ts";
import { type NetWeights, type TorchTensor, weightsFromTorch } from "../nets/weights.ts";
import type { LoadOptions } from "../nets/weights.ts";
import { type ModelManifest, parseManifest } from "../models/manifest.ts";
import { type Tensor, tf } from "../runtime/tf.ts";
import { Decoder } from "./decoder.ts";

export interface DecoderManifest {
  embed: number;
  hidden: number;
  vocabulary: string[];
  maxLength: number;
}

export interface Captioner {
  manifest: ModelManifest & { decoder: DecoderManifest };
  net: Network;
  weights: NetWeights;
  decoder: Decoder;
  dispose(): void;
}

export class CaptionInputError extends Error {
  override name = "CaptionInputError";
}

/** The layer whose activation feeds the decoder (global average pooling of layer4). */
export const POOLED_LAYER = "avgpool";

function decoderManifest(m: ModelManifest, source: string): DecoderManifest {
  const d = (m as { decoder?: Partial<DecoderManifest> }).decoder;
  const ok = d && Number.isInteger(d.embed) && Number.isInteger(d.hidden) && Number.isInteger(d.maxLength) &&
    Array.isArray(d.vocabulary) && d.vocabulary.every((w) => typeof w === "string" && w.length > 0);
  if (!ok) {
    throw new CaptionInputError(`${source}: decoder must give embed, hidden, maxLength and vocabulary`);
  }
  return d as DecoderManifest;
}

/** Loads models/<dir> (manifest.json with a decoder section + the weights file). */
export async function loadCaptioner(dir: string, options: LoadOptions = {}): Promise<Captioner> {
  const source = `${dir}/manifest.json`;
  const manifest = parseManifest(await Deno.readTextFile(source), source);
  const decoder = decoderManifest(manifest, source);
  const net = networkOf(manifest);
  net.assertLayers([...manifest.probeLayers, POOLED_LAYER]);
  const path = `${dir}/${manifest.weights.file}`;
  const file = readSafetensors(await Deno.readFile(path), path);
  const prefix = (manifest.weights as { backbonePrefix?: string }).backbonePrefix ?? "backbone.";
  const backbone = new Map<string, TorchTensor>();
  const rest = new Map<string, { shape: number[]; data: Float32Array }>();
  for (const [name, t] of file.tensors) {
    if (name.startsWith(prefix)) {
      backbone.set(name.slice(prefix.length), { shape: t.shape, data: t.data as TorchTensor["data"] });
    } else if (t.data instanceof Float32Array) rest.set(name, { shape: t.shape, data: t.data });
    else throw new CaptionInputError(`${path}: decoder tensor ${name} must be a float tensor`);
  }
  const need = (name: string, shape: number[]) => {
    const t = rest.get(name);
    if (!t) throw new CaptionInputError(`${path}: missing decoder tensor ${name}`);
    if (t.shape.join() !== shape.join()) {
      throw new CaptionInputError(`${path}: ${name} has shape [${t.shape}], expected [${shape}]`);
    }
    return tf.tensor(t.data, t.shape);
  };
  const weights = weightsFromTorch(net, backbone, path, options);
  const e = decoder.embed, h = decoder.hidden, v = decoder.vocabulary.length + 1;
  const channels = net.params.find((p) => p.name === "fc.weight")!.shape[1];
  const created: Tensor[] = [];
  const keep = (t: Tensor) => (created.push(t), t);
  try {
    const t = (x: Tensor) => keep(tf.tidy(() => tf.transpose(x)));
    const raw = {
      imgEmbedW: need("img_embed.weight", [e, channels]),
      wIh: need("lstm.weight_ih_l0", [4 * h, e]),
      wHh: need("lstm.weight_hh_l0", [4 * h, h]),
      logitW: need("logit.weight", [v, h]),
    };
    const decoderWeights = {
      imgEmbedW: t(raw.imgEmbedW),
      imgEmbedB: keep(need("img_embed.bias", [e])),
      embed: keep(need("embed.weight", [v, e])),
      wIh: t(raw.wIh),
      wHh: t(raw.wHh),
      bias: keep(tf.tidy(() => tf.add(need("lstm.bias_ih_l0", [4 * h]), need("lstm.bias_hh_l0", [4 * h])))),
      logitW: t(raw.logitW),
      logitB: keep(need("logit.bias", [v])),
    };
    tf.dispose(Object.values(raw));
    const dec = new Decoder(decoderWeights, decoder.vocabulary);
    return {
      manifest: manifest as Captioner["manifest"],
      net,
      weights,
      decoder: dec,
      dispose() {
        dec.dispose();
        weights.dispose();
      },
    };
  } catch (err) {
    tf.dispose(created);
    weights.dispose();
    throw err;
  }
}

/** Pooled features [N, C] of inputs [N, H, W, 3] (normalised). The caller disposes the result. */
export function pooledFeature(captioner: Captioner, input: Tensor): Tensor {
  const r = runProbed(captioner.net, captioner.weights, input, { record: [POOLED_LAYER] });
  try {
    const a = r.activations.get(POOLED_LAYER)!;
    return tf.reshape(a, [a.shape[0]!, -1]);
  } finally {
    r.dispose();
  }
}

/** Token ids of a caption (lower-cased, split on spaces); an unknown word is a CaptionInputError naming it. */
export function tokenize(captioner: Captioner, text: string): number[] {
  const vocab = captioner.decoder.vocabulary;
  const words = text.trim().toLowerCase().split(/\s+/).filter(Boolean);
  if (words.length === 0) throw new CaptionInputError("the caption is empty");
  if (words.length > captioner.manifest.decoder.maxLength) {
    throw new CaptionInputError(
      `the caption has ${words.length} words; this captioner handles at most ${captioner.manifest.decoder.maxLength}`,
    );
  }
  return words.map((w) => {
    const i = vocab.indexOf(w);
    if (i < 0) {
      throw new CaptionInputError(
        `word ${JSON.stringify(w)} is not in the captioner's vocabulary (${vocab.join(", ")})`,
      );
    }
    return i + 1;
  });
}

export function detokenize(captioner: Captioner, tokens: readonly number[]): string {
  return tokens.map((t) => captioner.decoder.vocabulary[t - 1]).join(" ");
}
