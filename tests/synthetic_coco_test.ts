/**
 * Synthetic world, COCO 2014 layout: instances files have COCO's keys and types; polygons (rasterised by canvas
 * fill) and crowd RLE (decoded column-major) reproduce the generator's visible masks (IoU >= 0.95, RLE exactly);
 * bbox = tight box of the mask, area = mask pixel count; images exist, with the VOC layout's bytes. Plus RLE and
 * polygon round trips on hand-made masks.
 */
import assert from "node:assert/strict";
import { SHAPE_CLASSES } from "../lib/synthetic/classes.ts";
import { cocoAnnotations } from "../lib/synthetic/coco.ts";
import { splitOfId, SPLITS, vocId } from "../lib/synthetic/ids.ts";
import { type Mask, maskArea, maskIoU, tightBox } from "../lib/synthetic/masks.ts";
import { maskToPolygons, rasterisePolygons } from "../lib/synthetic/polygon.ts";
import { decodeRle, encodeRle, type Rle } from "../lib/synthetic/rle.ts";
import { kit, syntheticTest } from "./helpers/synthetic_gate.ts";

const SMALL = { train: 12, val: 6, test: 6 };
const SEED = 0;

const isInt = (v: unknown) => typeof v === "number" && Number.isInteger(v);
const isNum = (v: unknown) => typeof v === "number" && Number.isFinite(v);
const isStr = (v: unknown) => typeof v === "string";
const keysOf = (o: unknown) => Object.keys(o as object).sort();
const sorted = (xs: string[]) => [...xs].sort();

function mask(rows: number[][]): Mask {
  return { width: rows[0].length, height: rows.length, data: Uint8Array.from(rows.flat()) };
}

Deno.test("RLE: column-major, starts with a 0-run, round trips", () => {
  // column-major sequence of [[0,1,1],[1,0,1]]: col 0 = 0,1; col 1 = 1,0; col 2 = 1,1
  assert.deepEqual(encodeRle(mask([[0, 1, 1], [1, 0, 1]])), { counts: [1, 2, 1, 2], size: [2, 3] });
  assert.deepEqual(encodeRle(mask([[1, 1], [1, 1], [1, 1]])).counts, [0, 6]);
  assert.deepEqual(encodeRle(mask([[0, 0, 0]])).counts, [3]);
  const m = mask([[1, 0, 0, 1], [1, 1, 0, 0], [0, 1, 1, 1]]);
  assert.deepEqual(decodeRle(encodeRle(m)), m);
  assert.throws(() => decodeRle({ counts: [1, 2], size: [2, 3] }), RangeError);
  assert.throws(() => decodeRle({ counts: [5, 2], size: [2, 3] }), RangeError);
});

Deno.test("polygons: holes are bridged in, diagonal pixels stay apart, exact when unsimplified", () => {
  const ring = mask([
    [1, 1, 1, 1, 1],
    [1, 0, 0, 0, 1],
    [1, 0, 1, 0, 1],
    [1, 0, 0, 0, 1],
    [1, 1, 1, 1, 1],
  ]);
  const polys = maskToPolygons(ring);
  assert.equal(polys.length, 2); // the frame (with its hole) and the island in the hole
  assert.deepEqual(rasterisePolygons(polys, 5, 5), ring);
  const diagonal = mask([[1, 0], [0, 1]]);
  assert.equal(maskToPolygons(diagonal).length, 2);
  assert.deepEqual(rasterisePolygons(maskToPolygons(diagonal), 2, 2), diagonal);
  // every polygon: >= 3 points, integer pixel corners
  for (const p of polys) {
    assert.ok(p.length >= 6 && p.length % 2 === 0);
    assert.ok(p.every(Number.isInteger));
  }
});

