/**
 * Quadrature rules on [0, 1] for path integrals (Integrated Gradients), with Captum's names and step placement
 * (captum/attr/_utils/approximation_methods.py): Riemann left (α = k/n), right ((k+1)/n), middle ((k+½)/n),
 * each weighted 1/n; trapezoid (α = k/(n−1), weights ½, 1, …, 1, ½ over n−1); Gauss-Legendre (the n nodes and
 * weights of numpy.polynomial.legendre.leggauss mapped from [−1, 1]: α = (t+1)/2, w/2). Gauss-Legendre nodes are
 * the roots of P_n found by Newton's method from Chebyshev guesses, in float64.
 */
export const QUADRATURES = [
  "riemann-left",
  "riemann-right",
  "riemann-middle",
  "riemann-trapezoid",
  "gauss-legendre",
] as const;
export type Quadrature = typeof QUADRATURES[number];

export interface Nodes {
  alphas: number[];
  weights: number[];
}

/** P_n(t) and P_n'(t) by the three-term recurrence. */
function legendre(n: number, t: number): [number, number] {
  let [p0, p1] = [1, t];
  for (let k = 2; k <= n; k++) [p0, p1] = [p1, ((2 * k - 1) * t * p1 - (k - 1) * p0) / k];
  const p = n === 0 ? 1 : p1;
  const dp = n === 0 ? 0 : (n * (t * p1 - p0)) / (t * t - 1);
  return [p, dp];
}

function gaussLegendre(n: number): Nodes {
  const alphas: number[] = [];
  const weights: number[] = [];
  for (let i = 0; i < n; i++) {
    let t = Math.cos(Math.PI * (i + 0.75) / (n + 0.5));
    for (let it = 0; it < 100; it++) {
      const [p, dp] = legendre(n, t);
      const step = p / dp;
      t -= step;
      if (Math.abs(step) < 1e-16) break;
    }
    const [, dp] = legendre(n, t);
    alphas.push((t + 1) / 2);
    weights.push(1 / ((1 - t * t) * dp * dp)); // 2 / ((1 − t²) P'(t)²), halved for [0, 1]
  }
  const order = alphas.map((_, i) => i).sort((a, b) => alphas[a] - alphas[b]);
  return { alphas: order.map((i) => alphas[i]), weights: order.map((i) => weights[i]) };
}

/** n points and weights on [0, 1]; n >= 1 (trapezoid: n >= 2). */
export function quadrature(kind: Quadrature, n: number): Nodes {
  if (!Number.isInteger(n) || n < 1 || (kind === "riemann-trapezoid" && n < 2)) {
    throw new RangeError(
      `${kind} needs an integer step count >= ${kind === "riemann-trapezoid" ? 2 : 1}, got ${n}`,
    );
  }
  const k = Array.from({ length: n }, (_, i) => i);
  switch (kind) {
    case "riemann-left":
      return { alphas: k.map((i) => i / n), weights: k.map(() => 1 / n) };
    case "riemann-right":
      return { alphas: k.map((i) => (i + 1) / n), weights: k.map(() => 1 / n) };
    case "riemann-middle":
      return { alphas: k.map((i) => (i + 0.5) / n), weights: k.map(() => 1 / n) };
    case "riemann-trapezoid":
      return {
        alphas: k.map((i) => i / (n - 1)),
        weights: k.map((i) => (i === 0 || i === n - 1 ? 0.5 : 1) / (n - 1)),
      };
    case "gauss-legendre":
      return gaussLegendre(n);
  }
}
