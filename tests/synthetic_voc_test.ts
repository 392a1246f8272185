/**
 * Synthetic world, VOC 2007 layout: every Annotations/*.xml parses and follows VOC's schema (elements, order,
 * values); boxes are 1-based inclusive inside [1, width] x [1, height] and equal the tight box of the generator's
 * visible mask + 1; truncated/difficult follow the documented rules; JPEG sizes match <size>; ImageSets split
 * lists and per-class flag files agree with the annotations.
 */
import assert from "node:assert/strict";
import { SHAPE_CLASSES } from "../lib/synthetic/classes.ts";
import { type Split, splitOfId, SPLITS } from "../lib/synthetic/ids.ts";
import { kit, syntheticTest } from "./helpers/synthetic_gate.ts";
import { all, one, parseXml, type XmlElement } from "../lib/eval/xml.ts";

const SMALL = { train: 12, val: 6, test: 6 };
const SEED = 0;

const names = (el: XmlElement) => el.children.map((c) => c.name);
const int = (el: XmlElement, name: string) => {
  const text = one(el, name).text;
  assert.match(text, /^-?\d+$/, `<${name}> is not an integer: ${text}`);
  return Number(text);
};

Deno.test("tiny XML reader: elements, text, entities, declaration, errors", () => {
  const doc = parseXml(
    '<?xml version="1.0"?>\n<!-- c --><a>\n\t<b>x &amp; y</b>\n\t<c><d>1</d></c><e/></a>\n',
  );
  assert.deepEqual(names(doc), ["b", "c", "e"]);
  assert.equal(one(doc, "b").text, "x & y");
  assert.equal(one(one(doc, "c"), "d").text, "1");
  assert.throws(() => parseXml("<a><b></a></b>"), SyntaxError);
  assert.throws(() => parseXml("<a>"), SyntaxError);
  assert.throws(() => parseXml("<a></a><b></b>"), SyntaxError);
});

interface ParsedObject {
  name: string;
  truncated: number;
  difficult: number;
  box: [number, number, number, number];
}

