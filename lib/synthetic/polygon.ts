/**
 * Masks to COCO polygons and back.
 *
 * `maskToPolygons` traces the boundary of a mask along pixel edges (pixel (x, y) is the square [x, x+1] x
 * [y, y+1], so an unsimplified polygon encloses exactly the mask's pixels), one closed polygon per 4-connected
 * component. COCO unions an annotation's polygons, so a hole cannot be its own polygon: each hole is spliced
 * into the boundary that surrounds it by a zero-width bridge (a segment walked there and back along a row of
 * pixel corners), which every even-odd or non-zero fill, pycocotools' included, leaves empty. The staircase is
 * then simplified (Douglas-Peucker, bridge ends kept) with the largest tolerance among 1, 0.6, 0.3 and 0 px
 * whose rasterisation still has IoU >= 0.98 with the mask.
 *
 * `rasterisePolygons` is the inverse: a pixel is inside when its centre is inside some polygon (even-odd).
 */

import type { Mask } from "./masks.ts";

/** Minimum IoU between a simplified polygon set and its mask. */
export const POLYGON_MIN_IOU = 0.98;
const TOLERANCES = [1, 0.6, 0.3, 0];

interface Loop {
  /** Vertex coordinates, flat, in the traced frame. */
  pts: number[];
  area2: number;
}

interface Attachment {
  at: number;
  child: number;
  entry: number;
}

const DX = [1, 0, -1, 0], DY = [0, 1, 0, -1];

/**
 * Boundary loops of a mask region: outer loops have positive (screen-clockwise) area, holes negative.
 * Traced with the foreground on the right; at a vertex where two diagonal pixels meet the tracer turns right,
 * which keeps diagonal neighbours apart (4-connectivity).
 */
function traceLoops(fg: (x: number, y: number) => boolean, w: number, h: number) {
  const vw = w + 1;
  const out = new Int8Array(2 * vw * (h + 1)).fill(-1);
  const addEdge = (x: number, y: number, d: number) => {
    const v = y * vw + x;
    if (out[2 * v] < 0) out[2 * v] = d;
    else out[2 * v + 1] = d;
  };
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      if (!fg(x, y)) continue;
      if (!fg(x, y - 1)) addEdge(x, y, 0);
      if (!fg(x + 1, y)) addEdge(x + 1, y, 1);
      if (!fg(x, y + 1)) addEdge(x + 1, y + 1, 2);
      if (!fg(x - 1, y)) addEdge(x, y + 1, 3);
    }
  }
  const visited = new Uint8Array(4 * vw * (h + 1));
  const leftLoop = new Int32Array(w * h).fill(-1);
  const leftEnd = new Int32Array(w * h);
  const loops: Loop[] = [];
  for (let v0 = 0; v0 < vw * (h + 1); v0++) {
    for (let slot = 0; slot < 2; slot++) {
      const d0 = out[2 * v0 + slot];
      if (d0 < 0 || visited[4 * v0 + d0]) continue;
      const pts: number[] = [];
      const lefts: number[] = [];
      let v = v0, d = d0;
      do {
        visited[4 * v + d] = 1;
        const x = v % vw, y = (v - x) / vw;
        pts.push(x, y);
        if (d === 3) lefts.push((y - 1) * w + x, pts.length / 2); // pixel (x, y-1); its end vertex index
        const nx = x + DX[d], ny = y + DY[d], nv = ny * vw + nx;
        const a = out[2 * nv], b = out[2 * nv + 1];
        d = b < 0 ? a : (a === (d + 1) % 4 || b === (d + 1) % 4) ? (d + 1) % 4 : a;
        v = nv;
      } while (!(v === v0 && d === d0));
      const n = pts.length / 2;
      let area2 = 0;
      for (let i = 0; i < n; i++) {
        const j = (i + 1) % n;
        area2 += pts[2 * i] * pts[2 * j + 1] - pts[2 * j] * pts[2 * i + 1];
      }
      for (let i = 0; i < lefts.length; i += 2) {
        leftLoop[lefts[i]] = loops.length;
        leftEnd[lefts[i]] = lefts[i + 1] % n;
      }
      loops.push({ pts, area2 });
    }
  }
  return { loops, leftLoop, leftEnd };
}

