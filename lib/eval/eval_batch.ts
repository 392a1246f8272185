/**
 * How many images an evaluation explains per pass (lib/eval/pointing_run.ts `batch`): RETRACE_EVAL_BATCH, an
 * integer 1..64 or "auto" (the default), which picks per backend what bench/eval_batch_bench.ts measured best:
 * on webgpu a batch keeps the GPU busy between dispatches and shares each read's >= 10 ms wait; on wasm and cpu
 * the kernels already use every core at batch 1 and a batch only adds memory.
 */
export const EVAL_BATCH_MAX = 64;

/** The auto choice per backend. */
export const AUTO_EVAL_BATCH: Readonly<Record<string, number>> = { webgpu: 8, wasm: 1, cpu: 1 };

export class EvalBatchError extends RangeError {
  override name = "EvalBatchError";
}

export function evalBatchSize(
  backend: string,
  setting = Deno.env.get("RETRACE_EVAL_BATCH") ?? "auto",
): number {
  if (setting === "auto" || setting === "") return AUTO_EVAL_BATCH[backend] ?? 1;
  const n = Number(setting);
  if (!/^\d+$/.test(setting) || n < 1 || n > EVAL_BATCH_MAX) {
    throw new EvalBatchError(
      `RETRACE_EVAL_BATCH must be "auto" or an integer 1..${EVAL_BATCH_MAX}, got ${JSON.stringify(setting)}`,
    );
  }
  return n;
}
