/**
 * tests/helpers/manual_timers.ts, the manual clock the shard-consumer test drives: nothing fires until `advance`;
 * timers then fire in order of due time, an interval as often as it falls due, a cleared one never.
 */
import assert from "node:assert/strict";
import { ManualTimers } from "./helpers/manual_timers.ts";

Deno.test("manual timers fire only when advanced, in order of due time", () => {
  const clock = new ManualTimers();
  const fired: string[] = [];
  clock.setTimeout(() => fired.push("t250"), 250);
  const every = clock.setInterval(() => fired.push("i100"), 100);
  const cleared = clock.setTimeout(() => fired.push("never"), 50);
  clock.clearTimeout(cleared);
  assert.equal(fired.length, 0);
  assert.equal(clock.pending, 2);
  clock.advance(99);
  assert.equal(fired.length, 0);
  clock.advance(1); // t = 100
  assert.deepEqual(fired, ["i100"]);
  clock.advance(200); // t = 300: interval at 200 and 300, the timeout at 250 between them
  assert.deepEqual(fired, ["i100", "i100", "t250", "i100"]);
  clock.clearInterval(every);
  clock.advance(1000);
  assert.equal(fired.length, 4);
  assert.equal(clock.pending, 0);
  // a timer set while the clock is advanced counts from the time it was set
  clock.setTimeout(() => clock.setTimeout(() => fired.push("nested"), 10), 10);
  clock.advance(15);
  assert.equal(fired.length, 4);
  clock.advance(5);
  assert.deepEqual(fired.slice(4), ["nested"]);
});
