/**
 * Synthetic world captions: captions_<split>2014.json has COCO's captions format with one caption per image;
 * every caption parses with the documented grammar, uses only the fixed vocabulary, and names exactly the
 * annotated objects (class, colour and size word each, in decreasing visible area) with the right relation.
 */
import assert from "node:assert/strict";
import { SHAPE_CLASSES } from "../lib/synthetic/classes.ts";
import { captionParts } from "../lib/caption/caption_parts.ts";
import type { ObjectAnnotation } from "../lib/synthetic/annotate.ts";
import { CAPTION_VOCABULARY, relation } from "../lib/synthetic/caption.ts";
import { SPLITS } from "../lib/synthetic/ids.ts";
import { kit, syntheticTest } from "./helpers/synthetic_gate.ts";

const SMALL = { train: 12, val: 6, test: 6 };

/** The captions' size word, as their spec says: the visible area under 2 % of the image small, under 8 % medium. */
const sizeOf = (area: number, imageArea: number) =>
  area < 0.02 * imageArea ? "small" : area < 0.08 * imageArea ? "medium" : "large";

/** Where `a` is relative to `b`, as the spec says: along the larger offset between their mask centroids. */
function where(a: ObjectAnnotation, b: ObjectAnnotation): string {
  const centre = ({ mask }: ObjectAnnotation) => {
    let [n, sx, sy] = [0, 0, 0];
    mask.data.forEach((v, i) => {
      if (!v) return;
      n++;
      sx += i % mask.width;
      sy += Math.floor(i / mask.width);
    });
    return [sx / n, sy / n];
  };
  const [[ax, ay], [bx, by]] = [centre(a), centre(b)];
  const [dx, dy] = [bx - ax, by - ay];
  if (Math.abs(dx) >= Math.abs(dy)) return dx >= 0 ? "left of" : "right of";
  return dy >= 0 ? "above" : "below";
}
const SEED = 0;

// Pinned: changing the vocabulary must be a deliberate act (captioning models depend on it).
const VOCABULARY = [
  "a",
  "small",
  "medium",
  "large",
  "red",
  "orange",
  "yellow",
  "green",
  "cyan",
  "blue",
  "purple",
  "pink",
  "brown",
  "white",
  "black",
  "grey",
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
  "left",
  "right",
  "of",
  "above",
  "below",
  "with",
  "and",
];

const NP = "a (small|medium|large) (\\w+) (\\w+)";
const GRAMMAR = new RegExp(
  `^${NP}(?: (left of|right of|above|below) ${NP}(?: with ${NP}(?: and ${NP})?)?)?$`,
);

/** The (size, colour, class) triples and the relation of a caption, or null if it does not parse. */
function parseCaption(text: string): { nps: [string, string, string][]; relation?: string } | null {
  const m = text.match(GRAMMAR);
  if (m === null) return null;
  const nps: [string, string, string][] = [];
  for (const at of [1, 5, 8, 11]) if (m[at] !== undefined) nps.push([m[at], m[at + 1], m[at + 2]]);
  return { nps, relation: m[4] };
}

Deno.test("caption vocabulary is fixed and duplicate-free", () => {
  assert.deepEqual([...CAPTION_VOCABULARY], VOCABULARY);
  assert.equal(new Set(VOCABULARY).size, VOCABULARY.length);
});

Deno.test("relation: from visible-mask centroids, the larger displacement decides", () => {
  const at = (pixels: [number, number][]): ObjectAnnotation => {
    const data = new Uint8Array(100);
    for (const [x, y] of pixels) data[y * 10 + x] = 1;
    return { mask: { width: 10, height: 10, data } } as ObjectAnnotation;
  };
  const left = at([[1, 4], [1, 5]]), right = at([[8, 5], [8, 6]]), top = at([[5, 0]]), bottom = at([[4, 9]]);
  assert.equal(relation(left, right), "left of");
  assert.equal(relation(right, left), "right of");
  assert.equal(relation(top, bottom), "above");
  assert.equal(relation(bottom, top), "below");
});

