/**
 * Explaining a caption (METHODS.md §9): the objective is the caption's log-probability under teacher forcing,
 * S = Σ_t log p(w_t | w_<t, image) over its words and the final <eos>, or, for a per-word map, S = log p(w_k | w_<k,
 * image) of one word. It is backpropagated through the LSTM, the image embedding and the pooling of layer4 (the
 * manifest's decoder.pooling) into the backbone, where any method of the registry (except contrastive excitation
 * backprop, which contrasts output classes) extracts maps at any layers — by default selective NormGrad at
 * layer3.0, layer4.0 and layer4, then their product combination with linear weights. Per-word maps of several
 * words come from one pass: the image is repeated once per word, each copy with its own word's objective.
 */
import { type Tensor, tf } from "../runtime/tf.ts";
import { combineLayers, type CombineMode, type WeightScheme } from "../saliency/combine.ts";
import { computeSaliency, type SaliencyResult } from "../saliency/saliency.ts";
import { type Captioner, CaptionInputError, FEATURE_LAYER, poolFeature } from "./captioner.ts";

export const CAPTION_LAYERS = ["layer3.0", "layer4.0", "layer4"] as const;

export interface CaptionExplainRequest {
  method?: string;
  layers?: readonly string[];
  /** Token ids of the caption (without <eos>). */
  tokens: readonly number[];
  /**
   * Word positions (0-based) to explain one by one (one map per position, batch order); absent: the whole
   * caption, one map. Position tokens.length is the <eos> step.
   */
  positions?: readonly number[];
}

function checkPositions(positions: readonly number[], tokens: readonly number[]): void {
  const bad = positions.filter((p) => !Number.isInteger(p) || p < 0 || p > tokens.length);
  if (bad.length) {
    throw new CaptionInputError(
      `word position(s) ${bad.join(", ")} out of range: valid are 0..${
        tokens.length - 1
      } (and ${tokens.length} = <eos>)`,
    );
  }
}

/**
 * Maps for `input` [1, H, W, 3] (normalised) at the request's layers: [1, h, w, 1] for the whole caption, or
 * [P, h, w, 1] for P word positions. The caller disposes the result; `input` is left alone.
 */
export function explainCaption(
  captioner: Captioner,
  input: Tensor,
  request: CaptionExplainRequest,
): SaliencyResult {
  if (input.rank !== 4 || input.shape[0] !== 1) {
    throw new CaptionInputError(`explainCaption takes one image [1, H, W, 3], got [${input.shape}]`);
  }
  if (request.tokens.length === 0) throw new CaptionInputError("the caption has no words");
  const v = captioner.decoder.vocabSize;
  const badToken = request.tokens.find((t) => !Number.isInteger(t) || t < 1 || t >= v);
  if (badToken !== undefined) throw new CaptionInputError(`token ${badToken} is not a word id (1..${v - 1})`);
  const positions = request.positions;
  if (positions) checkPositions(positions, request.tokens);
  const steps = request.tokens.length + 1;
  const batch = positions ? positions.length : 1;
  // Which log p terms each batch item sums: all of them, or its one position.
  const select = new Float32Array(batch * steps);
  if (positions) positions.forEach((p, b) => (select[b * steps + p] = 1));
  else select.fill(1);
  const pooling = captioner.manifest.decoder.pooling;
  const objective = (activation: Tensor): Tensor => {
    const pooled = poolFeature(activation, pooling);
    const lp = captioner.decoder.tokenLogProbs(pooled, request.tokens);
    return tf.sum(tf.mul(lp, tf.tensor2d(select, [batch, steps])));
  };
  const images = batch === 1 ? input : tf.tile(input, [batch, 1, 1, 1]);
  try {
    return computeSaliency(captioner.net, captioner.weights, images, {
      method: request.method ?? "selective-normgrad",
      layers: request.layers ?? CAPTION_LAYERS,
      seed: { kind: "objective", layer: FEATURE_LAYER, objective },
    });
  } finally {
    if (images !== input) images.dispose();
  }
}

/** The §9 combination of a result's maps (product, linear weights over the layers in order) at `size`. */
export function combineCaptionMaps(
  result: SaliencyResult,
  layers: readonly string[],
  size: readonly [number, number],
  mode: CombineMode = "product",
  weights: WeightScheme = "linear",
): Tensor {
  return combineLayers(layers.map((l) => result.maps.get(l)!), { mode, weights, size, layers });
}
