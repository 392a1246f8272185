/**
 * Loads a shipped image captioner (models/<name>/, written by tools/train_captioner.py): the backbone (a
 * torchvision-named ResNet, "backbone." prefix in the weights file) through lib/nets like any classifier, and the
 * LSTM decoder's tensors (img_embed, embed, lstm, logit) into a Decoder. Also: the decoder's image feature (layer4
 * pooled as the manifest's `decoder.pooling` says) and text <-> tokens, with an out-of-vocabulary word a
 * CaptionInputError naming it.
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

/**
 * How layer4 [N, h, w, C] becomes the decoder's image feature (tools/train_captioner.py `pool`):
 * - mean: the global average over (h, w), C values (torchvision's avgpool);
 * - moments: that mean, then the means weighted by each cell's x and by its y coordinate, u = 2 (j + 0.5) / w - 1
 *   in (-1, 1), growing rightwards and downwards: 3C values, each channel's area-weighted centroid included.
 */
export const CAPTION_POOLINGS = ["mean", "moments"] as const;
export type CaptionPooling = typeof CAPTION_POOLINGS[number];
/** Values per layer4 channel in each pooling's feature. */
const POOLING_WIDTH: Record<CaptionPooling, number> = { mean: 1, moments: 3 };

export interface DecoderManifest {
  embed: number;
  hidden: number;
  vocabulary: string[];
  maxLength: number;
  /** Absent in older manifest.json files: loadCaptioner fills in "mean". */
  pooling: CaptionPooling;
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

/** The layer whose activation, pooled, feeds the decoder. */
export const FEATURE_LAYER = "layer4";

/** The decoder's image feature [N, C] or [N, 3C] of a layer4 activation [N, h, w, C]. */
export function poolFeature(activation: Tensor, pooling: CaptionPooling): Tensor {
  return tf.tidy(() => {
    const mean = tf.mean(activation, [1, 2]);
    if (pooling === "mean") return mean;
    const [h, w] = [activation.shape[1]!, activation.shape[2]!];
    const coords = (n: number) => tf.range(0, n).add(0.5).mul(2 / n).sub(1);
    const ux = tf.reshape(coords(w), [1, 1, w, 1]);
    const uy = tf.reshape(coords(h), [1, h, 1, 1]);
    return tf.concat(
      [mean, tf.mean(tf.mul(activation, ux), [1, 2]), tf.mean(tf.mul(activation, uy), [1, 2])],
      1,
    );
  });
}

function decoderManifest(m: ModelManifest, source: string): DecoderManifest {
  const d = (m as { decoder?: Partial<DecoderManifest> }).decoder;
  const ok = d && Number.isInteger(d.embed) && Number.isInteger(d.hidden) && Number.isInteger(d.maxLength) &&
    Array.isArray(d.vocabulary) && d.vocabulary.every((w) => typeof w === "string" && w.length > 0);
  if (!ok) {
    throw new CaptionInputError(`${source}: decoder must give embed, hidden, maxLength and vocabulary`);
  }
  const pooling = d.pooling ?? "mean";
  if (!CAPTION_POOLINGS.includes(pooling)) {
    throw new CaptionInputError(
      `${source}: decoder.pooling ${JSON.stringify(pooling)} is not one of ${CAPTION_POOLINGS.join(", ")}`,
    );
  }
  return { ...d, pooling } as DecoderManifest;
}

/** Loads models/<dir> (manifest.json with a decoder section + the weights file). */
export async function loadCaptioner(dir: string, options: LoadOptions = {}): Promise<Captioner> {
  const source = `${dir}/manifest.json`;
  const manifest = parseManifest(await Deno.readTextFile(source), source);
  const decoder = decoderManifest(manifest, source);
  const net = networkOf(manifest);
  net.assertLayers([...manifest.probeLayers, FEATURE_LAYER]);
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
  const channels = net.params.find((p) => p.name === "fc.weight")!.shape[1] * POOLING_WIDTH[decoder.pooling];
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
      manifest: { ...manifest, decoder } as Captioner["manifest"],
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

/** The decoder's image features [N, C or 3C] of inputs [N, H, W, 3] (normalised). The caller disposes them. */
export function pooledFeature(captioner: Captioner, input: Tensor): Tensor {
  const r = runProbed(captioner.net, captioner.weights, input, { record: [FEATURE_LAYER] });
  try {
    return poolFeature(r.activations.get(FEATURE_LAYER)!, captioner.manifest.decoder.pooling);
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
