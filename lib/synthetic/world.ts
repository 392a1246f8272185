/**
 * Generates a whole synthetic world on disk: the VOC 2007 and COCO 2014 layouts of the same images, captions,
 * EBP-style difficult flags, and manifest.json.
 *
 *     <out>/VOCdevkit/VOC2007/{JPEGImages,Annotations,ImageSets/Main}/...
 *     <out>/coco/{train2014,val2014,test2014}/COCO_<split>2014_<12-digit id>.jpg
 *     <out>/coco/annotations/{instances,captions}_<split>2014.json
 *     <out>/ebp_difficult/{voc07_<split>.txt, coco_<split>2014.txt}
 *     <out>/manifest.json
 *
 * Every file is a pure function of (seed, counts): a rerun writes identical bytes. manifest.json holds the
 * seed, counts, classes, generator version, the sha256 of every annotation file (XML, ImageSets, JSON, flags),
 * one sha256 over all images (of the sorted "path<TAB>sha256" lines) and the dataset statistics.
 *
 * An existing output folder is reused only if it holds a manifest.json of this generator; its generated
 * subfolders are then deleted first. Any other non-empty folder is refused.
 */

import { SHAPE_CLASSES } from "./classes.ts";
import {
  type CocoAnnotation,
  cocoAnnotations,
  type CocoCaption,
  cocoCaptionsJson,
  type CocoImage,
  cocoImage,
  cocoInstancesJson,
} from "./coco.ts";
import { difficultFlagsLine, ebpDifficultPairs } from "./difficult.ts";
import { generateImage, JPEG_QUALITY } from "./image.ts";
import { cocoFileName, GENERATOR_VERSION, MAX_IMAGES_PER_SPLIT, type Split, SPLITS, vocId } from "./ids.ts";
import { vocAnnotationXml, type VocImage, vocImageSets } from "./voc.ts";

export const VOC_ROOT = "VOCdevkit/VOC2007";
export const COCO_ROOT = "coco";
export const DIFFICULT_ROOT = "ebp_difficult";

export interface WorldOptions {
  out: string;
  seed: number;
  counts: Record<Split, number>;
  /** Called after every image. */
  onProgress?: (split: Split, done: number, total: number) => void;
}

export interface SplitStats {
  images: number;
  objects: number;
  /** Images by object count, "1".."4". */
  objects_per_image: Record<string, number>;
  /** Objects per class. */
  class_objects: Record<string, number>;
  /** Images containing the class. */
  class_images: Record<string, number>;
  crowd_objects: number;
  truncated_objects: number;
  voc_difficult_objects: number;
  /** Image/class pairs (classes present per image, summed). */
  pairs: number;
  /** Pairs whose objects are all VOC-difficult (the pointing game skips them). */
  pairs_all_difficult: number;
  /** EBP difficult pairs from VOC boxes / COCO masks. */
  ebp_difficult_pairs_voc: number;
  ebp_difficult_pairs_coco: number;
  /** EBP difficult pairs per class (VOC boxes). */
  ebp_difficult_per_class_voc: Record<string, number>;
}

export interface Manifest {
  generator: string;
  version: string;
  seed: number;
  counts: Record<Split, number>;
  classes: string[];
  jpeg_quality: number;
  /** sha256 of every annotation file, by path relative to the output folder. */
  annotation_files: Record<string, string>;
  /** sha256 of the sorted "path\tsha256\n" lines of every image file. */
  images_sha256: string;
  stats: Record<Split, SplitStats>;
}

export const GENERATOR_NAME = "retrace tools/generate_world.ts";

const encoder = new TextEncoder();

async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}

async function prepareOut(out: string): Promise<void> {
  let entries: string[];
  try {
    entries = [];
    for await (const e of Deno.readDir(out)) entries.push(e.name);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      await Deno.mkdir(out, { recursive: true });
      return;
    }
    throw e;
  }
  if (entries.length === 0) return;
  let ours = false;
  try {
    const m = JSON.parse(await Deno.readTextFile(`${out}/manifest.json`));
    ours = m.generator === GENERATOR_NAME;
  } catch {
    ours = false;
  }
  if (!ours) {
    throw new Error(`${out} is not empty and holds no manifest.json of this generator; refusing to write`);
  }
  for (const name of ["VOCdevkit", COCO_ROOT, DIFFICULT_ROOT, "manifest.json"]) {
    await Deno.remove(`${out}/${name}`, { recursive: true }).catch((e) => {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    });
  }
}

function emptyStats(): SplitStats {
  const perClass = () => Object.fromEntries(SHAPE_CLASSES.map((c) => [c, 0]));
  return {
    images: 0,
    objects: 0,
    objects_per_image: {},
    class_objects: perClass(),
    class_images: perClass(),
    crowd_objects: 0,
    truncated_objects: 0,
    voc_difficult_objects: 0,
    pairs: 0,
    pairs_all_difficult: 0,
    ebp_difficult_pairs_voc: 0,
    ebp_difficult_pairs_coco: 0,
    ebp_difficult_per_class_voc: perClass(),
  };
}

