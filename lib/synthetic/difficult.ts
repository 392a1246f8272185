/**
 * The EBP "difficult" image/class pairs of the pointing game (METHODS.md §8 item 8), computed for the synthetic
 * world, and TorchRay-style flag files.
 *
 * A pair (image, class c) is difficult when c is present, the area of the union of c's annotations is < 25% of
 * the image, and at least one other class is present. "Area of the annotations" is the union of the class's
 * boxes (VOC, 1-based boxes rasterised as pixels) or of its masks (COCO): §8 says "total area" without saying
 * whether overlaps count twice; the union is the region the pointing game hits (Ω).
 *
 * Flag files: one line per image of the split, ascending id, tab-separated: the key (VOC: 6-digit id; COCO: file
 * name without extension) then 12 flags 0/1 in class order, as TorchRay's pointing_game_ebp_*_difficult.txt.
 */

import { isDifficultPair, maskArea } from "../eval/difficult_flags.ts";
import { SHAPE_CLASSES } from "./classes.ts";
import type { Mask, PixelBox } from "./masks.ts";

export interface PairObject {
  classIndex: number;
  box: PixelBox;
  mask: Mask;
}

/** Per class (12 entries): present, and difficult by EBP's rule; `region` picks boxes (VOC) or masks (COCO). */
export function ebpDifficultPairs(
  width: number,
  height: number,
  objects: PairObject[],
  region: "box" | "mask",
): { present: boolean[]; difficult: boolean[] } {
  const present = SHAPE_CLASSES.map((_, k) => objects.some((o) => o.classIndex === k));
  const nClasses = present.filter((p) => p).length;
  const difficult = SHAPE_CLASSES.map((_, k) => {
    if (!present[k]) return false;
    const union = new Uint8Array(width * height);
    for (const o of objects) {
      if (o.classIndex !== k) continue;
      if (region === "mask") {
        for (let i = 0; i < union.length; i++) union[i] |= o.mask.data[i];
      } else {
        const [x0, y0, x1, y1] = o.box;
        for (let y = y0; y <= y1; y++) union.fill(1, y * width + x0, y * width + x1 + 1);
      }
    }
    return isDifficultPair(maskArea(union), width * height, nClasses);
  });
  return { present, difficult };
}

/** One line of a flags file. */
export function difficultFlagsLine(key: string, difficult: boolean[]): string {
  return [key, ...difficult.map((d) => (d ? "1" : "0"))].join("\t") + "\n";
}
