/**
 * What the web page's evaluation panel shows for a faithfulness job (plain JavaScript, served to the page at
 * /ui/faithfulness_view.js and unit-tested in Deno): a table of each label's numbers, from a progress event's
 * running `summary` (one number per metric) or a finished job's full summary, and the mean curves (deletion,
 * insertion, ROAD MoRF / LeRF) as an SVG line plot on [0, 1] x [0, 1].
 */

const COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"];

/** The table's columns: [key, header, digits, which way is better]. */
const COLUMNS = [
  ["deletion", "deletion AUC", 3, "lower"],
  ["insertion", "insertion AUC", 3, "higher"],
  ["averageDrop", "Average Drop %", 1, "lower"],
  ["increase", "Increase %", 0, "higher"],
  ["road", "ROAD combined", 3, "higher"],
  ["energy", "energy in box", 3, "higher"],
];

/**
 * One label's numbers, whether from a progress event (numbers) or a final summary (objects).
 * @param {Record<string, any>} s
 * @returns {Record<string, number | undefined>}
 */
export function numbersOf(s) {
  const pick = (v, key) => (typeof v === "number" ? v : v?.[key]);
  return {
    deletion: pick(s.deletion, "auc"),
    insertion: pick(s.insertion, "auc"),
    averageDrop: s.averageDrop ?? s.confidence?.averageDrop,
    increase: s.increase ?? s.confidence?.increase,
    road: pick(s.road, "combined"),
    energy: pick(s.energy, "mean"),
  };
}

/**
 * The table: only the columns some label has, the best value of each column marked.
 * @param {Record<string, Record<string, any>>} summary per label
 * @returns {{ head: string[], rows: { label: string, cells: { text: string, best: boolean }[] }[] }}
 */
export function faithfulnessTable(summary) {
  const labels = Object.keys(summary);
  const numbers = Object.fromEntries(labels.map((l) => [l, numbersOf(summary[l])]));
  const columns = COLUMNS.filter(([key]) => labels.some((l) => Number.isFinite(numbers[l][key])));
  const best = Object.fromEntries(columns.map(([key, , , better]) => {
    const values = labels.map((l) => numbers[l][key]).filter(Number.isFinite);
    return [key, better === "lower" ? Math.min(...values) : Math.max(...values)];
  }));
  return {
    head: ["method", ...columns.map(([, header, , better]) => `${header} (${better} is better)`)],
    rows: labels.map((label) => ({
      label,
      cells: columns.map(([key, , digits]) => {
        const v = numbers[label][key];
        return Number.isFinite(v)
          ? { text: v.toFixed(digits), best: labels.length > 1 && v === best[key] }
          : { text: "–", best: false };
      }),
    })),
  };
}

const escape = (s) =>
  String(s).replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]);

/**
 * An SVG line plot of curves on [0, 1] x [0, 1] (x equally spaced unless the curve gives `xs`).
 * @param {{ label: string, values: number[], xs?: number[] }[]} curves
 * @param {string} title
 * @returns {string}
 */
export function curvesSvg(curves, title, width = 320, height = 200) {
  const m = { left: 34, right: 8, top: 22, bottom: 22 };
  const pw = width - m.left - m.right;
  const ph = height - m.top - m.bottom;
  const x = (t) => (m.left + t * pw).toFixed(1);
  const y = (v) => (m.top + (1 - Math.min(1, Math.max(0, v))) * ph).toFixed(1);
  const lines = curves.map((c, k) => {
    const points = c.values.map((v, i) => {
      const t = c.xs ? c.xs[i] : c.values.length > 1 ? i / (c.values.length - 1) : 0;
      return `${x(t)},${y(v)}`;
    });
    const colour = COLOURS[k % COLOURS.length];
    return `<polyline fill="none" stroke="${colour}" stroke-width="2" points="${points.join(" ")}"/>` +
      `<text x="${m.left + pw - 120}" y="${m.top + 12 + 12 * k}" fill="${colour}" font-size="10">${
        escape(c.label)
      }</text>`;
  });
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif">` +
    `<text x="${m.left}" y="14" font-size="11">${escape(title)}</text>` +
    `<rect x="${m.left}" y="${m.top}" width="${pw}" height="${ph}" fill="none" stroke="#888"/>` +
    `<text x="${m.left - 4}" y="${m.top + ph}" font-size="9" text-anchor="end">0</text>` +
    `<text x="${m.left - 4}" y="${m.top + 8}" font-size="9" text-anchor="end">1</text>` +
    lines.join("") + "</svg>";
}

/**
 * The plots of a finished job's summary: one per curve family some label has.
 * @param {Record<string, Record<string, any>>} summary per label (a job result's)
 * @returns {string[]} SVG documents
 */
export function faithfulnessPlots(summary) {
  const labels = Object.keys(summary);
  const plots = [];
  for (const mode of ["deletion", "insertion"]) {
    const curves = labels.filter((l) => summary[l][mode]?.curve).map((l) => ({
      label: l,
      values: summary[l][mode].curve,
    }));
    if (curves.length) plots.push(curvesSvg(curves, `mean ${mode} curve`));
  }
  for (const order of ["morf", "lerf"]) {
    const curves = labels.filter((l) => summary[l].road?.[order]).map((l) => ({
      label: l,
      values: summary[l].road[order],
      xs: summary[l].road.fractions,
    }));
    if (curves.length) plots.push(curvesSvg(curves, `ROAD ${order === "morf" ? "MoRF" : "LeRF"}`));
  }
  return plots;
}