syntheticTest("polygons rasterised by canvas fill match the masks they came from", async () => {
  const { rasterisePolygonsWithCanvas, annotatedScene } = await kit();
  const ring = mask([
    [0, 0, 0, 0, 0, 0, 0],
    [0, 1, 1, 1, 1, 1, 0],
    [0, 1, 0, 0, 0, 1, 0],
    [0, 1, 0, 1, 0, 1, 1],
    [0, 1, 1, 1, 1, 1, 0],
  ]);
  assert.deepEqual(rasterisePolygonsWithCanvas(maskToPolygons(ring), 7, 5), ring);
  // the generator's ring class has a real hole: the polygon must keep it
  let found = 0;
  for (let i = 0; found < 3 && i < 400; i++) {
    for (const o of annotatedScene(7, "train", i).objects) {
      if (o.className !== "ring" || o.area < 2000) continue;
      found++;
      const iou = maskIoU(
        rasterisePolygonsWithCanvas(maskToPolygons(o.mask), o.mask.width, o.mask.height),
        o.mask,
      );
      assert.ok(iou >= 0.95, `ring IoU ${iou}`);
    }
  }
  assert.equal(found, 3);
});

syntheticTest("COCO 2014 layout", async (t) => {
  const { tempWorld, annotatedScene, rasterisePolygonsWithCanvas } = await kit();
  const world = await tempWorld(SMALL, SEED);
  const coco = `${world.dir}/coco`;
  try {
    assert.deepEqual(
      sorted([...Deno.readDirSync(`${coco}/annotations`)].map((e) => e.name)),
      sorted(SPLITS.flatMap((s) => [`instances_${s}2014.json`, `captions_${s}2014.json`])),
    );
    let minIoU = 1, polygons = 0, crowds = 0;
    for (const split of SPLITS) {
      // deno-lint-ignore no-explicit-any
      const inst: any = JSON.parse(
        await Deno.readTextFile(`${coco}/annotations/instances_${split}2014.json`),
      );

      await t.step(`${split}: keys and types`, async () => {
        assert.deepEqual(keysOf(inst), ["annotations", "categories", "images", "info", "licenses"]);
        assert.deepEqual(keysOf(inst.info), [
          "contributor",
          "date_created",
          "description",
          "url",
          "version",
          "year",
        ]);
        assert.ok(isInt(inst.info.year) && isStr(inst.info.version) && isStr(inst.info.description));
        for (const l of inst.licenses) {
          assert.deepEqual(keysOf(l), ["id", "name", "url"]);
          assert.ok(isInt(l.id) && isStr(l.name) && isStr(l.url));
        }
        assert.deepEqual(
          inst.categories,
          SHAPE_CLASSES.map((name, k) => ({ supercategory: "shape", id: k + 1, name })),
        );
        assert.equal(inst.images.length, SMALL[split]);
        const files = new Set([...Deno.readDirSync(`${coco}/${split}2014`)].map((e) => e.name));
        assert.equal(files.size, SMALL[split]);
        for (const im of inst.images) {
          assert.deepEqual(keysOf(im), [
            "coco_url",
            "date_captured",
            "file_name",
            "flickr_url",
            "height",
            "id",
            "license",
            "width",
          ]);
          assert.ok(isInt(im.id) && isInt(im.width) && isInt(im.height) && isInt(im.license));
          assert.ok(isStr(im.coco_url) && isStr(im.flickr_url) && isStr(im.date_captured));
          assert.equal(im.file_name, `COCO_${split}2014_${String(im.id).padStart(12, "0")}.jpg`);
          assert.equal(splitOfId(im.id).split, split);
          assert.ok(files.has(im.file_name), im.file_name);
          const bytes = await Deno.readFile(`${coco}/${split}2014/${im.file_name}`);
          assert.deepEqual(
            bytes,
            await Deno.readFile(`${world.dir}/VOCdevkit/VOC2007/JPEGImages/${vocId(im.id)}.jpg`),
          );
        }
        const ids = new Set<number>();
        const imageIds = new Set(inst.images.map((i: { id: number }) => i.id));
        for (const a of inst.annotations) {
          assert.deepEqual(keysOf(a), [
            "area",
            "bbox",
            "category_id",
            "id",
            "image_id",
            "iscrowd",
            "segmentation",
          ]);
          assert.ok(isInt(a.id) && !ids.has(a.id));
          ids.add(a.id);
          assert.ok(imageIds.has(a.image_id));
          assert.ok(isInt(a.category_id) && a.category_id >= 1 && a.category_id <= 12);
          assert.ok(isNum(a.area) && a.area >= 40);
          assert.ok(Array.isArray(a.bbox) && a.bbox.length === 4 && a.bbox.every(isNum));
          assert.ok(a.bbox[2] > 0 && a.bbox[3] > 0);
          assert.ok(a.iscrowd === 0 || a.iscrowd === 1);
          if (a.iscrowd === 0) {
            assert.ok(Array.isArray(a.segmentation) && a.segmentation.length >= 1);
            for (const p of a.segmentation) assert.ok(p.length >= 6 && p.length % 2 === 0 && p.every(isNum));
          } else {
            assert.deepEqual(keysOf(a.segmentation), ["counts", "size"]);
            assert.ok(a.segmentation.counts.every(isInt));
          }
        }
        // every image has an annotation (COCO's pointing game skips empty images)
        for (const id of imageIds) {
          assert.ok(inst.annotations.some((a: { image_id: number }) => a.image_id === id));
        }
      });

      await t.step(`${split}: segmentations, boxes and areas match the generator's masks`, () => {
        const images = new Map(inst.images.map((i: { id: number }) => [i.id, i]));
        for (const a of inst.annotations) {
          const im = images.get(a.image_id) as { width: number; height: number };
          const { index } = splitOfId(a.image_id);
          const scene = annotatedScene(SEED, split, index);
          const k = a.id - 10 * a.image_id - 1;
          const o = scene.objects[k];
          assert.ok(o !== undefined, `annotation ${a.id}: no object ${k}`);
          assert.equal(a.category_id, o.classIndex + 1);
          assert.equal(a.iscrowd, o.crowd ? 1 : 0);
          let decoded: Mask;
          if (a.iscrowd === 1) {
            const rle = a.segmentation as Rle;
            assert.deepEqual(rle.size, [im.height, im.width]);
            decoded = decodeRle(rle);
            assert.deepEqual(decoded.data, o.mask.data, `annotation ${a.id}: RLE is not the mask`);
            crowds++;
          } else {
            decoded = rasterisePolygonsWithCanvas(a.segmentation, im.width, im.height);
            const iou = maskIoU(decoded, o.mask);
            minIoU = Math.min(minIoU, iou);
            assert.ok(iou >= 0.95, `annotation ${a.id}: polygon IoU ${iou.toFixed(4)}`);
            polygons++;
          }
          const [x0, y0, x1, y1] = tightBox(o.mask)!;
          assert.deepEqual(a.bbox, [x0, y0, x1 - x0 + 1, y1 - y0 + 1], `annotation ${a.id}: bbox`);
          assert.equal(a.area, maskArea(o.mask));
        }
      });
    }
    assert.ok(polygons > 0);
    console.log(
      `polygons: ${polygons}, min IoU ${minIoU.toFixed(4)}; crowd RLEs in the small world: ${crowds}`,
    );

    await t.step("crowd RLE of every object of some scenes decodes to its mask", () => {
      for (let index = 0; index < 6; index++) {
        const scene = annotatedScene(SEED, "test", index);
        const anns = cocoAnnotations(300000 + index, scene.objects.map((o) => ({ ...o, crowd: true })));
        anns.forEach((a, k) => {
          const rle = a.segmentation as Rle;
          const m = scene.objects[k].mask;
          assert.equal(rle.counts.reduce((s, c) => s + c, 0), m.width * m.height);
          assert.equal(rle.counts[0] === 0, m.data[0] === 1); // a leading 0-run of length 0 iff pixel (0,0) is set
          assert.deepEqual(decodeRle(rle).data, m.data);
        });
      }
    });
  } finally {
    await world.dispose();
  }
});