syntheticTest("VOC 2007 layout", async (t) => {
  const {
    tempWorld,
    annotatedScene,
    loadImage,
    renderShapeMask,
    DIFFICULT_MIN_AREA,
    DIFFICULT_MIN_VISIBLE_FRACTION,
  } = await kit();
  const world = await tempWorld(SMALL, SEED);
  const voc = `${world.dir}/VOCdevkit/VOC2007`;
  try {
    const xmlIds = [...Deno.readDirSync(`${voc}/Annotations`)].map((e) => e.name).sort();
    const jpgIds = [...Deno.readDirSync(`${voc}/JPEGImages`)].map((e) => e.name).sort();
    const total = SMALL.train + SMALL.val + SMALL.test;
    assert.equal(xmlIds.length, total);
    assert.deepEqual(jpgIds, xmlIds.map((n) => n.replace(/\.xml$/, ".jpg")));
    const parsed = new Map<string, { width: number; height: number; objects: ParsedObject[] }>();

    await t.step("every annotation follows VOC's schema", async () => {
      for (const file of xmlIds) {
        const id = file.slice(0, -4);
        assert.match(id, /^\d{6}$/);
        const root = parseXml(await Deno.readTextFile(`${voc}/Annotations/${file}`));
        assert.equal(root.name, "annotation");
        const objs = all(root, "object");
        assert.ok(objs.length >= 1, `${file}: no object`);
        assert.deepEqual(names(root), [
          "folder",
          "filename",
          "source",
          "owner",
          "size",
          "segmented",
          ...objs.map(() => "object"),
        ]);
        assert.equal(one(root, "folder").text, "VOC2007");
        assert.equal(one(root, "filename").text, `${id}.jpg`);
        assert.deepEqual(names(one(root, "source")), ["database", "annotation", "image"]);
        const size = one(root, "size");
        assert.deepEqual(names(size), ["width", "height", "depth"]);
        const width = int(size, "width"), height = int(size, "height");
        assert.equal(int(size, "depth"), 3);
        assert.ok(
          width >= 300 && width <= 500 && height >= 300 && height <= 500,
          `${file}: ${width}x${height}`,
        );
        const img = await loadImage(await Deno.readFile(`${voc}/JPEGImages/${id}.jpg`));
        assert.deepEqual([img.width, img.height], [width, height], `${file}: JPEG size`);
        assert.equal(int(root, "segmented"), 0);
        const objects = objs.map((o): ParsedObject => {
          assert.deepEqual(names(o), ["name", "pose", "truncated", "difficult", "bndbox"]);
          assert.ok((SHAPE_CLASSES as readonly string[]).includes(one(o, "name").text), one(o, "name").text);
          assert.equal(one(o, "pose").text, "Unspecified");
          const truncated = int(o, "truncated"), difficult = int(o, "difficult");
          assert.ok(truncated === 0 || truncated === 1);
          assert.ok(difficult === 0 || difficult === 1);
          const bb = one(o, "bndbox");
          assert.deepEqual(names(bb), ["xmin", "ymin", "xmax", "ymax"]);
          const box: [number, number, number, number] = [
            int(bb, "xmin"),
            int(bb, "ymin"),
            int(bb, "xmax"),
            int(bb, "ymax"),
          ];
          assert.ok(1 <= box[0] && box[0] <= box[2] && box[2] <= width, `${file}: x ${box}`);
          assert.ok(1 <= box[1] && box[1] <= box[3] && box[3] <= height, `${file}: y ${box}`);
          return { name: one(o, "name").text, truncated, difficult, box };
        });
        parsed.set(id, { width, height, objects });
      }
    });

    await t.step("boxes are the generator's visible-mask boxes + 1; flags follow the rules", () => {
      let truncated = 0;
      for (const [id, ann] of parsed) {
        const { split, index } = splitOfId(Number(id));
        const scene = annotatedScene(SEED, split, index);
        assert.deepEqual([scene.spec.width, scene.spec.height], [ann.width, ann.height]);
        assert.equal(ann.objects.length, scene.objects.length);
        scene.objects.forEach((o, k) => {
          const p = ann.objects[k];
          assert.equal(p.name, o.className);
          // tight box of the visible mask, recomputed here
          let x0 = Infinity, y0 = Infinity, x1 = -1, y1 = -1, area = 0;
          for (let y = 0; y < ann.height; y++) {
            for (let x = 0; x < ann.width; x++) {
              if (!o.mask.data[y * ann.width + x]) continue;
              area++;
              x0 = Math.min(x0, x);
              x1 = Math.max(x1, x);
              y0 = Math.min(y0, y);
              y1 = Math.max(y1, y);
            }
          }
          assert.deepEqual(p.box, [x0 + 1, y0 + 1, x1 + 1, y1 + 1], `${id} object ${k}`);
          assert.equal(area, o.area);
          assert.ok(area >= 40);
          const difficult = area < DIFFICULT_MIN_AREA || area < DIFFICULT_MIN_VISIBLE_FRACTION * o.fullArea;
          assert.equal(p.difficult, difficult ? 1 : 0, `${id} object ${k} difficult`);
          // truncated = part of the full silhouette lies outside the image
          const full = renderShapeMask(scene.spec.objects[k]);
          let outside = false;
          for (let y = 0; y < full.height && !outside; y++) {
            for (let x = 0; x < full.width && !outside; x++) {
              const ix = x + full.ox, iy = y + full.oy;
              outside = full.data[y * full.width + x] === 1 &&
                (ix < 0 || iy < 0 || ix >= ann.width || iy >= ann.height);
            }
          }
          assert.equal(p.truncated, outside ? 1 : 0, `${id} object ${k} truncated`);
          if (outside) truncated++;
        });
      }
      assert.ok(truncated > 0, "no truncated object in the small world");
    });

    await t.step("ImageSets: split lists and per-class flags agree with the annotations", async () => {
      const main = `${voc}/ImageSets/Main`;
      const expectedFiles = ["train", "val", "test", "trainval"].flatMap((s) => [
        `${s}.txt`,
        ...SHAPE_CLASSES.map((c) => `${c}_${s}.txt`),
      ]).sort();
      assert.deepEqual([...Deno.readDirSync(main)].map((e) => e.name).sort(), expectedFiles);
      const bySplit: Record<string, string[]> = { train: [], val: [], test: [] };
      for (const id of [...parsed.keys()].sort()) bySplit[splitOfId(Number(id)).split].push(id);
      bySplit.trainval = [...bySplit.train, ...bySplit.val].sort();
      for (const split of [...SPLITS, "trainval"] as (Split | "trainval")[]) {
        const ids = bySplit[split];
        if (split !== "trainval") assert.equal(ids.length, SMALL[split]);
        assert.equal(await Deno.readTextFile(`${main}/${split}.txt`), ids.map((i) => `${i}\n`).join(""));
        for (const cls of SHAPE_CLASSES) {
          const lines = (await Deno.readTextFile(`${main}/${cls}_${split}.txt`)).split("\n");
          assert.equal(lines.pop(), "");
          assert.equal(lines.length, ids.length);
          lines.forEach((line, i) => {
            assert.match(line, /^\d{6} ( 1| 0|-1)$/);
            const [id, flag] = [line.slice(0, 6), Number(line.slice(7))];
            assert.equal(id, ids[i]);
            const objs = parsed.get(id)!.objects.filter((o) => o.name === cls);
            const expected = objs.length === 0 ? -1 : objs.some((o) => o.difficult === 0) ? 1 : 0;
            assert.equal(flag, expected, `${cls}_${split}: ${line}`);
          });
        }
      }
    });
  } finally {
    await world.dispose();
  }
});
