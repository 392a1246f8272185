/**
 * Gate for the synthetic-world tests. The generator draws with @napi-rs/canvas, a Node-API addon, which Deno
 * loads only with --allow-ffi, --allow-sys, --allow-env and --allow-read (`deno test -A` grants them). Without
 * them these tests are registered as ignored (their names say why) instead of failing at import time, so the
 * canvas-dependent modules are imported lazily, through `kit()`.
 */

const NEEDED = ["ffi", "sys", "env", "read", "write"] as const;

/** Whether this process may load the canvas addon and write the temporary world. */
export const CANVAS_PERMITTED = NEEDED.every((name) =>
  Deno.permissions.querySync({ name }).state === "granted"
);

/** Deno.test, ignored (with the reason in its name) when the canvas addon cannot be loaded. */
export function syntheticTest(name: string, fn: (t: Deno.TestContext) => Promise<void> | void): void {
  Deno.test({
    name: CANVAS_PERMITTED
      ? name
      : `${name} [ignored: needs --allow-ffi --allow-sys --allow-env --allow-read]`,
    ignore: !CANVAS_PERMITTED,
    // the addon keeps native resources alive between tests of a file
    sanitizeResources: false,
    fn,
  });
}

/** The generator and the canvas-based test helpers (imported on first use). */
export function kit(): Promise<typeof import("./synthetic_kit.ts")> {
  return import("./synthetic_kit.ts");
}
