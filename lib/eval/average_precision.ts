/**
 * Multi-label ranking metrics: non-interpolated average precision per class (the mean of the precision at the
 * rank of each positive, as sklearn's average_precision_score and tools/train_classifier.py compute it; stable
 * order for tied scores) and their mean over the classes that have positives.
 */

/** AP of one class: scores and 0/1 labels of the same length; NaN when there is no positive. */
export function averagePrecision(scores: ArrayLike<number>, labels: ArrayLike<number>): number {
  const order = Array.from({ length: scores.length }, (_, i) => i).sort((a, b) =>
    scores[b] - scores[a] || a - b
  );
  let hits = 0;
  let sum = 0;
  order.forEach((i, rank) => {
    if (labels[i] > 0) {
      hits++;
      sum += hits / (rank + 1);
    }
  });
  return hits ? sum / hits : NaN;
}

/** mAP over classes: scores and labels are row-major [N, K]. Classes without positives are left out. */
export function meanAveragePrecision(
  scores: ArrayLike<number>,
  labels: ArrayLike<number>,
  k: number,
): number {
  const n = scores.length / k;
  const aps: number[] = [];
  for (let c = 0; c < k; c++) {
    const s = Array.from({ length: n }, (_, i) => scores[i * k + c]);
    const l = Array.from({ length: n }, (_, i) => labels[i * k + c]);
    const ap = averagePrecision(s, l);
    if (!Number.isNaN(ap)) aps.push(ap);
  }
  return aps.reduce((a, b) => a + b, 0) / aps.length;
}
