/**
 * The service process: `main.ts` starts on a free port, answers GET /healthz (version, backend, adapter, why),
 * answers unknown routes with the JSON error shape, and refuses bad configuration with a clear message.
 */
import assert from "node:assert/strict";
import { VERSION } from "../lib/version.ts";
import { SERVICE_PERMISSIONS, spawnTestServer } from "../tools/spawn_server.ts";

const start = spawnTestServer;

Deno.test("GET /healthz reports version, backend and why; unknown routes get JSON 404s", async () => {
  const { base, child } = await start({ RETRACE_BACKEND: "wasm" });
  try {
    assert.match(base, /^http:\/\/127\.0\.0\.1:\d+$/);
    const res = await fetch(`${base}/healthz`);
    assert.equal(res.status, 200);
    const body = await res.json();
    assert.equal(body.status, "ok");
    assert.equal(body.version, VERSION);
    assert.equal(body.backend, "wasm");
    assert.equal(body.reason, "RETRACE_BACKEND=wasm");
    assert.ok("adapter" in body);
    // the in-process evaluation queue: nothing queued or running on a fresh server
    assert.deepEqual(body.queue, { kind: "local", queued: 0, running: 0, maxConcurrent: 1 });
    const missing = await fetch(`${base}/nope`);
    assert.equal(missing.status, 404);
    const err = await missing.json();
    assert.equal(err.error.code, "not_found");
    assert.match(err.error.message, /GET \/nope/);
  } finally {
    child.kill("SIGTERM");
    await child.status;
  }
});

Deno.test("auto picks wasm on a machine without a hardware GPU adapter, and says why", async () => {
  const { base, child } = await start({ RETRACE_BACKEND: "auto" });
  try {
    const body = await (await fetch(`${base}/healthz`)).json();
    if (body.adapter && !body.adapter.software) {
      assert.equal(body.backend, "webgpu");
    } else {
      assert.equal(body.backend, "wasm");
      assert.match(body.reason, /^auto: /);
    }
  } finally {
    child.kill("SIGTERM");
    await child.status;
  }
});

Deno.test("bad configuration exits with a message naming the variable and the valid values", async () => {
  for (
    const [env, pattern] of [
      [{ PORT: "http" }, /PORT must be an integer/],
      [{ RETRACE_BACKEND: "gpu" }, /auto, webgpu, wasm, cpu/],
      [
        { RETRACE_REDIS_URL: "localhost:6379" },
        /RETRACE_REDIS_URL must be redis:\/\/\[user:password@\]host:port/,
      ],
      [{ RETRACE_SHARD_IMAGES: "0" }, /RETRACE_SHARD_IMAGES must be an integer in 1\.\.1000000/],
    ] as const
  ) {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", ...SERVICE_PERMISSIONS, new URL("../main.ts", import.meta.url).pathname],
      env: { ...env, NO_COLOR: "1" },
    }).output();
    assert.equal(out.code, 1);
    assert.match(new TextDecoder().decode(out.stderr), pattern);
  }
});
