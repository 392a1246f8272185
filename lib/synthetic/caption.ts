/**
 * Captions: one per image, from a small fixed grammar and vocabulary.
 *
 *     caption  := np [ relation np [ "with" np [ "and" np ] ] ]
 *     np       := "a" size colour class
 *     size     := "small" | "medium" | "large"
 *     relation := "left of" | "right of" | "above" | "below"
 *
 * - Objects are described in decreasing visible area (ties: painting order), so every annotated object is named
 *   (at most 4) and the class words of a caption are exactly the annotated classes.
 * - size: visible area < 2% of the image is "small", < 8% "medium", else "large".
 * - colour: the object's named colour (the texture's second shade is not named); class: its class name.
 * - relation: between the first two objects, from the centroids of their visible masks: the axis of the larger
 *   displacement decides; "a X left of a Y" means X's centroid is left of Y's.
 * - Lower case, words separated by single spaces, no punctuation.
 */

import type { AnnotatedScene, ObjectAnnotation } from "./annotate.ts";
import { SHAPE_CLASSES } from "./classes.ts";
import { COLOUR_NAMES } from "./colours.ts";
import { centroid } from "./masks.ts";
import { type Relation, SIZE_WORDS } from "./caption_words.ts";

export { RELATIONS, SIZE_WORDS } from "./caption_words.ts";
export type { Relation } from "./caption_words.ts";

/** Every word a caption may contain. */
export const CAPTION_VOCABULARY: readonly string[] = [
  "a",
  ...SIZE_WORDS,
  ...COLOUR_NAMES,
  ...SHAPE_CLASSES,
  "left",
  "right",
  "of",
  "above",
  "below",
  "with",
  "and",
];

/** The size word of an object with `area` visible pixels in an image of `imageArea` pixels. */
export function sizeWord(area: number, imageArea: number): typeof SIZE_WORDS[number] {
  const f = area / imageArea;
  return f < 0.02 ? "small" : f < 0.08 ? "medium" : "large";
}

/** Where `a` is relative to `b`, from their visible centroids. */
export function relation(a: ObjectAnnotation, b: ObjectAnnotation): Relation {
  const [ax, ay] = centroid(a.mask), [bx, by] = centroid(b.mask);
  const dx = bx - ax, dy = by - ay;
  if (Math.abs(dx) >= Math.abs(dy)) return dx >= 0 ? "left of" : "right of";
  return dy >= 0 ? "above" : "below";
}

/** The caption of an annotated scene. */
export function caption(scene: AnnotatedScene): string {
  const imageArea = scene.spec.width * scene.spec.height;
  const objs = scene.objects.map((o, k) => ({ o, k })).sort((p, q) => q.o.area - p.o.area || p.k - q.k).map((
    p,
  ) => p.o);
  const np = (o: ObjectAnnotation) => `a ${sizeWord(o.area, imageArea)} ${o.colourName} ${o.className}`;
  let text = np(objs[0]);
  if (objs.length >= 2) text += ` ${relation(objs[0], objs[1])} ${np(objs[1])}`;
  if (objs.length >= 3) text += ` with ${np(objs[2])}`;
  if (objs.length >= 4) text += ` and ${np(objs[3])}`;
  return text;
}
