/**
 * PASCAL VOC 2007 reading (METHODS.md §8): the image ids of a split (ImageSets/Main/<split>.txt) and each
 * image's annotation (Annotations/<id>.xml: size, objects with class, 1-based inclusive box, difficult and
 * truncated flags), streamed one image at a time. A missing or corrupt annotation is yielded as a problem
 * naming the image and what is wrong, never an abort of the whole run.
 */
import { all, one, parseXml } from "./xml.ts";
import type { VocBox } from "./pointing.ts";

export interface VocObject {
  name: string;
  box: VocBox;
  difficult: boolean;
  truncated: boolean;
}

export interface VocAnnotation {
  filename: string;
  width: number;
  height: number;
  objects: VocObject[];
}

export class VocFormatError extends Error {
  override name = "VocFormatError";
}

function int(text: string, what: string): number {
  const v = Number(text);
  if (!Number.isInteger(v)) {
    throw new VocFormatError(`${what} must be an integer, got ${JSON.stringify(text)}`);
  }
  return v;
}

/** Parses one Annotations/<id>.xml. Throws VocFormatError naming the missing or bad element. */
export function parseVocAnnotation(xml: string): VocAnnotation {
  let root;
  try {
    root = parseXml(xml);
  } catch (e) {
    throw new VocFormatError(`not well-formed XML: ${(e as Error).message}`);
  }
  try {
    if (root.name !== "annotation") {
      throw new VocFormatError(`root element is <${root.name}>, expected <annotation>`);
    }
    const size = one(root, "size");
    const width = int(one(size, "width").text, "size/width");
    const height = int(one(size, "height").text, "size/height");
    const objects = all(root, "object").map((o) => {
      const b = one(o, "bndbox");
      const flag = (name: string) => all(o, name).some((e) => e.text === "1");
      return {
        name: one(o, "name").text,
        box: {
          xmin: int(one(b, "xmin").text, "xmin"),
          ymin: int(one(b, "ymin").text, "ymin"),
          xmax: int(one(b, "xmax").text, "xmax"),
          ymax: int(one(b, "ymax").text, "ymax"),
        },
        difficult: flag("difficult"),
        truncated: flag("truncated"),
      };
    });
    return { filename: all(root, "filename")[0]?.text ?? "", width, height, objects };
  } catch (e) {
    if (e instanceof VocFormatError) throw e;
    throw new VocFormatError((e as Error).message);
  }
}

export type VocSample =
  | { id: string; annotation: VocAnnotation; imagePath: string }
  | { id: string; problem: string };

/** Streams the samples of `split` under `root` (…/VOCdevkit/VOC2007), in ImageSets order; only `keys` if given. */
export async function* vocSamples(
  root: string,
  split: string,
  keys?: ReadonlySet<string>,
): AsyncGenerator<VocSample> {
  const list = await Deno.readTextFile(`${root}/ImageSets/Main/${split}.txt`);
  for (const id of list.split("\n").map((l) => l.trim()).filter(Boolean)) {
    if (keys && !keys.has(id)) continue;
    const path = `${root}/Annotations/${id}.xml`;
    let xml: string;
    try {
      xml = await Deno.readTextFile(path);
    } catch (e) {
      yield { id, problem: `cannot read ${path}: ${(e as Error).message}` };
      continue;
    }
    try {
      yield { id, annotation: parseVocAnnotation(xml), imagePath: `${root}/JPEGImages/${id}.jpg` };
    } catch (e) {
      yield { id, problem: `${path}: ${(e as Error).message}` };
    }
  }
}
