/**
 * Geometry of the 12 shape classes: closed contours in a unit frame, and their placement in an image.
 *
 * A shape of size s fits (before rotation) in a box of side about s centred on its position; its outline is a
 * list of closed polygons (flat [x0, y0, x1, y1, ...]) filled with the even-odd rule (the ring is two circles,
 * every other class one simple polygon). Curves are sampled finely (96 segments a circle: < 0.1 px chord error at
 * the largest sizes), so the same contours serve the drawing, the masks and nothing else.
 */

import type { ShapeClass } from "./classes.ts";

/** Closed polygons, flat [x0, y0, x1, y1, ...], even-odd fill. */
export type Contours = number[][];

const CIRCLE_SEGMENTS = 96;

function regularPolygon(n: number, radius: number, phase: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const a = phase + (2 * Math.PI * i) / n;
    out.push(radius * Math.cos(a), radius * Math.sin(a));
  }
  return out;
}

function arc(cx: number, cy: number, r: number, from: number, to: number, segments: number): number[] {
  const out: number[] = [];
  for (let i = 0; i <= segments; i++) {
    const a = from + ((to - from) * i) / segments;
    out.push(cx + r * Math.cos(a), cy + r * Math.sin(a));
  }
  return out;
}

function star(points: number, outer: number, inner: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < 2 * points; i++) {
    const a = -Math.PI / 2 + (Math.PI * i) / points;
    const r = i % 2 === 0 ? outer : inner;
    out.push(r * Math.cos(a), r * Math.sin(a));
  }
  return out;
}

function heart(): number[] {
  // The classic parametric heart, x = 16 sin^3 t, y = 13 cos t - 5 cos 2t - 2 cos 3t - cos 4t (y up), scaled to
  // about 1 x 1 and centred on its bounding box.
  const out: number[] = [];
  const n = CIRCLE_SEGMENTS;
  for (let i = 0; i < n; i++) {
    const t = (2 * Math.PI * i) / n;
    const x = 16 * Math.sin(t) ** 3;
    const y = 13 * Math.cos(t) - 5 * Math.cos(2 * t) - 2 * Math.cos(3 * t) - Math.cos(4 * t);
    out.push(x / 33, -(y + 2.5) / 33);
  }
  return out;
}

function crescent(): number[] {
  // Outer circle r = 0.5 at the origin minus a circle r = 0.42 centred at (0.2, 0).
  const R = 0.5, r = 0.42, d = 0.2;
  const ix = (R * R - r * r + d * d) / (2 * d);
  const iy = Math.sqrt(R * R - ix * ix);
  const outerFrom = Math.atan2(iy, ix);
  const outerTo = 2 * Math.PI - outerFrom;
  const innerAt = Math.atan2(iy, ix - d); // upper intersection seen from the inner centre
  const outer = arc(0, 0, R, outerFrom, outerTo, 72);
  // Back along the inner circle from the lower intersection to the upper one, through its left side.
  const inner = arc(d, 0, r, 2 * Math.PI - innerAt, innerAt, 60).slice(2, -2);
  return [...outer, ...inner];
}

const UNIT: Record<ShapeClass, () => Contours> = {
  circle: () => [regularPolygon(CIRCLE_SEGMENTS, 0.5, 0)],
  square: () => [[-0.42, -0.42, 0.42, -0.42, 0.42, 0.42, -0.42, 0.42]],
  triangle: () => [regularPolygon(3, 0.56, -Math.PI / 2).map((v, i) => (i % 2 === 1 ? v + 0.12 : v))],
  star: () => [star(5, 0.52, 0.22)],
  ring: () => [regularPolygon(CIRCLE_SEGMENTS, 0.5, 0), regularPolygon(CIRCLE_SEGMENTS, 0.29, 0)],
  cross: () => [[
    -0.15,
    -0.5,
    0.15,
    -0.5,
    0.15,
    -0.15,
    0.5,
    -0.15,
    0.5,
    0.15,
    0.15,
    0.15,
    0.15,
    0.5,
    -0.15,
    0.5,
    -0.15,
    0.15,
    -0.5,
    0.15,
    -0.5,
    -0.15,
    -0.15,
    -0.15,
  ]],
  hexagon: () => [regularPolygon(6, 0.5, 0)],
  heart: () => [heart()],
  crescent: () => [crescent()],
  arrow: () => [[-0.5, -0.11, 0.08, -0.11, 0.08, -0.3, 0.5, 0, 0.08, 0.3, 0.08, 0.11, -0.5, 0.11]],
  diamond: () => [[0, -0.5, 0.3, 0, 0, 0.5, -0.3, 0]],
  pentagon: () => [regularPolygon(5, 0.52, -Math.PI / 2).map((v, i) => (i % 2 === 1 ? v + 0.05 : v))],
};

/** Where and how a shape is placed: centre (px), size (px), rotation (rad), aspect (x stretch / y stretch). */
export interface Placement {
  cx: number;
  cy: number;
  size: number;
  rotation: number;
  aspect: number;
}

/** The contours of `cls` placed in image coordinates (x right, y down). */
export function placedContours(cls: ShapeClass, p: Placement): Contours {
  const cos = Math.cos(p.rotation), sin = Math.sin(p.rotation);
  const sx = p.size * Math.sqrt(p.aspect), sy = p.size / Math.sqrt(p.aspect);
  return UNIT[cls]().map((c) => {
    const out = new Array<number>(c.length);
    for (let i = 0; i < c.length; i += 2) {
      const x = c[i] * sx, y = c[i + 1] * sy;
      out[i] = p.cx + x * cos - y * sin;
      out[i + 1] = p.cy + x * sin + y * cos;
    }
    return out;
  });
}

/** Axis-aligned bounds [minX, minY, maxX, maxY] of contours. */
export function contourBounds(contours: Contours): [number, number, number, number] {
  let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
  for (const c of contours) {
    for (let i = 0; i < c.length; i += 2) {
      x0 = Math.min(x0, c[i]);
      x1 = Math.max(x1, c[i]);
      y0 = Math.min(y0, c[i + 1]);
      y1 = Math.max(y1, c[i + 1]);
    }
  }
  return [x0, y0, x1, y1];
}

/** Radius of the circle around the centre that holds the shape at this size (for placement checks). */
export function boundingRadius(p: Placement): number {
  return 0.56 * p.size * Math.max(Math.sqrt(p.aspect), 1 / Math.sqrt(p.aspect));
}
