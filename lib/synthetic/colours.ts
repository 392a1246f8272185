/**
 * Colours: the 12 named object colours (the caption's colour words), muted background colours, and the
 * secondary/outline shades derived from an object colour.
 *
 * An object's colour is drawn independently of its class, with a small jitter of hue, saturation and lightness
 * around the named base so that colour is neither a class cue nor a single constant value.
 */

import type { Rng } from "./prng.ts";

export type Rgb = readonly [number, number, number];

/** Named colours: [name, hue deg, saturation, lightness] of the base HSL. */
export const COLOUR_NAMES = [
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
] as const;

export type ColourName = typeof COLOUR_NAMES[number];

const BASE_HSL: Record<ColourName, readonly [number, number, number]> = {
  red: [0, 0.8, 0.48],
  orange: [28, 0.92, 0.55],
  yellow: [54, 0.92, 0.55],
  green: [125, 0.6, 0.38],
  cyan: [185, 0.75, 0.48],
  blue: [220, 0.78, 0.48],
  purple: [275, 0.6, 0.45],
  pink: [330, 0.8, 0.72],
  brown: [25, 0.55, 0.3],
  white: [0, 0, 0.95],
  black: [0, 0, 0.08],
  grey: [0, 0, 0.55],
};

/** HSL (hue in degrees, s and l in [0, 1]) to 8-bit RGB. */
export function hslToRgb(h: number, s: number, l: number): Rgb {
  const hue = ((h % 360) + 360) % 360;
  const c = (1 - Math.abs(2 * l - 1)) * s;
  const x = c * (1 - Math.abs(((hue / 60) % 2) - 1));
  const m = l - c / 2;
  const [r, g, b] = hue < 60
    ? [c, x, 0]
    : hue < 120
    ? [x, c, 0]
    : hue < 180
    ? [0, c, x]
    : hue < 240
    ? [0, x, c]
    : hue < 300
    ? [x, 0, c]
    : [c, 0, x];
  return [Math.round((r + m) * 255), Math.round((g + m) * 255), Math.round((b + m) * 255)];
}

/** Relative lightness in [0, 1] (Rec. 601 luma). */
export function luma(rgb: Rgb): number {
  return (0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2]) / 255;
}

/** Linear mix of two colours: (1 - t) a + t b. */
export function mix(a: Rgb, b: Rgb, t: number): Rgb {
  return [
    Math.round(a[0] + (b[0] - a[0]) * t),
    Math.round(a[1] + (b[1] - a[1]) * t),
    Math.round(a[2] + (b[2] - a[2]) * t),
  ];
}

/** CSS colour string, with an optional alpha. */
export function css(rgb: Rgb, alpha = 1): string {
  return alpha >= 1
    ? `rgb(${rgb[0]},${rgb[1]},${rgb[2]})`
    : `rgba(${rgb[0]},${rgb[1]},${rgb[2]},${alpha.toFixed(3)})`;
}

/** A jittered sample of a named object colour. */
export function sampleNamedColour(rng: Rng, name: ColourName): Rgb {
  const [h, s, l] = BASE_HSL[name];
  const dh = s > 0 ? rng.range(-8, 8) : 0;
  const ds = s > 0 ? rng.range(-0.08, 0.08) : 0;
  const dl = rng.range(-0.05, 0.05);
  return hslToRgb(h + dh, Math.min(1, Math.max(0, s + ds)), Math.min(1, Math.max(0, l + dl)));
}

/** A muted background colour: any hue, low saturation, mid lightness. */
export function sampleMutedColour(rng: Rng): Rgb {
  return hslToRgb(rng.range(0, 360), rng.range(0.04, 0.32), rng.range(0.3, 0.78));
}

const WHITE: Rgb = [255, 255, 255];
const BLACK: Rgb = [0, 0, 0];

/** The texture's second colour: a lighter shade of a dark colour, a darker shade of a light one. */
export function secondaryShade(rgb: Rgb): Rgb {
  return luma(rgb) > 0.55 ? mix(rgb, BLACK, 0.42) : mix(rgb, WHITE, 0.5);
}

/** The outline: a strongly darker (or, for dark colours, lighter) shade, so the silhouette reads on any ground. */
export function outlineShade(rgb: Rgb): Rgb {
  return luma(rgb) > 0.3 ? mix(rgb, BLACK, 0.7) : mix(rgb, WHITE, 0.65);
}
