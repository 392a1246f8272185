/**
 * The faithfulness evaluation's report: a Markdown table of each method's mean deletion and insertion AUC (±
 * standard error; deletion lower and insertion higher is more faithful), Average Drop and Increase in Confidence and the mean curves as PNG plots beside
 * it, plus the summary as JSON.
 */
import { plotCurves } from "./curve_plot.ts";
import { CAUSAL_MODES, type FaithfulnessSummary } from "./faithfulness_run.ts";

/** Writes `<base>.md`, `<base>.json`, `<base>-deletion.png` and `<base>-insertion.png`. */
export async function writeFaithfulnessReport(
  base: string,
  summary: FaithfulnessSummary,
  title: string,
  details: string[],
): Promise<void> {
  const name = base.split("/").at(-1)!;
  const labels = Object.keys(summary.methods);
  const lines = [
    `# ${title}`,
    "",
    ...details.map((d) => `- ${d}`),
    `- images: ${summary.images}`,
    "",
    "| method | deletion AUC (lower is better) | insertion AUC (higher is better) | Average Drop % (lower is " +
    "better) | Increase in Confidence % (higher is better) |",
    "|---|---|---|---|---|",
    ...labels.map((l) => {
      const m = summary.methods[l];
      const cell = (mode: "deletion" | "insertion") =>
        `${m[mode].auc.toFixed(4)} ± ${m[mode].sem.toFixed(4)}`;
      const c = summary.confidence[l];
      const conf = c ? `${c.averageDrop.toFixed(2)} | ${c.increase.toFixed(1)}` : "- | -";
      return `| ${l} | ${cell("deletion")} | ${cell("insertion")} | ${conf} |`;
    }),
    "",
    "± is the standard error of the mean over images. Average Drop and Increase in Confidence (Grad-CAM++): the",
    "target's probability on the image times its map (min-max normalised) against on the image.",
    "",
  ];
  for (const mode of CAUSAL_MODES) {
    const png = plotCurves(labels.map((l) => ({ label: l, values: summary.methods[l][mode].curve })), {
      title: `Mean ${mode} curve (${summary.images} images)`,
      xLabel: mode === "deletion" ? "fraction of pixels removed" : "fraction of pixels inserted",
      yLabel: "probability of the class",
    });
    await Deno.writeFile(`${base}-${mode}.png`, png);
    lines.push(`![mean ${mode} curves](${name}-${mode}.png)`, "");
  }
  await Deno.writeTextFile(`${base}.md`, lines.join("\n"));
  await Deno.writeTextFile(`${base}.json`, JSON.stringify({ title, details, ...summary }, null, 1) + "\n");
}
