/**
 * Pointing-game reports from a run's result: the per-layer table (methods x layers, the shape of the paper's
 * Table R2), the best-layer table (shape of Table S2) and the combination table (gain of each combination over
 * the method's best single layer, shape of Table S3), for the "all" and "difficult" subsets, as Markdown.
 * Labels are "<method>@<column>" (lib/eval/pointers.ts); a label without "@" (e.g. "centre") is its own row.
 */
import type { PointingResult } from "./pointing_run.ts";

export type Subset = "all" | "difficult";

interface Grid {
  rows: string[];
  columns: string[];
  cell(row: string, column: string): number | undefined;
}

const isCombination = (column: string): boolean => column.includes("/");

function grid(result: PointingResult, subset: Subset): Grid {
  const rows: string[] = [];
  const columns: string[] = [];
  const values = new Map<string, number>();
  for (const [label, acc] of Object.entries(result.accuracy)) {
    const at = label.indexOf("@");
    const [row, column] = at < 0 ? [label, "-"] : [label.slice(0, at), label.slice(at + 1)];
    if (!rows.includes(row)) rows.push(row);
    if (!columns.includes(column)) columns.push(column);
    values.set(`${row}\u0000${column}`, acc[subset]);
  }
  return { rows, columns, cell: (r, c) => values.get(`${r}\u0000${c}`) };
}

const pct = (v: number | undefined): string => (v === undefined ? "" : (100 * v).toFixed(1));

function markdownTable(header: string[], body: string[][]): string {
  return [
    `| ${header.join(" | ")} |`,
    `|${header.map(() => "---").join("|")}|`,
    ...body.map((r) => `| ${r.join(" | ")} |`),
  ].join("\n");
}

/** Accuracy (%) per method (rows) and layer (columns); combinations are left to combinationTable. */
export function layerTable(result: PointingResult, subset: Subset): string {
  const g = grid(result, subset);
  const columns = g.columns.filter((c) => !isCombination(c));
  return markdownTable(
    ["method", ...columns],
    g.rows.map((r) => [r, ...columns.map((c) => pct(g.cell(r, c)))]),
  );
}

export interface BestLayer {
  method: string;
  layer: string;
  accuracy: number;
}

/** Per method, the single layer with the highest accuracy (the first on ties, shallow → deep). */
export function bestLayers(result: PointingResult, subset: Subset): BestLayer[] {
  const g = grid(result, subset);
  return g.rows.flatMap((r) => {
    let best: BestLayer | null = null;
    for (const c of g.columns.filter((c) => !isCombination(c))) {
      const v = g.cell(r, c);
      if (v !== undefined && (best === null || v > best.accuracy)) {
        best = { method: r, layer: c, accuracy: v };
      }
    }
    return best ? [best] : [];
  });
}

export function bestLayerTable(result: PointingResult): string {
  const all = bestLayers(result, "all");
  const difficult = bestLayers(result, "difficult");
  return markdownTable(
    ["method", "best layer (all)", "all %", "best layer (difficult)", "difficult %"],
    all.map((b, i) => [b.method, b.layer, pct(b.accuracy), difficult[i].layer, pct(difficult[i].accuracy)]),
  );
}

/** Per method and combination: accuracy and the gain (points) over the method's best single layer. */
export function combinationTable(result: PointingResult, subset: Subset): string {
  const g = grid(result, subset);
  const combos = g.columns.filter(isCombination);
  if (combos.length === 0) return "";
  const best = new Map(bestLayers(result, subset).map((b) => [b.method, b]));
  return markdownTable(
    ["method", "best single layer", ...combos],
    g.rows.filter((r) => combos.some((c) => g.cell(r, c) !== undefined)).map((r) => {
      const b = best.get(r);
      return [
        r,
        b ? `${b.layer} ${pct(b.accuracy)}` : "",
        ...combos.map((c) => {
          const v = g.cell(r, c);
          if (v === undefined || !b) return pct(v);
          const gain = 100 * (v - b.accuracy);
          return `${pct(v)} (${gain >= 0 ? "+" : ""}${gain.toFixed(1)})`;
        }),
      ];
    }),
  );
}

/** The whole Markdown report of a run. */
export function markdownReport(result: PointingResult, title: string, seconds?: number): string {
  const parts = [
    `# ${title}`,
    "",
    `${result.images} images scored` +
    (result.problems.length ? `, ${result.problems.length} skipped as problems` : "") +
    (seconds !== undefined ? `; ${seconds.toFixed(0)} s` : "") + ".",
    "",
    "## Pointing accuracy per layer, all (%)",
    "",
    layerTable(result, "all"),
    "",
    "## Pointing accuracy per layer, difficult (%)",
    "",
    layerTable(result, "difficult"),
    "",
    "## Best layer per method",
    "",
    bestLayerTable(result),
  ];
  for (const subset of ["all", "difficult"] as const) {
    const t = combinationTable(result, subset);
    if (t) parts.push("", `## Combinations, ${subset} (%; gain over the best single layer in points)`, "", t);
  }
  if (result.problems.length) {
    parts.push("", "## Problems", "", ...result.problems.map((p) => `- ${p.key}: ${p.message}`));
  }
  return parts.join("\n") + "\n";
}
