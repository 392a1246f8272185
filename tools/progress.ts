/**
 * A one-line progress bar for long runs on a terminal: done/total, a bar, images/s, ETA and the best running
 * accuracy among the run's labels. Starts with a carriage return so successive lines overwrite each other.
 */
import type { SubsetAccuracy } from "../lib/eval/pointing_run.ts";

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return "?";
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
}

export function progressLine(ev: {
  done: number;
  total: number;
  imagesPerSecond: number;
  etaSeconds: number;
  problems: number;
  accuracy: Record<string, SubsetAccuracy>;
}, width = 24): string {
  const frac = ev.total === 0 ? 1 : ev.done / ev.total;
  const filled = Math.round(frac * width);
  const bar = "#".repeat(filled) + ".".repeat(width - filled);
  let best = "";
  for (const [label, acc] of Object.entries(ev.accuracy)) {
    if (!best || acc.all > ev.accuracy[best].all) best = label;
  }
  const acc = best ? ` best ${best} ${(100 * ev.accuracy[best].all).toFixed(1)}%` : "";
  const problems = ev.problems ? ` ${ev.problems} skipped` : "";
  return `\r[${bar}] ${ev.done}/${ev.total} ${ev.imagesPerSecond.toFixed(2)} img/s ETA ${
    formatDuration(ev.etaSeconds)
  }${acc}${problems}   `;
}
