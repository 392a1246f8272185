/**
 * The web page's faithfulness panel (routes/ui/faithfulness_view.js) on hand-made summaries: the table keeps only
 * the columns some label has, takes numbers from a progress event or objects from a final summary alike, marks
 * the best value per column by its direction (deletion and Average Drop lower, the rest higher), shows "–" for
 * what a label lacks; the plots are one SVG per curve family, with polyline points placed by hand.
 */
import assert from "node:assert/strict";
import { curvesSvg, faithfulnessPlots, faithfulnessTable } from "../routes/ui/faithfulness_view.js";

Deno.test("the table: running numbers, best per column by its direction, missing values", () => {
  const view = faithfulnessTable({
    "a@layer4": { deletion: 0.2, insertion: 0.5, road: 0.01 },
    "b@input": { deletion: 0.1, insertion: 0.6 },
  });
  assert.deepEqual(view.head, [
    "method",
    "deletion AUC (lower is better)",
    "insertion AUC (higher is better)",
    "ROAD combined (higher is better)",
  ]);
  assert.deepEqual(view.rows, [
    {
      label: "a@layer4",
      cells: [{ text: "0.200", best: false }, { text: "0.500", best: false }, { text: "0.010", best: true }],
    },
    {
      label: "b@input",
      cells: [{ text: "0.100", best: true }, { text: "0.600", best: true }, { text: "–", best: false }],
    },
  ]);
});

Deno.test("the table from a final summary; Average Drop lower is better", () => {
  const view = faithfulnessTable({
    x: { confidence: { averageDrop: 30.25, increase: 10, images: 4 }, energy: { mean: 0.5 } },
    y: { confidence: { averageDrop: 12.5, increase: 0, images: 4 }, energy: { mean: 0.75 } },
  });
  assert.deepEqual(view.head.slice(1), [
    "Average Drop % (lower is better)",
    "Increase % (higher is better)",
    "energy in box (higher is better)",
  ]);
  assert.deepEqual(view.rows.map((r) => r.cells.map((c) => `${c.text}${c.best ? "*" : ""}`)), [
    ["30.3", "10*", "0.500"],
    ["12.5*", "0", "0.750*"],
  ]);
});

Deno.test("the plots: one per curve family, points where they belong", () => {
  const svg = curvesSvg([{ label: "m", values: [1, 0.5, 0] }], "t", 100, 60);
  // plot box: x from 34 to 92 (width 100 − 34 − 8), y from 22 to 38 (height 60 − 22 − 22)
  assert.match(svg, /points="34\.0,22\.0 63\.0,30\.0 92\.0,38\.0"/);
  const road = curvesSvg([{ label: "m", values: [0.5], xs: [0.25] }], "t", 100, 60);
  assert.match(road, /points="48\.5,30\.0"/);
  const escaped = curvesSvg([{ label: "<b>", values: [0] }], "a & b");
  assert.match(escaped, />&lt;b&gt;</);
  assert.match(escaped, />a &amp; b</);
  const plots = faithfulnessPlots({
    m: {
      deletion: { curve: [1, 0] },
      road: { fractions: [0.1, 0.9], morf: [0.5, 0.2], lerf: [0.6, 0.5] },
    },
  });
  assert.equal(plots.length, 3, "deletion, ROAD MoRF, ROAD LeRF");
  assert.match(plots[0], /mean deletion curve/);
});
