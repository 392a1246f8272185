/**
 * The images of a VOC-layout split as network inputs, one at a time (for the analyses that need pixels and
 * labels but no regions: class sensitivity, cascading randomization, meta-saliency over training, layer
 * weights): key, the decoded image, the preprocessed input [1, H, W, 3] (the caller disposes it) and the classes
 * present. Unreadable images are reported through `onProblem` and skipped.
 */
import { type DecodedImage, decodeImage } from "../image/decode.ts";
import { toInputTensor } from "../image/preprocess.ts";
import type { ModelManifest } from "../models/manifest.ts";
import type { Tensor } from "../runtime/tf.ts";
import { vocSamples } from "./voc.ts";

export interface SplitImage {
  key: string;
  image: DecodedImage;
  input: Tensor;
  /** Class indices present (model class order). */
  labels: number[];
}

export async function* splitImages(
  root: string,
  split: string,
  manifest: ModelManifest,
  options: { limit?: number; onProblem?: (key: string, message: string) => void } = {},
): AsyncGenerator<SplitImage> {
  let n = 0;
  for await (const s of vocSamples(root, split)) {
    if (options.limit !== undefined && n >= options.limit) return;
    if ("problem" in s) {
      options.onProblem?.(s.id, s.problem);
      continue;
    }
    let image: DecodedImage;
    try {
      image = decodeImage(await Deno.readFile(s.imagePath), s.imagePath);
    } catch (e) {
      options.onProblem?.(s.id, (e as Error).message);
      continue;
    }
    const labels = manifest.classes.map((_, k) => k).filter((k) =>
      s.annotation.objects.some((o) => o.name === manifest.classes[k])
    );
    n++;
    yield { key: s.id, image, input: toInputTensor(image, manifest.inputSize, manifest.preprocess), labels };
  }
}
