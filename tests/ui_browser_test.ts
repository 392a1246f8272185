/**
 * The web page in a real browser (playwright-core driving Debian's chromium; .ci/run installs it): the page loads
 * the models and methods, an uploaded image is explained with two methods into overlay canvases, and a pointing
 * run started from the page shows live progress until it is done. Ignored, with the reason in its name, where
 * /usr/bin/chromium is missing.
 */
import assert from "node:assert/strict";
import { CANVAS_PERMITTED, kit } from "./helpers/synthetic_gate.ts";
import { spawnServer as startServer } from "../tools/spawn_server.ts";

const FLOW = new URL("./helpers/ui_flow.ts", import.meta.url).pathname;
const CHROMIUM = "/usr/bin/chromium";
const HAVE_CHROMIUM = (() => {
  try {
    return Deno.statSync(CHROMIUM).isFile;
  } catch {
    return false;
  }
})();

Deno.test({
  name: HAVE_CHROMIUM
    ? "web page: explain an upload, watch a pointing run"
    : "web page [ignored: no /usr/bin/chromium]",
  ignore: !HAVE_CHROMIUM || !CANVAS_PERMITTED,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const dir = await Deno.makeTempDir();
    const { generateWorld } = await kit();
    await generateWorld({ out: `${dir}/data/synthetic`, seed: 0, counts: { train: 0, val: 0, test: 4 } });
    const { base, child } = await startServer({
      RETRACE_DATA_DIR: `${dir}/data`,
      RETRACE_JOBS_DIR: `${dir}/jobs`,
    });
    try {
      // playwright-core reads /proc paths that Deno grants only under --allow-all, so it runs in its own process.
      const flow = await new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", FLOW, base, `${dir}/data/synthetic/VOCdevkit/VOC2007/JPEGImages/300001.jpg`],
        stdout: "piped",
        stderr: "piped",
      }).output();
      const stderr = new TextDecoder().decode(flow.stderr);
      assert.equal(flow.code, 0, stderr);
      const seen = JSON.parse(new TextDecoder().decode(flow.stdout).trim().split("\n").at(-1)!);
      assert.equal(seen.model, "resnet50_synthetic");
      assert.equal(seen.canvases, 4);
      assert.equal(seen.error, "");
      assert.match(seen.firstCaption, /grad-cam · layer3 · /);
      assert.match(seen.evalText, /^3\/3 images.* done/);
      assert.equal(seen.bars, 12, "one accuracy bar per class");
      assert.match(seen.barsTitle, /^per-class accuracy, gradient@\S+ \(\d+\.\d% mean\)$/);
      assert.deepEqual(seen.pageErrors, []);
    } finally {
      child.kill("SIGTERM");
      await child.status;
      await Deno.remove(dir, { recursive: true });
    }
  },
});
