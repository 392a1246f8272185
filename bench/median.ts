/**
 * Medians for the benches: of a list of numbers (the upper middle one for an even count), and of the wall
 * time of an async workload run `runs` times after one warm-up run (kernel set-up, first allocations).
 */
export function medianOf(xs: readonly number[]): number {
  return [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
}

export async function medianTime(fn: () => Promise<void>, runs: number): Promise<number> {
  await fn();
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    await fn();
    times.push(performance.now() - t);
  }
  return medianOf(times);
}
