/**
 * One image of the world, end to end: sample the scene, annotate it (dropping hidden objects), caption it,
 * paint it and encode it as JPEG (quality 90, Skia's encoder; identical bytes on every run of the same build).
 */

import { type AnnotatedScene, annotatedScene } from "./annotate.ts";
import { caption } from "./caption.ts";
import { imageId, type Split } from "./ids.ts";
import { renderScene } from "./render.ts";

export const JPEG_QUALITY = 90;

export interface GeneratedImage {
  split: Split;
  index: number;
  id: number;
  width: number;
  height: number;
  scene: AnnotatedScene;
  caption: string;
  /** Encoded only when asked. */
  jpeg?: Uint8Array;
}

/**
 * Image `index` of `split` in the world of `seed`. With `encode: false` nothing is painted: the annotations,
 * masks and caption alone (what tests and statistics need) come back faster.
 */
export function generateImage(
  seed: number,
  split: Split,
  index: number,
  options: { encode?: boolean } = {},
): GeneratedImage {
  const scene = annotatedScene(seed, split, index);
  const out: GeneratedImage = {
    split,
    index,
    id: imageId(split, index),
    width: scene.spec.width,
    height: scene.spec.height,
    scene,
    caption: caption(scene),
  };
  if (options.encode ?? true) {
    const buf = renderScene(scene.spec).encodeSync("jpeg", JPEG_QUALITY); // a Node Buffer: hand out a plain view
    out.jpeg = new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
  }
  return out;
}
