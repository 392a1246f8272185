/**
 * The web page in a real browser (playwright-core driving Debian's chromium; .ci/run installs it): the page loads
 * the models and methods, an uploaded image is explained with two methods into overlay canvases, and a pointing
 * run started from the page shows live progress until it is done. Ignored, with the reason in its name, where
 * /usr/bin/chromium is missing.
 */
import assert from "node:assert/strict";
import { CANVAS_PERMITTED, kit } from "./helpers/synthetic_gate.ts";

const MAIN = new URL("../main.ts", import.meta.url).pathname;
const CHROMIUM = "/usr/bin/chromium";
const HAVE_CHROMIUM = (() => {
  try {
    return Deno.statSync(CHROMIUM).isFile;
  } catch {
    return false;
  }
})();

async function startServer(env: Record<string, string>): Promise<{ base: string; child: Deno.ChildProcess }> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN],
    env: { PORT: "0", RETRACE_BACKEND: "wasm", RETRACE_WORKERS: "1", NO_COLOR: "1", ...env },
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`server exited: ${text}`);
    text += value;
    const line = text.split("\n").find((l) => l.includes('"listening"'));
    if (line) {
      reader.releaseLock();
      child.stdout.cancel().catch(() => {});
      return { base: JSON.parse(line).listening, child };
    }
  }
}

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
    const { chromium } = await import("playwright-core");
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
    try {
      const page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
      const errors: string[] = [];
      page.on("pageerror", (e) => errors.push(e.message));
      await page.goto(base);
      await page.waitForSelector("#model option", { state: "attached" });
      assert.equal(await page.locator("#model").inputValue(), "resnet50_synthetic");
      await page.waitForSelector("#samples img");
      await page.setInputFiles("#file", `${dir}/data/synthetic/VOCdevkit/VOC2007/JPEGImages/300001.jpg`);
      await page.waitForSelector("#preview[src^='data:']", { state: "attached" });
      await page.selectOption("#layers", ["layer3", "layer4"]);
      await page.click("#go");
      await page.waitForFunction(() => document.querySelectorAll("#maps canvas").length === 4, null, {
        timeout: 60_000,
      });
      assert.equal(await page.locator("#err").textContent(), "");
      assert.match(
        await page.locator("#maps figcaption").first().textContent() ?? "",
        /grad-cam · layer3 · /,
      );
      await page.fill("#evalLimit", "3");
      await page.click("#evalGo");
      await page.waitForFunction(
        () => document.querySelector("#evalText")?.textContent?.includes("done"),
        null,
        {
          timeout: 120_000,
        },
      );
      assert.match(await page.locator("#evalText").textContent() ?? "", /^3\/3 images/);
      assert.ok((await page.locator("#bars div").count()) >= 5);
      assert.deepEqual(errors, []);
    } finally {
      await browser.close();
      child.kill("SIGTERM");
      await child.status;
      await Deno.remove(dir, { recursive: true });
    }
  },
});