/** Generates the world described by `opts` and returns its manifest (also written to <out>/manifest.json). */
export async function generateWorld(opts: WorldOptions): Promise<Manifest> {
  const { out, seed, counts } = opts;
  if (!Number.isSafeInteger(seed) || seed < 0) throw new RangeError(`seed must be a non-negative integer`);
  for (const s of SPLITS) {
    const n = counts[s];
    if (!Number.isInteger(n) || n < 0 || n > MAX_IMAGES_PER_SPLIT) {
      throw new RangeError(`${s} count must be an integer in [0, ${MAX_IMAGES_PER_SPLIT}]`);
    }
  }
  await prepareOut(out);
  const voc = `${out}/${VOC_ROOT}`;
  for (const dir of ["JPEGImages", "Annotations", "ImageSets/Main"]) {
    await Deno.mkdir(`${voc}/${dir}`, { recursive: true });
  }
  await Deno.mkdir(`${out}/${COCO_ROOT}/annotations`, { recursive: true });
  await Deno.mkdir(`${out}/${DIFFICULT_ROOT}`, { recursive: true });

  const annotationFiles: Record<string, string> = {};
  const imageHashes: string[] = [];
  const writeText = async (rel: string, text: string) => {
    const bytes = encoder.encode(text);
    await Deno.writeFile(`${out}/${rel}`, bytes);
    annotationFiles[rel] = await sha256Hex(bytes);
  };
  const writeImage = async (rel: string, bytes: Uint8Array, hash: string) => {
    await Deno.writeFile(`${out}/${rel}`, bytes);
    imageHashes.push(`${rel}\t${hash}\n`);
  };

  const vocBySplit: Record<string, VocImage[]> = {};
  const stats = {} as Record<Split, SplitStats>;
  for (const split of SPLITS) {
    const n = counts[split];
    const st = stats[split] = emptyStats();
    const vocImages: VocImage[] = vocBySplit[split] = [];
    const cocoImages: CocoImage[] = [], cocoAnns: CocoAnnotation[] = [], captions: CocoCaption[] = [];
    let vocFlags = "", cocoFlags = "";
    await Deno.mkdir(`${out}/${COCO_ROOT}/${split}2014`, { recursive: true });
    for (let index = 0; index < n; index++) {
      const img = generateImage(seed, split, index);
      const { id, width, height } = img;
      const objects = img.scene.objects;
      const jpeg = img.jpeg!;
      const hash = await sha256Hex(jpeg);
      await writeImage(`${VOC_ROOT}/JPEGImages/${vocId(id)}.jpg`, jpeg, hash);
      await writeImage(`${COCO_ROOT}/${split}2014/${cocoFileName(split, id)}`, jpeg, hash);
      const vocImage: VocImage = { id, width, height, objects };
      vocImages.push(vocImage);
      await writeText(`${VOC_ROOT}/Annotations/${vocId(id)}.xml`, vocAnnotationXml(vocImage));
      const ci = cocoImage(split, id, width, height);
      cocoImages.push(ci);
      cocoAnns.push(...cocoAnnotations(id, objects));
      captions.push({ image_id: id, id, caption: img.caption });
      const pairsVoc = ebpDifficultPairs(width, height, objects, "box");
      const pairsCoco = ebpDifficultPairs(width, height, objects, "mask");
      vocFlags += difficultFlagsLine(vocId(id), pairsVoc.difficult);
      cocoFlags += difficultFlagsLine(ci.file_name.replace(/\.jpg$/, ""), pairsCoco.difficult);

      st.images++;
      st.objects += objects.length;
      st.objects_per_image[objects.length] = (st.objects_per_image[objects.length] ?? 0) + 1;
      for (const o of objects) {
        st.class_objects[o.className]++;
        if (o.crowd) st.crowd_objects++;
        if (o.truncated) st.truncated_objects++;
        if (o.difficult) st.voc_difficult_objects++;
      }
      SHAPE_CLASSES.forEach((name, k) => {
        if (!pairsVoc.present[k]) return;
        st.class_images[name]++;
        st.pairs++;
        if (objects.every((o) => o.classIndex !== k || o.difficult)) st.pairs_all_difficult++;
        if (pairsVoc.difficult[k]) {
          st.ebp_difficult_pairs_voc++;
          st.ebp_difficult_per_class_voc[name]++;
        }
        if (pairsCoco.difficult[k]) st.ebp_difficult_pairs_coco++;
      });
      opts.onProgress?.(split, index + 1, n);
    }
    await writeText(
      `${COCO_ROOT}/annotations/instances_${split}2014.json`,
      cocoInstancesJson(seed, split, cocoImages, cocoAnns),
    );
    await writeText(
      `${COCO_ROOT}/annotations/captions_${split}2014.json`,
      cocoCaptionsJson(seed, split, cocoImages, captions),
    );
    await writeText(`${DIFFICULT_ROOT}/voc07_${split}.txt`, vocFlags);
    await writeText(`${DIFFICULT_ROOT}/coco_${split}2014.txt`, cocoFlags);
  }
  for (const [name, text] of vocImageSets(vocBySplit)) {
    await writeText(`${VOC_ROOT}/ImageSets/Main/${name}`, text);
  }

  const sortedFiles = Object.fromEntries(
    Object.entries(annotationFiles).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
  );
  const manifest: Manifest = {
    generator: GENERATOR_NAME,
    version: GENERATOR_VERSION,
    seed,
    counts: { ...counts },
    classes: [...SHAPE_CLASSES],
    jpeg_quality: JPEG_QUALITY,
    annotation_files: sortedFiles,
    images_sha256: await sha256Hex(encoder.encode(imageHashes.sort().join(""))),
    stats,
  };
  await Deno.writeTextFile(`${out}/manifest.json`, JSON.stringify(manifest, null, 2) + "\n");
  return manifest;
}