/** Perpendicular distance of (px, py) from the segment (ax, ay)-(bx, by). */
function segmentDistance(px: number, py: number, ax: number, ay: number, bx: number, by: number): number {
  const dx = bx - ax, dy = by - ay, len2 = dx * dx + dy * dy;
  if (len2 === 0) return Math.hypot(px - ax, py - ay);
  const t = Math.max(0, Math.min(1, ((px - ax) * dx + (py - ay) * dy) / len2));
  return Math.hypot(px - ax - t * dx, py - ay - t * dy);
}

/** Douglas-Peucker on pts[from..to] (point indices, inclusive); marks kept points. */
function douglasPeucker(pts: number[], from: number, to: number, tol: number, keep: Uint8Array): void {
  keep[from] = 1;
  keep[to] = 1;
  const stack = [from, to];
  while (stack.length > 0) {
    const b = stack.pop()!, a = stack.pop()!;
    let worst = -1, at = -1;
    for (let i = a + 1; i < b; i++) {
      const dist = segmentDistance(
        pts[2 * i],
        pts[2 * i + 1],
        pts[2 * a],
        pts[2 * a + 1],
        pts[2 * b],
        pts[2 * b + 1],
      );
      if (dist > worst) {
        worst = dist;
        at = i;
      }
    }
    if (at >= 0 && worst > tol) {
      keep[at] = 1;
      stack.push(a, at, at, b);
    }
  }
}

/** Simplifies a closed polygon, keeping the points flagged in `fixed`. */
function simplifyClosed(pts: number[], fixed: Uint8Array, tol: number): number[] {
  const n = pts.length / 2;
  const anchors: number[] = [];
  for (let i = 0; i < n; i++) if (fixed[i]) anchors.push(i);
  if (anchors.length === 0) {
    let far = 0, best = -1;
    for (let i = 1; i < n; i++) {
      const d = Math.hypot(pts[2 * i] - pts[0], pts[2 * i + 1] - pts[1]);
      if (d > best) {
        best = d;
        far = i;
      }
    }
    anchors.push(0, far);
  }
  // Unroll once so every chain between consecutive anchors is a contiguous index range.
  const ext = [...pts, ...pts];
  const keep = new Uint8Array(2 * n);
  for (let k = 0; k < anchors.length; k++) {
    const a = anchors[k], b = k + 1 < anchors.length ? anchors[k + 1] : anchors[0] + n;
    douglasPeucker(ext, a, b, tol, keep);
  }
  const out: number[] = [];
  for (let i = anchors[0]; i < anchors[0] + n; i++) {
    if (!keep[i]) continue;
    const x = ext[2 * i], y = ext[2 * i + 1];
    if (out.length >= 2 && out[out.length - 2] === x && out[out.length - 1] === y) continue;
    out.push(x, y);
  }
  while (out.length >= 4 && out[0] === out[out.length - 2] && out[1] === out[out.length - 1]) {
    out.splice(-2, 2);
  }
  return out;
}

/**
 * Traces every boundary loop in the region, splices holes into the loops around them, and returns one closed
 * polygon per outer boundary (flat, in image coordinates) with the indices of the bridge ends.
 */
function boundaryPolygons(mask: Mask, box: [number, number, number, number]) {
  const [bx0, by0, bx1, by1] = box;
  const w = bx1 - bx0 + 1, h = by1 - by0 + 1;
  const fg = (x: number, y: number) =>
    x >= 0 && y >= 0 && x < w && y < h && mask.data[(y + by0) * mask.width + x + bx0] !== 0;
  const { loops, leftLoop, leftEnd } = traceLoops(fg, w, h);
  const attachments: Attachment[][] = loops.map(() => []);
  loops.forEach((loop, id) => {
    if (loop.area2 > 0) return;
    // Hole: bridge its left-most (then top-most) corner to the first boundary on its left in that pixel row.
    let q = 0;
    for (let i = 1; i < loop.pts.length / 2; i++) {
      const x = loop.pts[2 * i], y = loop.pts[2 * i + 1];
      if (x < loop.pts[2 * q] || (x === loop.pts[2 * q] && y < loop.pts[2 * q + 1])) q = i;
    }
    const y = loop.pts[2 * q + 1];
    let cx = loop.pts[2 * q] - 1;
    while (fg(cx - 1, y)) cx--;
    const parent = leftLoop[y * w + cx];
    attachments[parent].push({ at: leftEnd[y * w + cx], child: id, entry: q });
  });
  const polygons: { pts: number[]; fixed: number[] }[] = [];
  const emit = (id: number, start: number, pts: number[], fixed: number[]) => {
    const lp = loops[id].pts, n = lp.length / 2;
    for (let k = 0; k < n; k++) {
      const i = (start + k) % n;
      pts.push(lp[2 * i] + bx0, lp[2 * i + 1] + by0);
      for (const att of attachments[id]) {
        if (att.at !== i) continue;
        fixed.push(pts.length / 2 - 1, pts.length / 2); // the bridge's two ends
        emit(att.child, att.entry, pts, fixed);
        const c = loops[att.child].pts;
        fixed.push(pts.length / 2);
        pts.push(c[2 * att.entry] + bx0, c[2 * att.entry + 1] + by0);
        fixed.push(pts.length / 2);
        pts.push(lp[2 * i] + bx0, lp[2 * i + 1] + by0);
      }
    }
  };
  loops.forEach((loop, id) => {
    if (loop.area2 <= 0) return;
    const pts: number[] = [], fixed: number[] = [];
    emit(id, 0, pts, fixed);
    polygons.push({ pts, fixed });
  });
  return polygons;
}

