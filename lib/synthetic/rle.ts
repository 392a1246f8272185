/**
 * COCO uncompressed run-length encoding: `{counts, size: [h, w]}`, runs over the mask in COLUMN-MAJOR order
 * (down each column, columns left to right, as pycocotools' Fortran-ordered masks), alternating 0-runs and
 * 1-runs and always starting with a 0-run (of length 0 when the first pixel is set).
 */

import type { Mask } from "./masks.ts";

export interface Rle {
  counts: number[];
  /** [height, width] */
  size: [number, number];
}

/** Encodes a row-major mask as column-major uncompressed RLE. */
export function encodeRle(mask: Mask): Rle {
  const { width, height, data } = mask;
  const counts: number[] = [];
  let current = 0, run = 0;
  for (let x = 0; x < width; x++) {
    for (let y = 0; y < height; y++) {
      const v = data[y * width + x] !== 0 ? 1 : 0;
      if (v !== current) {
        counts.push(run);
        current = v;
        run = 0;
      }
      run++;
    }
  }
  counts.push(run);
  return { counts, size: [height, width] };
}

/** Decodes column-major uncompressed RLE to a row-major mask; throws if the runs do not add up to h * w. */
export function decodeRle(rle: Rle): Mask {
  const [height, width] = rle.size;
  const data = new Uint8Array(width * height);
  let pos = 0, v = 0;
  for (const run of rle.counts) {
    if (!Number.isInteger(run) || run < 0) throw new RangeError(`bad RLE run ${run}`);
    if (pos + run > width * height) throw new RangeError("RLE runs exceed the mask size");
    if (v === 1) {
      for (let i = pos; i < pos + run; i++) data[(i % height) * width + Math.floor(i / height)] = 1;
    }
    pos += run;
    v = 1 - v;
  }
  if (pos !== width * height) throw new RangeError(`RLE runs cover ${pos} of ${width * height} pixels`);
  return { width, height, data };
}
