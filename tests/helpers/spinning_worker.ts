/**
 * A stand-in explainer module for pool tests (served by workers/process_host.ts): `spin` never returns and never yields, as an uninterruptible
 * computation does; only ending its process stops it.
 */
export const api = {
  init(_backend: string): string {
    return "none";
  },
  tensors(): number {
    return 0;
  },
  /** Computes forever without yielding. */
  spin(): never {
    let x = 0;
    for (;;) x = (x * 1103515245 + 12345) | 0;
  },
};

export type SpinningApi = typeof api;