/**
 * Rasterises polygons (flat [x0, y0, ...], even-odd each, union of all) onto a width x height grid whose pixel
 * (0, 0) is image pixel (ox, oy): a pixel is set when its centre is inside.
 */
export function rasterisePolygons(polygons: number[][], width: number, height: number, ox = 0, oy = 0): Mask {
  const data = new Uint8Array(width * height);
  const xs: number[] = [];
  for (const poly of polygons) {
    const n = poly.length / 2;
    for (let y = 0; y < height; y++) {
      const yc = y + oy + 0.5;
      xs.length = 0;
      for (let i = 0; i < n; i++) {
        const j = (i + 1) % n;
        const y0 = poly[2 * i + 1], y1 = poly[2 * j + 1];
        if ((y0 <= yc) !== (y1 <= yc)) {
          xs.push(poly[2 * i] + ((yc - y0) * (poly[2 * j] - poly[2 * i])) / (y1 - y0));
        }
      }
      xs.sort((a, b) => a - b);
      for (let k = 0; k + 1 < xs.length; k += 2) {
        const from = Math.max(0, Math.ceil(xs[k] - ox - 0.5));
        const to = Math.min(width, Math.ceil(xs[k + 1] - ox - 0.5));
        for (let x = from; x < to; x++) data[y * width + x] = 1;
      }
    }
  }
  return { width, height, data };
}

/**
 * COCO polygons of a mask: one flat [x1, y1, x2, y2, ...] list per 4-connected component, holes bridged in,
 * integer pixel-corner coordinates, each with >= 3 points. Empty for an empty mask.
 */
export function maskToPolygons(mask: Mask): number[][] {
  let x0 = mask.width, y0 = mask.height, x1 = -1, y1 = -1;
  for (let y = 0; y < mask.height; y++) {
    for (let x = 0; x < mask.width; x++) {
      if (mask.data[y * mask.width + x] === 0) continue;
      x0 = Math.min(x0, x);
      x1 = Math.max(x1, x);
      y0 = Math.min(y0, y);
      y1 = Math.max(y1, y);
    }
  }
  if (x1 < 0) return [];
  const raw = boundaryPolygons(mask, [x0, y0, x1, y1]);
  const w = x1 - x0 + 1, h = y1 - y0 + 1;
  let result: number[][] = [];
  for (const tol of TOLERANCES) {
    result = raw.map(({ pts, fixed }) => {
      const flags = new Uint8Array(pts.length / 2);
      for (const i of fixed) flags[i] = 1;
      const simple = simplifyClosed(pts, flags, tol);
      return simple.length >= 6 ? simple : simplifyClosed(pts, flags, 0);
    });
    if (tol === 0) break;
    const r = rasterisePolygons(result, w, h, x0, y0);
    let inter = 0, union = 0;
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const p = r.data[y * w + x] !== 0, q = mask.data[(y + y0) * mask.width + x + x0] !== 0;
        if (p && q) inter++;
        if (p || q) union++;
      }
    }
    if (inter / union >= POLYGON_MIN_IOU) break;
  }
  return result;
}
