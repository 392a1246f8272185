/**
 * The tests' comparison helper (tests/helpers/compare.ts) by hand: the relative error of one map is against its
 * own largest value; a batch is compared entry by entry, so an error in a small map is not hidden under a large
 * map's maximum.
 */
import assert from "node:assert/strict";
import { tf } from "../lib/runtime/tf.ts";
import { relErr } from "./helpers/compare.ts";
import { initBackend } from "../lib/runtime/backend.ts";

await initBackend("cpu");

Deno.test("relErr: one map against its own maximum; a batch entry by entry", () => {
  assert.equal(relErr([1, 2, 4], [1, 2, 5]), 1 / 5);
  // entry 0 peaks at 100 and is exact; entry 1 peaks at 0.01 and is off by half of that
  const want = [100, 0, 0.01, 0];
  const got = [100, 0, 0.005, 0];
  assert.equal(relErr(got, want, 2), 0.5, "arrays with 2 values an entry");
  const a = tf.tensor(got, [2, 2]);
  const b = tf.tensor(want, [2, 2]);
  assert.ok(Math.abs(relErr(a, b) - 0.5) < 1e-6, "a [2, 2] tensor is a batch of 2");
  assert.ok(relErr(got, want) < 1e-4, "as one array the small map's error would hide under 100");
  assert.throws(() => relErr([1, 2, 3], [1, 2, 3], 2), /not entries of 2 values/);
  tf.dispose([a, b]);
});
