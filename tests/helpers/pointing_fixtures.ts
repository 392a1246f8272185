/**
 * Test helper: hand-made VOC 2007 and COCO 2014 datasets on disk for the pointing-game driver, with the centre
 * baseline's outcome of every image/class pair worked out by hand in the comments (centre = (floor(W/2),
 * floor(H/2)); hit iff some pixel of Ω lies at distance < 15 px).
 */
import { encodeCountsString } from "../../lib/eval/coco_rle.ts";

export const FIXTURE_CLASSES = ["circle", "square", "triangle", "star"];

type Obj = [name: string, xmin: number, ymin: number, xmax: number, ymax: number, difficult?: 0 | 1];

function vocXml(file: string, width: number, height: number, objects: Obj[]): string {
  const objs = objects.map(([name, xmin, ymin, xmax, ymax, difficult = 0]) =>
    `<object><name>${name}</name><pose>Unspecified</pose><truncated>0</truncated>` +
    `<difficult>${difficult}</difficult><bndbox><xmin>${xmin}</xmin><ymin>${ymin}</ymin>` +
    `<xmax>${xmax}</xmax><ymax>${ymax}</ymax></bndbox></object>`
  ).join("\n");
  return `<annotation><folder>VOC2007</folder><filename>${file}.jpg</filename>` +
    `<size><width>${width}</width><height>${height}</height><depth>3</depth></size>\n${objs}\n</annotation>\n`;
}

/**
 * <dir>/VOC2007 with test.txt = img1 … img5:
 *  img1 100x80, centre (50,40). circle box 1-based (1,1)-(10,10) -> cols/rows 0..9, nearest (9,9): 41 px -> MISS;
 *       area 100 < 2000 and 2 classes -> difficult by rule. square (31,21)-(100,80) contains the centre -> HIT;
 *       area 70*60 = 4200 >= 2000 -> not difficult by rule.
 *  img2 60x60, centre (30,30). circle only as a difficult object -> SKIPPED in both subsets. triangle
 *       (20,20)-(40,40) contains the centre -> HIT; area 441 < 900 and circle present -> difficult by rule.
 *  img3 61x61, centre (30,30). star: two objects, both difficult -> SKIPPED. circle (46,26)-(50,36) -> cols
 *       45..49, nearest (45,30) at exactly 15 px -> MISS (strict <). square (1,26)-(17,36) -> cols 0..16,
 *       nearest (16,30) at 14 px -> HIT. Both areas < 930 with 3 classes present -> difficult by rule.
 *  img4 has no annotation file -> problem.  img5's annotation is not XML -> problem.
 * All subset: circle 0/2, square 2/2, triangle 1/1, star 0/0 -> accuracy (0 + 1 + 1 + 0) / 4 = 0.5.
 * Difficult by rule: circle 0/2 (img1, img3), square 1/1 (img3), triangle 1/1 -> 0.5.
 */
export async function writeVocFixture(dir: string): Promise<string> {
  const root = `${dir}/VOC2007`;
  await Deno.mkdir(`${root}/ImageSets/Main`, { recursive: true });
  await Deno.mkdir(`${root}/Annotations`, { recursive: true });
  await Deno.mkdir(`${root}/JPEGImages`, { recursive: true });
  await Deno.writeTextFile(`${root}/ImageSets/Main/test.txt`, "img1\nimg2\nimg3\nimg4\nimg5\n");
  const write = (id: string, text: string) => Deno.writeTextFile(`${root}/Annotations/${id}.xml`, text);
  await write("img1", vocXml("img1", 100, 80, [["circle", 1, 1, 10, 10], ["square", 31, 21, 100, 80]]));
  await write("img2", vocXml("img2", 60, 60, [["circle", 1, 1, 5, 5, 1], ["triangle", 20, 20, 40, 40]]));
  await write(
    "img3",
    vocXml("img3", 61, 61, [
      ["star", 1, 1, 5, 5, 1],
      ["star", 56, 56, 61, 61, 1],
      ["circle", 46, 26, 50, 36],
      ["square", 1, 26, 17, 36],
    ]),
  );
  await write("img5", "this is not xml");
  return root;
}

/**
 * <dir>/coco with annotations/instances_val2014.json:
 *  A (id 1) 40x30, centre (20,15). circle: polygon square 10..20 -> pixels cols/rows 10..19, nearest (19,15)
 *    at 1 px -> HIT. square: crowd, uncompressed RLE of columns 0..1 -> nearest (1,15) at 19 px -> MISS.
 *    Areas 100 and 60 < 300 with 2 classes -> both difficult by rule.
 *  B (id 2) has no annotations -> not evaluated at all.
 *  C (id 3) 40x30, centre (20,15). triangle: compressed RLE of column 20 rows 0..29 -> contains the centre
 *    -> HIT; the only class -> not difficult.
 * Category ids 7 (square), 3 (circle), 9 (triangle), 11 (star): sorted ids give circle, square, triangle, star.
 * All: circle 1/1, square 0/1, triangle 1/1, star 0/0 -> 0.5. Difficult by rule: circle 1/1, square 0/1 -> 0.25.
 */
export async function writeCocoFixture(dir: string): Promise<string> {
  const root = `${dir}/coco`;
  await Deno.mkdir(`${root}/annotations`, { recursive: true });
  const column20 = [20 * 30, 30, 40 * 30 - 21 * 30];
  const json = {
    images: [
      { id: 1, file_name: "COCO_val2014_000000000001.jpg", width: 40, height: 30 },
      { id: 2, file_name: "COCO_val2014_000000000002.jpg", width: 40, height: 30 },
      { id: 3, file_name: "COCO_val2014_000000000003.jpg", width: 40, height: 30 },
    ],
    annotations: [
      { id: 10, image_id: 1, category_id: 3, iscrowd: 0, segmentation: [[10, 10, 20, 10, 20, 20, 10, 20]] },
      {
        id: 11,
        image_id: 1,
        category_id: 7,
        iscrowd: 1,
        segmentation: { counts: [0, 60, 1140], size: [30, 40] },
      },
      {
        id: 12,
        image_id: 3,
        category_id: 9,
        iscrowd: 1,
        segmentation: { counts: encodeCountsString(column20), size: [30, 40] },
      },
    ],
    categories: [
      { id: 7, name: "square" },
      { id: 3, name: "circle" },
      { id: 9, name: "triangle" },
      { id: 11, name: "star" },
    ],
  };
  await Deno.writeTextFile(`${root}/annotations/instances_val2014.json`, JSON.stringify(json));
  return root;
}
