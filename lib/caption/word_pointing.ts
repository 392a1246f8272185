/**
 * Word-level pointing for captions (issue 6's check of METHODS.md §9): for each word of a caption that names a
 * class present in the image, the per-word map (S = log p(w_k | w_<k, image)) at each layer and their product
 * combination with linear weights is resized to the image, its first maximum taken, and scored as a hit when it
 * lies within 15 px of the union of that class's boxes (the pointing game's open disc). All words of one caption
 * go through one batched pass.
 */
import type { DecodedImage } from "../image/decode.ts";
import { toInputTensor } from "../image/preprocess.ts";
import type { VocObject } from "../eval/voc.ts";
import { boxesMask, pointingHit } from "../eval/pointing.ts";
import { firstArgmaxAll, resizeMap } from "../saliency/postprocess.ts";
import { tf } from "../runtime/tf.ts";
import { type Captioner, detokenize } from "./captioner.ts";
import { CAPTION_LAYERS, combineCaptionMaps, explainCaption } from "./explain.ts";

export const COMBINED = "product/linear";

export interface WordPointing {
  position: number;
  word: string;
  /** Per layer and "product/linear": hit (true) or miss. */
  hits: Record<string, boolean>;
}

/** Positions of the words of `tokens` that name a class with at least one object in `objects`. */
export function shapeWordPositions(
  captioner: Captioner,
  tokens: readonly number[],
  objects: readonly VocObject[],
) {
  const words = detokenize(captioner, tokens).split(" ");
  return words.map((w, i) => ({ word: w, position: i })).filter(({ word }) =>
    objects.some((o) => o.name === word)
  );
}

export async function wordPointing(
  captioner: Captioner,
  image: DecodedImage,
  objects: readonly VocObject[],
  tokens: readonly number[],
  method = "selective-normgrad",
  layers: readonly string[] = CAPTION_LAYERS,
): Promise<WordPointing[]> {
  const words = shapeWordPositions(captioner, tokens, objects);
  if (words.length === 0) return [];
  const { manifest } = captioner;
  const input = toInputTensor(image, manifest.inputSize, manifest.preprocess);
  const size: [number, number] = [image.height, image.width];
  const result = explainCaption(captioner, input, {
    tokens,
    positions: words.map((w) => w.position),
    method,
    layers,
  });
  input.dispose();
  try {
    const maps = layers.map((layer) => resizeMap(result.maps.get(layer)!, size));
    const points = new Map<string, { x: number; y: number }[]>();
    try {
      maps.push(combineCaptionMaps(result, layers, size));
      const found = await firstArgmaxAll(maps); // one read for every layer and the combination
      [...layers, COMBINED].forEach((label, i) => points.set(label, found[i]));
    } finally {
      tf.dispose(maps);
    }
    return words.map(({ word, position }, i) => {
      const region = boxesMask(
        objects.filter((o) => o.name === word).map((o) => o.box),
        image.width,
        image.height,
      );
      const hits: Record<string, boolean> = {};
      for (const [label, ps] of points) hits[label] = pointingHit(region, image.width, image.height, ps[i]);
      return { position, word, hits };
    });
  } finally {
    result.dispose();
  }
}
