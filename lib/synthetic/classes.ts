/**
 * The 12 shape classes of the synthetic world, in their fixed order.
 *
 * The order is the class index everywhere: VOC ImageSets files, the EBP-style difficult flags (one flag per
 * class in this order) and COCO category ids (`category_id = index + 1`, supercategory "shape").
 */

export const SHAPE_CLASSES = [
  "circle",
  "square",
  "triangle",
  "star",
  "ring",
  "cross",
  "hexagon",
  "heart",
  "crescent",
  "arrow",
  "diamond",
  "pentagon",
] as const;

export type ShapeClass = typeof SHAPE_CLASSES[number];

/** COCO category id of class index `k` (1..12). */
export function categoryId(classIndex: number): number {
  return classIndex + 1;
}

/** COCO `categories` entries, ids 1..12. */
export function cocoCategories(): { supercategory: string; id: number; name: string }[] {
  return SHAPE_CLASSES.map((name, k) => ({ supercategory: "shape", id: categoryId(k), name }));
}