syntheticTest(
  "captions: one per image, grammar, vocabulary, and they name the annotated objects",
  async (t) => {
    const { tempWorld, generateImage } = await kit();
    const world = await tempWorld(SMALL, SEED);
    try {
      for (const split of SPLITS) {
        await t.step(`${split}: COCO captions format, one caption per image`, async () => {
          const dir = `${world.dir}/coco/annotations`;
          // deno-lint-ignore no-explicit-any
          const caps: any = JSON.parse(await Deno.readTextFile(`${dir}/captions_${split}2014.json`));
          const inst = JSON.parse(await Deno.readTextFile(`${dir}/instances_${split}2014.json`));
          assert.deepEqual(Object.keys(caps).sort(), ["annotations", "images", "info", "licenses"]);
          assert.deepEqual(caps.images, inst.images);
          assert.equal(caps.annotations.length, caps.images.length);
          const imageIds = caps.images.map((i: { id: number }) => i.id).sort();
          assert.deepEqual(caps.annotations.map((a: { image_id: number }) => a.image_id).sort(), imageIds);
          for (const a of caps.annotations) {
            assert.deepEqual(Object.keys(a).sort(), ["caption", "id", "image_id"]);
            assert.ok(Number.isInteger(a.id) && typeof a.caption === "string");
            // the caption names the classes the image's instance annotations (as written) have, as a multiset
            const parsed = parseCaption(a.caption);
            assert.ok(parsed !== null, `does not parse: "${a.caption}"`);
            const annotated = inst.annotations.filter((x: { image_id: number }) => x.image_id === a.image_id)
              .map((x: { category_id: number }) =>
                inst.categories.find((c: { id: number; name: string }) => c.id === x.category_id).name
              );
            assert.deepEqual(parsed.nps.map((np) => np[2]).sort(), annotated.sort(), a.caption);
            for (const word of a.caption.split(" ")) {
              assert.ok(VOCABULARY.includes(word), `"${word}" in "${a.caption}"`);
            }
          }
        });
      }

      await t.step("captions of 150 scenes name every object, in decreasing visible area", () => {
        let relations = 0;
        for (let index = 0; index < 150; index++) {
          const img = generateImage(SEED, "train", index, { encode: false });
          const parsed = parseCaption(img.caption);
          assert.ok(parsed !== null, `does not parse: "${img.caption}"`);
          const objs = [...img.scene.objects].sort((p, q) => q.area - p.area);
          assert.equal(parsed.nps.length, objs.length, img.caption);
          // lib/caption/caption_parts.ts (the captioner's per-part report) reads the same parts
          const parts = captionParts(img.caption.split(" "));
          assert.deepEqual(parts.objects.map((o) => [o.size, o.colour, o.cls]), parsed.nps, img.caption);
          assert.equal(parts.relation, parsed.relation ?? null, img.caption);
          // class words = the annotated classes (as a multiset, hence also as a set)
          assert.deepEqual(
            parsed.nps.map((np) => np[2]).sort(),
            objs.map((o) => o.className).sort(),
            img.caption,
          );
          for (const [size, colour, cls] of parsed.nps) {
            assert.ok((SHAPE_CLASSES as readonly string[]).includes(cls));
            const o = objs.find((x) =>
              x.className === cls && x.colourName === colour &&
              sizeOf(x.area, img.width * img.height) === size
            );
            assert.ok(o !== undefined, `"${size} ${colour} ${cls}" matches no object: ${img.caption}`);
          }
          assert.equal(parsed.nps[0][2], objs[0].className);
          if (objs.length >= 2) {
            assert.equal(parsed.relation, where(objs[0], objs[1]), img.caption);
            relations++;
          }
        }
        assert.ok(relations > 30, `only ${relations} captions with a relation`);
      });
    } finally {
      await world.dispose();
    }
  },
);
