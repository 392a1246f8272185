/**
 * Takes docs/ui.png for the README: starts the service (wasm, shipped models, the synthetic world in data/),
 * explains the first sample image with Grad-CAM and selective NormGrad at layer3 and layer4 in Debian's chromium
 * (playwright-core), and saves a screenshot of the page.
 *   deno run -A tools/screenshot.ts [out.png]
 */
import { chromium } from "playwright-core";

const out = Deno.args[0] ?? "docs/ui.png";
const child = new Deno.Command(Deno.execPath(), {
  args: ["run", "-A", "main.ts"],
  env: { PORT: "0", RETRACE_BACKEND: "wasm", RETRACE_WORKERS: "1", NO_COLOR: "1" },
  stdout: "piped",
  stderr: "null",
}).spawn();
const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
let text = "";
let base = "";
while (!base) {
  const { value, done } = await reader.read();
  if (done) throw new Error(`server exited: ${text}`);
  text += value;
  const line = text.split("\n").find((l) => l.includes('"listening"'));
  if (line) base = JSON.parse(line).listening;
}
const browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: ["--no-sandbox"] });
try {
  const page = await browser.newPage({ viewport: { width: 1360, height: 1100 } });
  await page.goto(base);
  await page.waitForSelector("#samples img");
  await page.locator("#samples img").nth(5).click();
  await page.waitForSelector("#preview[src^='data:']", { state: "attached" });
  await page.selectOption("#layers", ["layer3", "layer4"]);
  await page.click("#go");
  await page.waitForFunction(() => document.querySelectorAll("#maps canvas").length === 4, null, {
    timeout: 120_000,
  });
  await Deno.mkdir(out.replace(/\/[^/]*$/, ""), { recursive: true });
  await page.screenshot({ path: out, fullPage: true });
  console.log(`wrote ${out}`);
} finally {
  await browser.close();
  child.kill("SIGTERM");
  await child.status;
}
