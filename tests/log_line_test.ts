/**
 * The service's log lines (lib/runtime/log_line.ts): one JSON object with an ISO 8601 UTC time within the
 * call, the level, the message and the extra fields; the time parses back to the clock's reading.
 */
import assert from "node:assert/strict";
import { logLine } from "../lib/runtime/log_line.ts";

Deno.test("a log line: time, level, message, fields", () => {
  const before = Date.now();
  const line = JSON.parse(logLine("warn", "shard 0 of job x: retrying", { host: "a" }));
  const after = Date.now();
  assert.deepEqual(Object.keys(line), ["time", "level", "message", "host"]);
  assert.match(line.time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  const t = Date.parse(line.time);
  assert.ok(t >= before && t <= after, `${line.time} within the call`);
  assert.deepEqual([line.level, line.message, line.host], ["warn", "shard 0 of job x: retrying", "a"]);
});
