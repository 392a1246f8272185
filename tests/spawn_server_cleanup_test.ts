/**
 * tools/spawn_server.ts leaves nothing behind: a server stopped while it generates the synthetic world (its data
 * folder has none, so it starts generating at once) leaves no `synthetic.tmp-*` folder once its `child.status`
 * has resolved, and spawnTestServer's jobs folder is gone with it.
 */
import assert from "node:assert/strict";
import { spawnServer, spawnTestServer } from "../tools/spawn_server.ts";
import { waitFor } from "./helpers/wait_for.ts";

Deno.test({
  name: "a server stopped mid-generation leaves no temporary world folder; a test server no jobs folder",
  sanitizeResources: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "retrace-spawn-" });
    try {
      const server = await spawnServer({
        RETRACE_DATA_DIR: `${dir}/data`,
        RETRACE_JOBS_DIR: `${dir}/jobs`,
        RETRACE_SYNTHETIC_IMAGES: "100000", // far more than it can make before it is stopped
      });
      const generating = await waitFor("the server to start generating its synthetic world", async () => {
        const names = await Array.fromAsync(Deno.readDir(`${dir}/data`)).catch(() => []);
        return names.find((e) => /^synthetic\.tmp-\d+-[0-9a-f]{8}$/.test(e.name))?.name;
      });
      assert.ok(generating.includes(`-${server.child.pid}-`), `${generating} is named after the server`);
      server.child.kill("SIGTERM");
      await server.child.status;
      const left = (await Array.fromAsync(Deno.readDir(`${dir}/data`))).map((e) => e.name);
      assert.deepEqual(left, [], "nothing is left in the data folder");

      const test = await spawnTestServer();
      assert.ok((await Deno.stat(test.jobsDir)).isDirectory);
      test.child.kill("SIGTERM");
      await test.child.status;
      assert.equal(await Deno.stat(test.jobsDir).then(() => "still there", () => "gone"), "gone");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "a test server keeps answering past 64 KiB of access log (its stdout is drained)",
  sanitizeResources: false,
  async fn() {
    const { base, child } = await spawnTestServer({ RETRACE_SYNTHETIC_IMAGES: "1" });
    try {
      // ~150 bytes of log a request: 900 of them fill a pipe nobody reads (64 KiB) twice over.
      for (let i = 0; i < 900; i++) {
        const res = await fetch(`${base}/healthz`, { signal: AbortSignal.timeout(60_000) });
        assert.equal(res.status, 200, `request ${i}`);
        await res.body?.cancel();
      }
    } finally {
      child.kill("SIGTERM");
      await child.status;
    }
  },
});
