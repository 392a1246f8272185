/**
 * What the web page's evaluation panel says about one layer's pointing accuracy (plain JavaScript, served to the
 * page at /ui/accuracy_view.js and unit-tested in Deno). The final number is TorchRay's: the mean over ALL the
 * model's classes of hits / max(instances, 1), so a class with no instance counts as 0. While a run is going, or
 * when it covered only some classes, the page says what a mean averages and never draws a class with no
 * instance as a 0% bar.
 */

const pct = (x, digits = 1) => `${(100 * x).toFixed(digits)}%`;

/**
 * Per-class instances counted so far ("all" subset: hits + misses) for `label`, from whichever a progress or
 * final event carries: `classCounts` (per label, per class) or `tallies` (per label, {all: {hits, misses}});
 * null when it carries neither.
 * @param {Record<string, any>} data an SSE event's data, or a job's result
 * @param {string} label
 * @returns {number[] | null}
 */
export function instancesOf(data, label) {
  const counts = data?.classCounts?.[label];
  if (Array.isArray(counts)) return counts;
  const all = data?.tallies?.[label]?.all;
  if (all && Array.isArray(all.hits) && Array.isArray(all.misses)) {
    return all.hits.map((h, k) => h + (all.misses[k] ?? 0));
  }
  return null;
}

/**
 * The panel's title and one row per class.
 * @param {{
 *   label: string,               // method@layer
 *   classes: string[],           // the model's class names
 *   classAccuracy: number[],     // per class: hits / max(instances, 1)
 *   instances: number[] | null,  // per class: instances counted so far; null when unknown
 *   meanAll: number,             // TorchRay's accuracy: the mean of classAccuracy over all classes
 *   final: boolean,              // the run is over
 * }} p
 * @returns {{ title: string, rows: { name: string, accuracy: number | null, text: string, tip: string }[] }}
 */
export function accuracyView({ label, classes, classAccuracy, instances, meanAll, final }) {
  const C = classes.length;
  const rows = classes.map((name, k) => {
    const n = instances?.[k];
    if (n === 0) {
      return { name, accuracy: null, text: "–", tip: final ? "no instance in this run" : "no instance yet" };
    }
    const a = classAccuracy[k] ?? 0;
    if (n === undefined && a === 0 && !final) {
      return { name, accuracy: null, text: "–", tip: "no hit yet (or no instance yet)" };
    }
    const tip = n === undefined ? pct(a) : `${Math.round(a * n)} of ${n} instances hit`;
    return { name, accuracy: a, text: pct(a, 0), tip };
  });
  const head = `per-class accuracy, ${label}:`;
  if (!instances) {
    return {
      title: final
        ? `${head} ${
          pct(meanAll)
        } mean over all ${C} classes (TorchRay's mean; a class with no instance counts as 0)`
        : `${head} ${
          pct(meanAll)
        } mean over all ${C} classes so far (a class with no instance yet counts as 0)`,
      rows,
    };
  }
  const seen = instances.filter((n) => n > 0).length;
  const meanSeen = seen ? classAccuracy.reduce((s, a, k) => s + (instances[k] > 0 ? a : 0), 0) / seen : 0;
  if (!final) {
    return {
      title: seen
        ? `${head} ${pct(meanSeen)} mean over ${seen} of ${C} classes seen so far`
        : `${head} no instance yet`,
      rows,
    };
  }
  const rest = seen < C
    ? ` (TorchRay's mean, counting the ${C - seen} of ${C} classes with no instance as 0; ${
      pct(meanSeen)
    } over the ${seen} seen)`
    : "";
  return { title: `${head} ${pct(meanAll)} mean over all ${C} classes${rest}`, rows };
}
