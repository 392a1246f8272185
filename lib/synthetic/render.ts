/**
 * Drawing with @napi-rs/canvas (Skia): the background clutter, the textured and outlined objects, the grain,
 * and each object's full silhouette mask.
 *
 * `renderScene` paints a `SceneSpec` and returns the canvas (RGBA, opaque). `renderShapeMask` rasterises one
 * object's contours alone, white on transparent, on a small canvas around it; a pixel belongs to the shape when
 * its coverage is >= 50% (alpha >= 128). Objects are painted with the same contours, so the masks follow what is
 * drawn up to anti-aliased edge pixels. Rendering is a pure function of the spec.
 */

import { type Canvas, createCanvas, Path2D, type SKRSContext2D } from "@napi-rs/canvas";
import { css, outlineShade, secondaryShade } from "./colours.ts";
import { SHAPE_CLASSES } from "./classes.ts";
import type { LocalMask } from "./masks.ts";
import { Rng } from "./prng.ts";
import type { BackgroundSpec, ObjectSpec, SceneSpec, Stroke, TextureSpec } from "./scene.ts";
import { contourBounds, type Contours, placedContours } from "./shapes.ts";

/** Contours of an object in image coordinates. */
export function objectContours(obj: ObjectSpec): Contours {
  return placedContours(SHAPE_CLASSES[obj.classIndex], obj);
}

function pathOf(contours: Contours, dx = 0, dy = 0): Path2D {
  const path = new Path2D();
  for (const c of contours) {
    path.moveTo(c[0] + dx, c[1] + dy);
    for (let i = 2; i < c.length; i += 2) path.lineTo(c[i] + dx, c[i + 1] + dy);
    path.closePath();
  }
  return path;
}

/** The full (unoccluded, unclipped) silhouette of an object, on the image grid at an integer offset. */
export function renderShapeMask(obj: ObjectSpec): LocalMask {
  const contours = objectContours(obj);
  const [x0, y0, x1, y1] = contourBounds(contours);
  const ox = Math.floor(x0) - 1, oy = Math.floor(y0) - 1;
  const width = Math.ceil(x1) - ox + 2, height = Math.ceil(y1) - oy + 2;
  const canvas = createCanvas(width, height);
  const ctx = canvas.getContext("2d");
  ctx.fillStyle = "#ffffff";
  ctx.fill(pathOf(contours, -ox, -oy), "evenodd");
  const rgba = ctx.getImageData(0, 0, width, height).data;
  const data = new Uint8Array(width * height);
  for (let i = 0; i < data.length; i++) data[i] = rgba[4 * i + 3] >= 128 ? 1 : 0;
  return { ox, oy, width, height, data };
}

function strokePath(ctx: SKRSContext2D, s: Stroke): void {
  const p = s.points;
  ctx.beginPath();
  ctx.moveTo(p[0], p[1]);
  if (s.kind === "bezier") {
    ctx.bezierCurveTo(p[2], p[3], p[4], p[5], p[6], p[7]);
  } else {
    for (let i = 2; i < p.length; i += 2) ctx.lineTo(p[i], p[i + 1]);
  }
  ctx.globalAlpha = s.alpha;
  ctx.strokeStyle = css(s.colour);
  ctx.lineWidth = s.width;
  ctx.lineCap = "round";
  ctx.lineJoin = "round";
  ctx.stroke();
  ctx.globalAlpha = 1;
}

function paintBackground(ctx: SKRSContext2D, bg: BackgroundSpec, width: number, height: number): void {
  const { from, to, angle } = bg.gradient;
  const r = 0.5 * Math.hypot(width, height);
  const cx = width / 2, cy = height / 2;
  const g = ctx.createLinearGradient(
    cx - r * Math.cos(angle),
    cy - r * Math.sin(angle),
    cx + r * Math.cos(angle),
    cy + r * Math.sin(angle),
  );
  g.addColorStop(0, css(from));
  g.addColorStop(1, css(to));
  ctx.fillStyle = g;
  ctx.fillRect(0, 0, width, height);

  for (const { cols, rows, rgb, alpha } of bg.noise) {
    const field = createCanvas(cols, rows);
    const fctx = field.getContext("2d");
    const img = fctx.createImageData(cols, rows);
    for (let i = 0; i < cols * rows; i++) {
      img.data[4 * i] = rgb[3 * i];
      img.data[4 * i + 1] = rgb[3 * i + 1];
      img.data[4 * i + 2] = rgb[3 * i + 2];
      img.data[4 * i + 3] = 255;
    }
    fctx.putImageData(img, 0, 0);
    ctx.imageSmoothingEnabled = true;
    ctx.imageSmoothingQuality = "high";
    ctx.globalAlpha = alpha;
    ctx.drawImage(field, 0, 0, width, height);
    ctx.globalAlpha = 1;
  }

  for (const b of bg.blobs) {
    ctx.save();
    ctx.translate(b.cx, b.cy);
    ctx.rotate(b.rotation);
    ctx.scale(b.rx, b.ry);
    const rg = ctx.createRadialGradient(0, 0, 0, 0, 0, 1);
    rg.addColorStop(0, css(b.colour, b.alpha));
    rg.addColorStop(0.6, css(b.colour, b.alpha * 0.7));
    rg.addColorStop(1, css(b.colour, 0));
    ctx.fillStyle = rg;
    ctx.beginPath();
    ctx.arc(0, 0, 1, 0, 2 * Math.PI);
    ctx.fill();
    ctx.restore();
  }
  for (const s of bg.lines) strokePath(ctx, s);
  for (const s of bg.distractors) strokePath(ctx, s);
}

