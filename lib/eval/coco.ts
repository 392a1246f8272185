/**
 * COCO 2014 instances reading (METHODS.md §8): images, their annotations and, per evaluated class, the union
 * Ω of its masks — polygons (rasterised by pixel centre, even-odd; pycocotools' own rasteriser can differ on
 * boundary pixels), uncompressed RLE and compressed RLE strings (crowd masks). Category ids map to class indices
 * in sorted id order, as TorchRay does. Images without annotations are not evaluated.
 */
import { decodeRle } from "../synthetic/rle.ts";
import { rasterisePolygons } from "../synthetic/polygon.ts";
import { decodeCountsString } from "./coco_rle.ts";

export interface CocoImageInfo {
  id: number;
  file_name: string;
  width: number;
  height: number;
}

type Segmentation = number[][] | { counts: number[] | string; size: [number, number] };

export interface CocoInstance {
  image_id: number;
  category_id: number;
  segmentation: Segmentation;
  iscrowd?: number;
}

export interface CocoIndex {
  images: Map<number, CocoImageInfo>;
  byImage: Map<number, CocoInstance[]>;
  /** Sorted category ids; class index = position. */
  categoryIds: number[];
  categoryNames: string[];
}

export class CocoFormatError extends Error {
  override name = "CocoFormatError";
}

/** Indexes a parsed instances_*.json. */
export function indexCoco(json: {
  images?: CocoImageInfo[];
  annotations?: CocoInstance[];
  categories?: { id: number; name: string }[];
}): CocoIndex {
  if (!Array.isArray(json.images) || !Array.isArray(json.annotations) || !Array.isArray(json.categories)) {
    throw new CocoFormatError("an instances file needs the arrays images, annotations and categories");
  }
  const categories = [...json.categories].sort((a, b) => a.id - b.id);
  const images = new Map(json.images.map((im) => [im.id, im]));
  const byImage = new Map<number, CocoInstance[]>();
  for (const a of json.annotations) {
    if (!images.has(a.image_id)) throw new CocoFormatError(`annotation for unknown image ${a.image_id}`);
    byImage.set(a.image_id, [...(byImage.get(a.image_id) ?? []), a]);
  }
  return {
    images,
    byImage,
    categoryIds: categories.map((c) => c.id),
    categoryNames: categories.map((c) => c.name),
  };
}

/** One annotation's mask, row-major H×W 0/1. */
export function segmentationMask(seg: Segmentation, width: number, height: number): Uint8Array {
  if (Array.isArray(seg)) return rasterisePolygons(seg, width, height).data;
  const counts = typeof seg.counts === "string" ? decodeCountsString(seg.counts) : seg.counts;
  const [h, w] = seg.size;
  if (h !== height || w !== width) {
    throw new CocoFormatError(`RLE size [${h}, ${w}] differs from the image's`);
  }
  return decodeRle({ counts, size: [h, w] }).data;
}

/** Ω per class index for one image: the union of every annotation of the class (crowd ones included). */
export function classRegions(index: CocoIndex, imageId: number): Map<number, Uint8Array> {
  const image = index.images.get(imageId);
  if (!image) throw new CocoFormatError(`unknown image ${imageId}`);
  const out = new Map<number, Uint8Array>();
  for (const a of index.byImage.get(imageId) ?? []) {
    const k = index.categoryIds.indexOf(a.category_id);
    if (k < 0) throw new CocoFormatError(`annotation of unknown category ${a.category_id}`);
    const mask = segmentationMask(a.segmentation, image.width, image.height);
    const union = out.get(k) ?? new Uint8Array(image.width * image.height);
    for (let i = 0; i < mask.length; i++) union[i] |= mask[i];
    out.set(k, union);
  }
  return out;
}
