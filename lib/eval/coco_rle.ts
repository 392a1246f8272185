/**
 * COCO's compressed RLE strings (the `counts` string of crowd masks in instances_*.json, pycocotools'
 * rleToString / rleFrString): each run is written in 5-bit groups, low bits first, as characters from '0' (48),
 * 0x20 marking "more groups follow" and 0x10 in the last group the sign; from the fourth run on, the value
 * stored is the difference to the run two places before.
 */

/** Decodes a compressed counts string to run lengths. Throws RangeError for characters outside the alphabet. */
export function decodeCountsString(s: string): number[] {
  const counts: number[] = [];
  let p = 0;
  while (p < s.length) {
    let x = 0;
    let k = 0;
    let more = true;
    let c = 0;
    while (more) {
      if (p >= s.length) throw new RangeError("truncated RLE counts string");
      c = s.charCodeAt(p) - 48;
      if (c < 0 || c > 63) throw new RangeError(`bad RLE character ${JSON.stringify(s[p])} at ${p}`);
      x |= (c & 0x1f) << (5 * k);
      more = (c & 0x20) !== 0;
      p++;
      k++;
    }
    if (c & 0x10) x |= -1 << (5 * k);
    if (counts.length > 2) x += counts[counts.length - 2];
    counts.push(x);
  }
  return counts;
}

/** The inverse of decodeCountsString. */
export function encodeCountsString(counts: readonly number[]): string {
  let s = "";
  counts.forEach((run, i) => {
    let x = i > 2 ? run - counts[i - 2] : run;
    let more = true;
    while (more) {
      let c = x & 0x1f;
      x >>= 5;
      more = (c & 0x10) ? x !== -1 : x !== 0;
      if (more) c |= 0x20;
      s += String.fromCharCode(c + 48);
    }
  });
  return s;
}
