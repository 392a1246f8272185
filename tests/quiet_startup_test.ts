/**
 * First contact: the server as `deno task start` runs it (the command of deno.json's "start" task, with the
 * environment of a headless host: no XDG_RUNTIME_DIR, backend auto, so the WebGPU adapter is probed) starts,
 * explains one sample image, and shuts down without writing a line to stderr (no error or warning when nothing
 * is wrong, Deno's own notices included).
 */
import assert from "node:assert/strict";
import { CANVAS_PERMITTED, kit } from "./helpers/synthetic_gate.ts";

const ROOT = new URL("..", import.meta.url).pathname;

/** deno.json's "start" task as an argument list for Deno.execPath(). */
async function startTask(): Promise<string[]> {
  const config = JSON.parse(await Deno.readTextFile(`${ROOT}/deno.json`));
  const words = String(config.tasks.start).trim().split(/\s+/);
  assert.equal(words[0], "deno", `the start task should run deno: ${config.tasks.start}`);
  return words.slice(1);
}

Deno.test({
  name: CANVAS_PERMITTED
    ? "deno task start on a headless host: nothing on stderr when nothing is wrong"
    : "quiet startup [ignored: needs -A for the synthetic world]",
  ignore: !CANVAS_PERMITTED,
  sanitizeResources: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "retrace-quiet-" });
    const { generateWorld } = await kit();
    await generateWorld({ out: `${dir}/data/synthetic`, seed: 0, counts: { train: 0, val: 0, test: 2 } });
    const env = Deno.env.toObject();
    delete env.XDG_RUNTIME_DIR;
    delete env.RETRACE_BACKEND;
    const child = new Deno.Command(Deno.execPath(), {
      args: await startTask(),
      cwd: ROOT,
      clearEnv: true,
      env: {
        ...env,
        PORT: "0",
        HOST: "127.0.0.1",
        RETRACE_WORKERS: "1",
        RETRACE_DATA_DIR: `${dir}/data`,
        RETRACE_JOBS_DIR: `${dir}/jobs`,
        NO_COLOR: "1",
      },
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const stderr = new Response(child.stderr).text();
    let stopped = false;
    const stop = async () => {
      if (stopped) return;
      stopped = true;
      child.kill("SIGTERM");
      await child.status;
    };
    try {
      const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
      let text = "";
      let base = "";
      while (!base) {
        const { value, done } = await lines.read();
        if (done) throw new Error(`the server exited before its "listening" line; stdout: ${text}`);
        text += value;
        const line = text.split("\n").find((l) => l.includes('"listening"'));
        if (line) base = JSON.parse(line).listening;
      }
      lines.releaseLock();
      child.stdout.cancel().catch(() => {});
      const samples = await (await fetch(`${base}/v1/samples`)).json();
      assert.ok(samples.samples.length > 0, "the generated world offers samples");
      const image = new Uint8Array(await (await fetch(`${base}${samples.samples[0].url}`)).arrayBuffer());
      const res = await fetch(`${base}/v1/saliency`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({
          image: btoa(String.fromCharCode(...image)),
          model: "resnet50_synthetic",
          method: "grad-cam",
          layers: ["layer4"],
        }),
      });
      const body = await res.text();
      assert.equal(res.status, 200, body);
      await stop();
      // nothing went wrong, so nothing is said on stderr (Deno's own notices included)
      assert.deepEqual((await stderr).split("\n").filter((l) => l.trim()), [], "lines on stderr");
    } finally {
      await stop();
      await stderr.catch(() => "");
      await Deno.remove(dir, { recursive: true });
    }
  },
});
