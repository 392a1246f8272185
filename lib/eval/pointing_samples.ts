/**
 * Pointing-game samples from a dataset on disk (METHODS.md §8 items 1, 2, 5, 7, 8), streamed one image at a time:
 * per image, every class present with its region Ω, whether the "all" evaluation skips it (VOC: every object of
 * the class difficult) and whether it belongs to the "difficult" subset (from a TorchRay flag file when one is
 * given, else by the EBP rule from the annotations). A missing or corrupt annotation, or a class the model does
 * not know, is a `problem` sample naming the image, never an abort.
 *
 *   VOC 2007 layout: <root>/ImageSets/Main/<split>.txt, Annotations/<id>.xml, JPEGImages/<id>.jpg; Ω = union of
 *     the class's boxes (difficult ones included); flag-file key = the image id.
 *   COCO 2014 layout: <root>/annotations/instances_<split>.json and <root>/<split>/<file_name>; Ω = union of the
 *     class's masks (polygons, RLE, crowd); images without annotations are not evaluated; flag-file key = the
 *     file name without extension.
 */
import { classRegions, type CocoIndex, indexCoco } from "./coco.ts";
import { isDifficultPair, maskArea } from "./difficult_flags.ts";
import { boxesMask } from "./pointing.ts";
import { vocSamples } from "./voc.ts";

export interface PointingClass {
  classIndex: number;
  /** Ω, row-major height × width 0/1. */
  region: Uint8Array;
  /** Skipped in both evaluations (VOC: every object of the class is marked difficult). */
  skipAll: boolean;
  /** Counted in the "difficult" evaluation. */
  difficult: boolean;
}

export type PointingSample =
  | { key: string; imagePath: string; width: number; height: number; classes: PointingClass[] }
  | { key: string; problem: string };

export type DatasetFormat = "voc" | "coco";

export interface DatasetSource {
  format: DatasetFormat;
  /** VOC: …/VOCdevkit/VOC2007. COCO: the folder holding annotations/ and the image folders. */
  root: string;
  /** VOC: an ImageSets/Main list (e.g. "test"). COCO: e.g. "val2014". */
  split: string;
  /** TorchRay-style flags (key -> per-class flags in the model's class order); absent: the EBP rule. */
  difficultFlags?: Map<string, boolean[]>;
}

export class DatasetError extends Error {
  override name = "DatasetError";
}

/** The keys of the images a source evaluates, in order (read up front so a run can be sharded and resumed). */
export async function datasetKeys(source: DatasetSource, classes: readonly string[]): Promise<string[]> {
  if (source.format === "voc") {
    const path = `${source.root}/ImageSets/Main/${source.split}.txt`;
    try {
      return (await Deno.readTextFile(path)).split("\n").map((l) => l.trim()).filter(Boolean);
    } catch (e) {
      throw new DatasetError(`cannot read the image list ${path}: ${(e as Error).message}`);
    }
  }
  const coco = await loadCoco(source, classes);
  return [...coco.index.images.values()].filter((im) => coco.index.byImage.has(im.id)).map((im) =>
    stem(im.file_name)
  );
}

function stem(fileName: string): string {
  return fileName.replace(/\.[^.]*$/, "");
}

function difficultOf(
  source: DatasetSource,
  key: string,
  classIndex: number,
  ruleSays: boolean,
): boolean {
  if (!source.difficultFlags) return ruleSays;
  const flags = source.difficultFlags.get(key);
  return flags ? flags[classIndex] : true; // not listed: not skipped (TorchRay)
}

/** Streams the samples of `source` whose keys are in `keys` (all when absent), in dataset order. */
export async function* pointingSamples(
  source: DatasetSource,
  classes: readonly string[],
  keys?: ReadonlySet<string>,
): AsyncGenerator<PointingSample> {
  if (source.format === "voc") yield* vocPointingSamples(source, classes, keys);
  else yield* cocoPointingSamples(source, classes, keys);
}

async function* vocPointingSamples(
  source: DatasetSource,
  classes: readonly string[],
  keys?: ReadonlySet<string>,
): AsyncGenerator<PointingSample> {
  for await (const s of vocSamples(source.root, source.split, keys)) {
    if ("problem" in s) {
      yield { key: s.id, problem: s.problem };
      continue;
    }
    const { width, height, objects } = s.annotation;
    const unknown = objects.find((o) => !classes.includes(o.name));
    if (unknown) {
      yield { key: s.id, problem: `class ${JSON.stringify(unknown.name)} is not one of the model's classes` };
      continue;
    }
    const present = classes.map((_, k) => k).filter((k) => objects.some((o) => o.name === classes[k]));
    const out: PointingClass[] = present.map((k) => {
      const own = objects.filter((o) => o.name === classes[k]);
      const region = boxesMask(own.map((o) => o.box), width, height);
      const rule = isDifficultPair(maskArea(region), width * height, present.length);
      return {
        classIndex: k,
        region,
        skipAll: own.every((o) => o.difficult),
        difficult: difficultOf(source, s.id, k, rule),
      };
    });
    yield { key: s.id, imagePath: s.imagePath, width, height, classes: out };
  }
}

interface LoadedCoco {
  index: CocoIndex;
  /** COCO category index -> model class index. */
  classOf: number[];
}

async function loadCoco(source: DatasetSource, classes: readonly string[]): Promise<LoadedCoco> {
  const path = `${source.root}/annotations/instances_${source.split}.json`;
  let index: CocoIndex;
  try {
    index = indexCoco(JSON.parse(await Deno.readTextFile(path)));
  } catch (e) {
    throw new DatasetError(`cannot read ${path}: ${(e as Error).message}`);
  }
  const classOf = index.categoryNames.map((name) => {
    const k = classes.indexOf(name);
    if (k < 0) {
      throw new DatasetError(
        `${path}: category ${JSON.stringify(name)} is not one of the model's classes (${classes.join(", ")})`,
      );
    }
    return k;
  });
  return { index, classOf };
}

async function* cocoPointingSamples(
  source: DatasetSource,
  classes: readonly string[],
  keys?: ReadonlySet<string>,
): AsyncGenerator<PointingSample> {
  const { index, classOf } = await loadCoco(source, classes);
  for (const image of index.images.values()) {
    if (!index.byImage.has(image.id)) continue;
    const key = stem(image.file_name);
    if (keys && !keys.has(key)) continue;
    let regions: Map<number, Uint8Array>;
    try {
      regions = classRegions(index, image.id);
    } catch (e) {
      yield { key, problem: (e as Error).message };
      continue;
    }
    const present = [...regions.keys()].map((c) => classOf[c]);
    const out: PointingClass[] = [...regions.entries()].map(([c, region]) => {
      const k = classOf[c];
      const rule = isDifficultPair(maskArea(region), image.width * image.height, present.length);
      return { classIndex: k, region, skipAll: false, difficult: difficultOf(source, key, k, rule) };
    }).sort((a, b) => a.classIndex - b.classIndex);
    yield {
      key,
      imagePath: `${source.root}/${source.split}/${image.file_name}`,
      width: image.width,
      height: image.height,
      classes: out,
    };
  }
}
