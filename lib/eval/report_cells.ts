/**
 * Table cells of the analysis reports (tools/analyse.ts): "mean ± std" of a per-image statistic, and "n/a" when
 * no image gave a finite value — for a rank correlation, a constant map (its ρ is undefined), which a reader
 * would otherwise see as "NaN ± NaN".
 */
import type { MeanStd } from "../saliency/correlations.ts";

/** The footnote reports add under a table with an "n/a" cell. */
export const NA_NOTE = "n/a: ρ is undefined on every image (the method's map is constant there).";

/** "mean ± std" with 3 decimals (or 2 after scaling, e.g. x 100), "n/a" without a finite mean. */
export function meanStdCell(m: Pick<MeanStd, "mean" | "std">, scale = 1): string {
  if (!Number.isFinite(m.mean)) return "n/a";
  const digits = scale === 1 ? 3 : 2;
  return `${(scale * m.mean).toFixed(digits)} ± ${(scale * m.std).toFixed(digits)}`;
}
