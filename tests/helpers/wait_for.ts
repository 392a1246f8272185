/**
 * Waiting on an event in tests: poll a probe until it yields a value. The limit only catches a hang (it is far
 * beyond what any load makes an event take, default 120 s); when it is reached the test fails saying what it
 * waited for and the last state seen, never because the machine was busy.
 */

/** The safety limit of every wait in the Redis tests. */
export const SAFETY_LIMIT_MS = 120_000;

export interface WaitOptions {
  limitMs?: number;
  /** Pause between probes. */
  everyMs?: number;
  /** Said on failure after "waited for …": the last state seen, e.g. a job's status. */
  state?: () => string | Promise<string>;
}

/** Resolves with the first value of `probe` that is not undefined, null or false. */
export async function waitFor<T>(
  what: string,
  probe: () => T | undefined | null | false | Promise<T | undefined | null | false>,
  { limitMs = SAFETY_LIMIT_MS, everyMs = 20, state }: WaitOptions = {},
): Promise<T> {
  const end = Date.now() + limitMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== null && value !== false) return value;
    if (Date.now() >= end) {
      const seen = state ? `; last seen: ${await state()}` : "";
      throw new Error(`waited ${limitMs / 1000} s for ${what} (a safety limit: something hangs)${seen}`);
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** `p`, or a failure saying what it waited for after `limitMs` (a promise that may never settle, e.g. a stream). */
export function settledWithin<T>(what: string, p: Promise<T>, limitMs = SAFETY_LIMIT_MS): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const limit = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`waited ${limitMs / 1000} s for ${what} (a safety limit: something hangs)`)),
      limitMs,
    );
  });
  return Promise.race([p, limit]).finally(() => clearTimeout(timer));
}
