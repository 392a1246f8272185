/**
 * Takes docs/ui.png for the README: starts the service (wasm, shipped models, the synthetic world in data/),
 * explains a sample image with Grad-CAM and selective NormGrad at layer3 and layer4, captions it and shows the
 * fourth word's map, runs a 20-image pointing game, in Debian's chromium (playwright-core), and saves a
 * screenshot of the page.
 *   deno run -A tools/screenshot.ts [out.png]
 */
import { chromium } from "playwright-core";
import { spawnServer } from "./spawn_server.ts";

const out = Deno.args[0] ?? "docs/ui.png";
const { base, child } = await spawnServer();
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
  await page.click("#capGo");
  await page.waitForFunction(() => document.querySelectorAll("#capMaps canvas").length === 4, null, {
    timeout: 120_000,
  });
  await page.locator("#words span").nth(3).click();
  // a short pointing run: the accuracy panel with its title and per-class rows
  await page.fill("#evalLimit", "20");
  await page.click("#evalGo");
  await page.waitForFunction(() => document.querySelector("#evalText")?.textContent?.includes("done"), null, {
    timeout: 300_000,
  });
  await Deno.mkdir(out.replace(/\/[^/]*$/, ""), { recursive: true });
  await page.screenshot({ path: out, fullPage: true });
  console.log(`wrote ${out}`);
} finally {
  await browser.close();
  child.kill("SIGTERM");
  await child.status;
}
