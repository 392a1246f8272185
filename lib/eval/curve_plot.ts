/**
 * Line plots of curves on [0, 1] x [0, 1] as PNG (@napi-rs/canvas): one line per labelled curve, equally spaced
 * in x unless the curve gives its own x positions, with axes, ticks at 0, 0.5 and 1, a title and a legend. For the faithfulness reports' mean deletion and
 * insertion curves and ROAD's MoRF / LeRF curves.
 */
import { createCanvas } from "@napi-rs/canvas";

const COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"];

export interface PlotOptions {
  title: string;
  xLabel: string;
  yLabel: string;
  width?: number;
  height?: number;
}

export function plotCurves(
  curves: readonly { label: string; values: readonly number[]; xs?: readonly number[] }[],
  o: PlotOptions,
): Uint8Array {
  const [width, height] = [o.width ?? 640, o.height ?? 420];
  const margin = { left: 60, right: 20, top: 36, bottom: 48 };
  const canvas = createCanvas(width, height);
  const ctx = canvas.getContext("2d");
  ctx.fillStyle = "#ffffff";
  ctx.fillRect(0, 0, width, height);
  const [pw, ph] = [width - margin.left - margin.right, height - margin.top - margin.bottom];
  const x = (t: number) => margin.left + t * pw;
  const y = (v: number) => margin.top + (1 - Math.min(1, Math.max(0, v))) * ph;
  ctx.strokeStyle = "#333333";
  ctx.lineWidth = 1;
  ctx.strokeRect(margin.left, margin.top, pw, ph);
  ctx.fillStyle = "#333333";
  ctx.font = "12px sans-serif";
  for (const t of [0, 0.5, 1]) {
    ctx.fillText(t.toFixed(1), x(t) - 8, margin.top + ph + 16);
    ctx.fillText(t.toFixed(1), margin.left - 28, y(t) + 4);
  }
  ctx.fillText(o.xLabel, margin.left + pw / 2 - 40, height - 10);
  ctx.save();
  ctx.translate(14, margin.top + ph / 2 + 30);
  ctx.rotate(-Math.PI / 2);
  ctx.fillText(o.yLabel, 0, 0);
  ctx.restore();
  ctx.font = "14px sans-serif";
  ctx.fillText(o.title, margin.left, 22);
  curves.forEach((c, k) => {
    ctx.strokeStyle = COLOURS[k % COLOURS.length];
    ctx.lineWidth = 2;
    ctx.beginPath();
    c.values.forEach((v, i) => {
      const t = c.xs ? c.xs[i] : c.values.length > 1 ? i / (c.values.length - 1) : 0;
      if (i === 0) ctx.moveTo(x(t), y(v));
      else ctx.lineTo(x(t), y(v));
    });
    ctx.stroke();
    ctx.fillStyle = COLOURS[k % COLOURS.length];
    ctx.font = "12px sans-serif";
    ctx.fillText(c.label, margin.left + pw - 190, margin.top + 16 + 16 * k);
  });
  const png = canvas.encodeSync("png");
  return new Uint8Array(png.buffer, png.byteOffset, png.byteLength);
}
