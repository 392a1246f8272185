/**
 * PASCAL VOC 2007 layout writers (text only; the caller writes the files).
 *
 * - `Annotations/<id>.xml`: VOC's schema and tab indentation (folder, filename, source, owner, size, segmented,
 *   object: name, pose, truncated, difficult, bndbox). Boxes are 1-BASED INCLUSIVE: xmin = x0 + 1 ... xmax =
 *   x1 + 1 for the tight 0-based box [x0, x1] of the visible mask, so 1 <= xmin <= xmax <= width.
 * - `ImageSets/Main/<split>.txt`: one id a line, ascending; `trainval` = train + val.
 * - `ImageSets/Main/<class>_<split>.txt`: `<id> <flag>` with the flag right-aligned in 2 columns, as VOC
 *   (`100007  1`, `100008 -1`, `100009  0`): 1 = the image holds a non-difficult object of the class, 0 = only
 *   difficult ones, -1 = none.
 */

import { SHAPE_CLASSES } from "./classes.ts";
import { vocId } from "./ids.ts";
import type { PixelBox } from "./masks.ts";

export interface VocObject {
  classIndex: number;
  box: PixelBox;
  truncated: boolean;
  difficult: boolean;
}

export interface VocImage {
  id: number;
  width: number;
  height: number;
  objects: VocObject[];
}

/** The 1-based inclusive VOC box of a 0-based inclusive pixel box. */
export function vocBox(box: PixelBox): { xmin: number; ymin: number; xmax: number; ymax: number } {
  return { xmin: box[0] + 1, ymin: box[1] + 1, xmax: box[2] + 1, ymax: box[3] + 1 };
}

/** The annotation XML of one image. */
export function vocAnnotationXml(img: VocImage): string {
  const lines = [
    "<annotation>",
    "\t<folder>VOC2007</folder>",
    `\t<filename>${vocId(img.id)}.jpg</filename>`,
    "\t<source>",
    "\t\t<database>The retrace synthetic shapes database</database>",
    "\t\t<annotation>retrace synthetic VOC2007 layout</annotation>",
    "\t\t<image>synthetic</image>",
    "\t</source>",
    "\t<owner>",
    "\t\t<name>retrace</name>",
    "\t</owner>",
    "\t<size>",
    `\t\t<width>${img.width}</width>`,
    `\t\t<height>${img.height}</height>`,
    "\t\t<depth>3</depth>",
    "\t</size>",
    "\t<segmented>0</segmented>",
  ];
  for (const o of img.objects) {
    const b = vocBox(o.box);
    lines.push(
      "\t<object>",
      `\t\t<name>${SHAPE_CLASSES[o.classIndex]}</name>`,
      "\t\t<pose>Unspecified</pose>",
      `\t\t<truncated>${o.truncated ? 1 : 0}</truncated>`,
      `\t\t<difficult>${o.difficult ? 1 : 0}</difficult>`,
      "\t\t<bndbox>",
      `\t\t\t<xmin>${b.xmin}</xmin>`,
      `\t\t\t<ymin>${b.ymin}</ymin>`,
      `\t\t\t<xmax>${b.xmax}</xmax>`,
      `\t\t\t<ymax>${b.ymax}</ymax>`,
      "\t\t</bndbox>",
      "\t</object>",
    );
  }
  lines.push("</annotation>", "");
  return lines.join("\n");
}

/** VOC's per-class flag of an image: 1, 0 (only difficult instances) or -1. */
export function vocClassFlag(img: VocImage, classIndex: number): 1 | 0 | -1 {
  const objs = img.objects.filter((o) => o.classIndex === classIndex);
  if (objs.length === 0) return -1;
  return objs.some((o) => !o.difficult) ? 1 : 0;
}

/**
 * Every ImageSets/Main file, as name -> text, for images grouped by split (ids ascending within the result).
 * Splits present: the given ones plus `trainval` when both train and val are given.
 */
export function vocImageSets(bySplit: Record<string, VocImage[]>): Map<string, string> {
  const sets: Record<string, VocImage[]> = { ...bySplit };
  if (bySplit.train !== undefined && bySplit.val !== undefined) {
    sets.trainval = [...bySplit.train, ...bySplit.val];
  }
  const files = new Map<string, string>();
  for (const [split, imgs] of Object.entries(sets)) {
    const sorted = [...imgs].sort((a, b) => a.id - b.id);
    files.set(`${split}.txt`, sorted.map((i) => vocId(i.id) + "\n").join(""));
    SHAPE_CLASSES.forEach((name, k) => {
      const text = sorted.map((i) => `${vocId(i.id)} ${String(vocClassFlag(i, k)).padStart(2)}\n`).join("");
      files.set(`${name}_${split}.txt`, text);
    });
  }
  return files;
}
