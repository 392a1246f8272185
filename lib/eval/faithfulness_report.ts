/**
 * The faithfulness evaluation's report: a Markdown table per metric family with each label's numbers (deletion
 * and insertion AUC ± standard error, Average Drop and Increase in Confidence, ROADCombined ± standard error with
 * the mean MoRF / LeRF drops, the energy-based pointing game), the mean curves as PNG plots beside it (deletion,
 * insertion, ROAD MoRF and LeRF), and the whole result as JSON.
 */
import { plotCurves } from "./curve_plot.ts";
import type { FaithfulnessResult } from "./faithfulness_run.ts";

const fixed = (v: number | undefined, digits: number) => (v === undefined ? "-" : v.toFixed(digits));

/** Writes `<base>.md`, `<base>.json` and a `<base>-<plot>.png` per curve family present. */
export async function writeFaithfulnessReport(
  base: string,
  result: Pick<FaithfulnessResult, "summary" | "images" | "problems">,
  title: string,
  details: string[],
): Promise<void> {
  const name = base.split("/").at(-1)!;
  const { summary } = result;
  const labels = Object.keys(summary);
  const has = (k: keyof (typeof summary)[string]) => labels.some((l) => summary[l][k] !== undefined);
  const lines = [
    `# ${title}`,
    "",
    ...details.map((d) => `- ${d}`),
    `- images: ${result.images}${
      result.problems.length ? `; ${result.problems.length} could not be used` : ""
    }`,
    "",
  ];
  const head: string[] = ["method"];
  const cells: ((l: string) => string)[] = [];
  if (has("deletion")) {
    head.push("deletion AUC (lower is better)");
    cells.push((l) => `${fixed(summary[l].deletion?.auc, 4)} ± ${fixed(summary[l].deletion?.sem, 4)}`);
  }
  if (has("insertion")) {
    head.push("insertion AUC (higher is better)");
    cells.push((l) => `${fixed(summary[l].insertion?.auc, 4)} ± ${fixed(summary[l].insertion?.sem, 4)}`);
  }
  if (has("confidence")) {
    head.push("Average Drop % (lower is better)", "Increase in Confidence % (higher is better)");
    cells.push(
      (l) => fixed(summary[l].confidence?.averageDrop, 2),
      (l) => fixed(summary[l].confidence?.increase, 1),
    );
  }
  if (has("road")) {
    head.push("ROAD combined (higher is better)", "MoRF drop", "LeRF drop");
    cells.push(
      (l) => `${fixed(summary[l].road?.combined, 4)} ± ${fixed(summary[l].road?.sem, 4)}`,
      (l) => fixed(summary[l].road?.morfDrop, 4),
      (l) => fixed(summary[l].road?.lerfDrop, 4),
    );
  }
  if (has("energy")) {
    head.push("energy in the box (pairs)", "energy, mean over classes");
    cells.push((l) => fixed(summary[l].energy?.mean, 4), (l) => fixed(summary[l].energy?.classMean, 4));
  }
  lines.push(
    `| ${head.join(" | ")} |`,
    `|${head.map(() => "---").join("|")}|`,
    ...labels.map((l) => `| ${l} | ${cells.map((c) => c(l)).join(" | ")} |`),
    "",
    "± is the standard error of the mean over images. Average Drop and Increase in Confidence (Grad-CAM++): the",
    "target's probability on the image times its map (min-max normalised) against on the image. ROAD combined",
    "(pytorch-grad-cam's ROADCombined): the mean over fractions of (LeRF − MoRF) / 2 of the target's probability",
    "after noisy linear imputation; the drops are the mean probability after removal minus on the image. Energy:",
    "the share of each class map's energy inside the class's region (Score-CAM's energy-based pointing game).",
    "",
  );
  const plots: {
    file: string;
    title: string;
    xLabel: string;
    curves: { label: string; values: number[]; xs?: number[] }[];
  }[] = [];
  for (const mode of ["deletion", "insertion"] as const) {
    if (!has(mode)) continue;
    plots.push({
      file: mode,
      title: `Mean ${mode} curve (${result.images} images)`,
      xLabel: mode === "deletion" ? "fraction of pixels removed" : "fraction of pixels inserted",
      curves: labels.flatMap((
        l,
      ) => (summary[l][mode] ? [{ label: l, values: summary[l][mode]!.curve }] : [])),
    });
  }
  if (has("road")) {
    for (const order of ["morf", "lerf"] as const) {
      plots.push({
        file: `road-${order}`,
        title: `ROAD ${order === "morf" ? "most" : "least"} relevant first (${result.images} images)`,
        xLabel: "fraction of pixels removed and imputed",
        curves: labels.flatMap((l) => {
          const r = summary[l].road;
          return r ? [{ label: l, values: r[order], xs: r.fractions }] : [];
        }),
      });
    }
  }
  for (const p of plots) {
    const png = plotCurves(p.curves, {
      title: p.title,
      xLabel: p.xLabel,
      yLabel: "probability of the class",
    });
    await Deno.writeFile(`${base}-${p.file}.png`, png);
    lines.push(`![${p.title}](${name}-${p.file}.png)`, "");
  }
  await Deno.writeTextFile(`${base}.md`, lines.join("\n"));
  await Deno.writeTextFile(`${base}.json`, JSON.stringify({ title, details, ...result }, null, 1) + "\n");
}
