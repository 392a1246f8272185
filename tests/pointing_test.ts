/**
 * The pointing game's scoring core against hand-worked cases: the strict 15-px open disc, 1-based inclusive VOC
 * boxes, skips, the accuracy formula (a class with no pairs contributes 0), merging shards, JSON round trip.
 */
import assert from "node:assert/strict";
import { boxesMask, centrePoint, pointingHit, PointingTally } from "../lib/eval/pointing.ts";

Deno.test("VOC boxes are 1-based inclusive", () => {
  // a 4x3 image; box columns 2..3, rows 1..2 (1-based) -> 0-based columns 1..2, rows 0..1
  const mask = boxesMask([{ xmin: 2, ymin: 1, xmax: 3, ymax: 2 }], 4, 3);
  assert.deepEqual(Array.from(mask), [0, 1, 1, 0, 0, 1, 1, 0, 0, 0, 0, 0]);
  // boxes past the border are clipped; overlapping boxes are a union
  const clipped = boxesMask(
    [{ xmin: 3, ymin: 3, xmax: 9, ymax: 9 }, { xmin: 1, ymin: 1, xmax: 1, ymax: 1 }],
    4,
    3,
  );
  assert.deepEqual(Array.from(clipped), [1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1]);
});

Deno.test("the hit test uses the open disc of radius 15: distance 15 misses, less hits", () => {
  const w = 100;
  const h = 60;
  const single = (x: number, y: number) => {
    const m = new Uint8Array(w * h);
    m[y * w + x] = 1;
    return m;
  };
  const target = single(50, 30);
  assert.equal(pointingHit(target, w, h, { x: 50, y: 30 }), true);
  assert.equal(pointingHit(target, w, h, { x: 35, y: 30 }), false); // exactly 15 px: strict <
  assert.equal(pointingHit(target, w, h, { x: 36, y: 30 }), true); // 14 px
  assert.equal(pointingHit(target, w, h, { x: 40, y: 19 }), true); // 10² + 11² = 221 < 225
  assert.equal(pointingHit(target, w, h, { x: 39, y: 19 }), false); // 11² + 11² = 242
  assert.equal(pointingHit(target, w, h, { x: 60, y: 42 }, 16), true); // 10² + 12² = 244 < 256
  assert.equal(pointingHit(new Uint8Array(w * h), w, h, { x: 50, y: 30 }), false);
});

Deno.test("centre baseline point", () => {
  assert.deepEqual(centrePoint(500, 375), { x: 250, y: 187 });
});

Deno.test("accuracy = mean over all classes of hits / max(hits + misses, 1); skips count in neither", () => {
  const t = new PointingTally(3);
  t.record(0, true);
  t.record(0, true);
  t.record(0, false); // class 0: 2/3
  t.record(1, false); // class 1: 0/1
  t.record(1, null); // skipped
  // class 2: no pairs -> 0
  assert.deepEqual(t.classAccuracies(), [2 / 3, 0, 0]);
  assert.equal(t.accuracy(), (2 / 3) / 3);
  assert.throws(() => t.record(3, true), RangeError);
});

Deno.test("shards merge by addition and round-trip through JSON", () => {
  const a = new PointingTally(2);
  a.record(0, true);
  const b = new PointingTally(2);
  b.record(0, false);
  b.record(1, true);
  const merged = PointingTally.fromJSON(JSON.parse(JSON.stringify(a.merge(b))));
  assert.deepEqual(merged.toJSON(), { hits: [1, 1], misses: [1, 0] });
  assert.equal(merged.accuracy(), (0.5 + 1) / 2);
  assert.throws(() => a.merge(new PointingTally(3)), RangeError);
});
