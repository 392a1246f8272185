/**
 * Splits, image ids and file names of the synthetic world.
 *
 * Image id = 100000 * splitCode + index (train 1, val 2, test 3), so an id never depends on how many images the
 * other splits hold and ids are unique across splits. At most 100000 images per split. VOC writes the id with 6
 * digits (`100042`), COCO with 12 (`COCO_val2014_000000200007.jpg`).
 */

export const SPLITS = ["train", "val", "test"] as const;
export type Split = typeof SPLITS[number];

/** The generator version written into manifest.json and COCO `info.version`. */
export const GENERATOR_VERSION = "retrace-synthetic-1.0.0";

/** Most images a split may hold. */
export const MAX_IMAGES_PER_SPLIT = 100000;

const SPLIT_CODE: Record<Split, number> = { train: 1, val: 2, test: 3 };

/** The image id of image `index` (0-based) of `split`. */
export function imageId(split: Split, index: number): number {
  if (!Number.isInteger(index) || index < 0 || index >= MAX_IMAGES_PER_SPLIT) {
    throw new RangeError(`image index ${index} is outside [0, ${MAX_IMAGES_PER_SPLIT})`);
  }
  return SPLIT_CODE[split] * MAX_IMAGES_PER_SPLIT + index;
}

/** Inverse of `imageId`. */
export function splitOfId(id: number): { split: Split; index: number } {
  const code = Math.floor(id / MAX_IMAGES_PER_SPLIT);
  const split = SPLITS.find((s) => SPLIT_CODE[s] === code);
  if (split === undefined) throw new RangeError(`${id} is not a synthetic image id`);
  return { split, index: id % MAX_IMAGES_PER_SPLIT };
}

/** VOC image id: 6 digits. */
export function vocId(id: number): string {
  return String(id).padStart(6, "0");
}

/** COCO image file name, e.g. `COCO_val2014_000000200007.jpg`. */
export function cocoFileName(split: Split, id: number): string {
  return `COCO_${split}2014_${String(id).padStart(12, "0")}.jpg`;
}
