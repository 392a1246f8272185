/**
 * COCO reading on hand-made data: compressed RLE strings decode to hand-derived runs (incl. a negative delta
 * and a multi-group value) and round-trip; polygon, uncompressed-RLE and compressed-RLE crowd masks union per
 * class; category ids map to indices in sorted order; malformed input is a CocoFormatError.
 */
import assert from "node:assert/strict";
import {
  classRegions,
  CocoFormatError,
  type CocoInstance,
  indexCoco,
  segmentationMask,
} from "../lib/eval/coco.ts";
import { decodeCountsString, encodeCountsString } from "../lib/eval/coco_rle.ts";
import { thrown } from "./helpers/errors.ts";

Deno.test("compressed RLE strings: hand-derived cases and round trips", () => {
  assert.deepEqual(decodeCountsString("032"), [0, 3, 2]);
  assert.deepEqual(decodeCountsString("T3"), [100]); // 100 = 4 + 3·32: groups 0x24 ('T'), 3 ('3')
  assert.deepEqual(decodeCountsString("5:50"), [5, 10, 5, 10]); // the 4th run is stored as 10 − 10 = 0
  assert.deepEqual(decodeCountsString("5:5H"), [5, 10, 5, 2]); // 2 − 10 = −8: one group 0x18 ('H')
  for (const runs of [[0, 7, 3], [12, 400, 5, 30000, 2, 1]]) {
    assert.deepEqual(decodeCountsString(encodeCountsString(runs)), runs);
  }
  assert.throws(() => decodeCountsString("5~"), RangeError);
});

Deno.test("masks from polygons and RLE union per class; ids map in sorted order", () => {
  const json = {
    images: [{ id: 7, file_name: "a.jpg", width: 4, height: 3 }],
    categories: [{ id: 18, name: "dog" }, { id: 1, name: "person" }],
    annotations: <CocoInstance[]> [
      // person: the 2x2 square of pixels (0..1, 0..1) as a polygon along pixel edges
      { image_id: 7, category_id: 1, segmentation: [[0, 0, 2, 0, 2, 2, 0, 2]] },
      // person again, crowd, column-major runs: column 3 rows 0..2 set -> 9 zeros then 3 ones
      {
        image_id: 7,
        category_id: 1,
        iscrowd: 1,
        segmentation: { counts: encodeCountsString([9, 3]), size: [3, 4] },
      },
      // dog: uncompressed RLE, pixel (row 2, col 0): runs 2 zeros, 1 one, 9 zeros
      { image_id: 7, category_id: 18, segmentation: { counts: [2, 1, 9], size: [3, 4] } },
    ],
  };
  const index = indexCoco(json);
  assert.deepEqual(index.categoryNames, ["person", "dog"]);
  const regions = classRegions(index, 7);
  assert.deepEqual(Array.from(regions.get(0)!), [1, 1, 0, 1, 1, 1, 0, 1, 0, 0, 0, 1]);
  assert.deepEqual(Array.from(regions.get(1)!), [0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0]);
  thrown(() => segmentationMask({ counts: [12], size: [2, 6] }, 4, 3), CocoFormatError);
  thrown(() => indexCoco({ images: [] }), CocoFormatError);
  thrown(() => classRegions(index, 8), CocoFormatError);
});