function paintTexture(ctx: SKRSContext2D, obj: ObjectSpec, t: TextureSpec, radius: number): void {
  const primary = css(obj.colour), secondary = css(secondaryShade(obj.colour));
  ctx.fillStyle = primary;
  ctx.fillRect(obj.cx - radius, obj.cy - radius, 2 * radius, 2 * radius);
  if (t.kind === "solid") return;
  ctx.save();
  ctx.translate(obj.cx, obj.cy);
  ctx.rotate(t.angle);
  if (t.kind === "gradient") {
    const g = ctx.createLinearGradient(-radius, 0, radius, 0);
    g.addColorStop(0, primary);
    g.addColorStop(1, secondary);
    ctx.fillStyle = g;
    ctx.fillRect(-radius, -radius, 2 * radius, 2 * radius);
    ctx.restore();
    return;
  }
  ctx.fillStyle = secondary;
  const p = t.period, start = -radius - p + t.phase * p;
  if (t.kind === "stripes") {
    for (let x = start; x < radius; x += p) ctx.fillRect(x, -radius, t.duty * p, 2 * radius);
  } else if (t.kind === "checker") {
    let i = 0;
    for (let x = start; x < radius; x += p, i++) {
      let j = 0;
      for (let y = start; y < radius; y += p, j++) if ((i + j) % 2 === 1) ctx.fillRect(x, y, p, p);
    }
  } else {
    const r = 0.5 * t.duty * p;
    ctx.beginPath();
    for (let x = start; x < radius + p; x += p) {
      for (let y = start; y < radius + p; y += p) {
        ctx.moveTo(x + r, y);
        ctx.arc(x, y, r, 0, 2 * Math.PI);
      }
    }
    ctx.fill();
  }
  ctx.restore();
}

function paintObject(ctx: SKRSContext2D, obj: ObjectSpec): void {
  const contours = objectContours(obj);
  const path = pathOf(contours);
  const [x0, y0, x1, y1] = contourBounds(contours);
  const radius = Math.max(x1 - obj.cx, obj.cx - x0, y1 - obj.cy, obj.cy - y0) + 2;
  ctx.save();
  ctx.clip(path, "evenodd");
  paintTexture(ctx, obj, obj.texture, radius);
  // Inner outline: a stroke of twice the width, clipped to the shape, so the silhouette (and mask) is unchanged.
  ctx.strokeStyle = css(outlineShade(obj.colour));
  ctx.lineWidth = 2 * obj.outline;
  ctx.lineJoin = "miter";
  ctx.stroke(path);
  ctx.restore();
}

function paintGrain(ctx: SKRSContext2D, grain: BackgroundSpec["grain"], width: number, height: number): void {
  if (grain.amplitude < 0.5) return;
  const rng = new Rng(grain.seed);
  const img = ctx.getImageData(0, 0, width, height);
  const d = img.data, a = grain.amplitude;
  for (let i = 0; i < d.length; i += 4) {
    // Sum of two uniforms: a triangular distribution on [-a, a].
    const n = Math.round(a * (rng.float() + rng.float() - 1));
    d[i] += n; // Uint8ClampedArray clamps to [0, 255]
    d[i + 1] += n;
    d[i + 2] += n;
  }
  ctx.putImageData(img, 0, 0);
}

/** Paints the scene: background, distractors, objects in order, grain. */
export function renderScene(spec: SceneSpec): Canvas {
  const { width, height } = spec;
  const canvas = createCanvas(width, height);
  const ctx = canvas.getContext("2d");
  paintBackground(ctx, spec.background, width, height);
  for (const obj of spec.objects) paintObject(ctx, obj);
  paintGrain(ctx, spec.background.grain, width, height);
  return canvas;
}
