/** Test helper: runs `fn`, asserts it throws an instance of `type`, and returns the error for inspection. */
import assert from "node:assert/strict";

// deno-lint-ignore no-explicit-any
export function thrown<E extends Error>(fn: () => unknown, type: new (...args: any[]) => E): E {
  try {
    fn();
  } catch (e) {
    assert.ok(
      e instanceof type,
      `expected ${type.name}, got ${(e as Error)?.name}: ${(e as Error)?.message}`,
    );
    return e;
  }
  assert.fail(`expected ${type.name}, but nothing was thrown`);
}
